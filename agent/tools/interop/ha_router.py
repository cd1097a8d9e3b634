"""One HA router under neutron-server: ``ha: true`` on the router (Neutron makes the
project's HA network and an HA port for the only L3 agent, ours), an interface on a
network of its own, the gateway on ``public``, a "VM" with a floating IP; checked
like the legacy router (SNAT, floating IP from the outside) plus keepalived's
primary in the router namespace and ``ha_state`` active in Neutron's API.

REST, not the CLI, for everything but what is checked: an ``openstack`` call costs
3 to 10 s on a loaded machine, and this step should add little to the job.
"""

from __future__ import annotations

import time
import uuid

from agent.common import procfs
from agent.tools.aio import checks, host
from agent.tools.interop import observe, scenario

HA_CIDR = '192.168.60.0/24'
HA_GATEWAY = '192.168.60.1'
NAME = 'ha-router'
TIMING = 'HA router: gateway set -> primary with the VIPs'


def keepalived_pids(phase, router_id: str) -> list[int]:
    """The router's keepalived processes (its files are under our state path)."""
    found = procfs.pids_with([f'{phase.state_path}/'])
    return sorted(pid for pid, cmd in found.items()
                  if cmd.split()[0].endswith('keepalived') and router_id in cmd)


def _addresses(router_id: str) -> str:
    return host.in_ns(f'qrouter-{router_id}', 'ip', '-o', '-4', 'addr', 'show',
                      log=False).stdout


def build(phase) -> dict:
    """The HA router with its network, gateway and a VM (DHCP lease taken); returns
    the ids and the VM's port (as checks.* take it)."""
    s, client, record = phase.s, phase.client, phase.record
    net = client.request('POST', '/networks', {'network': {'name': 'ha-net'}})['network']
    record.add('networks', net['id'])
    sub = client.request('POST', '/subnets', {'subnet': {
        'name': 'ha-net-subnet', 'network_id': net['id'], 'ip_version': 4,
        'cidr': HA_CIDR, 'gateway_ip': HA_GATEWAY}})['subnet']
    router = client.request('POST', '/routers', {'router': {'name': NAME,
                                                            'ha': True}})['router']
    record.add('routers', router['id'])
    if router.get('ha') is not True:
        raise host.StepFailed(f'router {router["id"]}: created with ha: true, Neutron '
                              f'says ha: {router.get("ha")!r}')
    client.request('PUT', f'/routers/{router["id"]}/add_router_interface',
                   {'subnet_id': sub['id']})
    start = time.monotonic()
    client.request('PUT', f'/routers/{router["id"]}', {'router': {
        'external_gateway_info': {'network_id': phase.ids['public']}}})
    gateway = checks.router_gateway_ip(client, router['id'])
    phase.timed(TIMING, lambda: (lambda have: all(f' {a}/' in have for a in (
        gateway, HA_GATEWAY)))(_addresses(router['id'])), 'the HA router\'s VIPs', start)
    port = client.request('POST', '/ports', {'port': {
        'name': 'vm3', 'network_id': net['id'], 'device_id': str(uuid.uuid4()),
        'device_owner': 'compute:nova', 'binding:host_id': s.host}})['port']
    record.add('ports', port['id'])
    vm = scenario.plug_vm(s, record, 'vm3', port)
    phase.wait(lambda: observe.port_bound(vm['device']), 'the OVS agent binding vm3')
    phase.wait(phase.served(net['id']), 'dnsmasq on ha-net')
    checks.dhcp(phase.aio, vm)
    return {'router': router['id'], 'gateway': gateway, 'vm': vm}


def primary(phase, made: dict) -> str:
    rid = made['router']
    pids = keepalived_pids(phase, rid)
    if not pids:
        raise host.StepFailed(f'no keepalived of router {rid} under {phase.state_path}')
    addresses = _addresses(rid)
    ha = [line.split()[1] for line in addresses.splitlines()
          if line.split()[1].startswith('ha-')]
    missing = [a for a in (made['gateway'], HA_GATEWAY) if f' {a}/' not in addresses]
    if not ha or missing:
        raise host.StepFailed(f'qrouter-{rid}: ha- device {ha or "missing"}, VIPs missing: '
                              f'{missing}')
    return (f'keepalived pids {pids}, {ha[0]}, VIPs {made["gateway"]} and {HA_GATEWAY} '
            f'in qrouter-{rid}')


def ha_state_active(phase, made: dict) -> str:
    rid = made['router']
    seen: list = []

    def active():
        agents = phase.client.request('GET', f'/routers/{rid}/l3-agents')['agents']
        seen[:] = [(a['host'], a.get('ha_state')) for a in agents]
        return len(agents) == 1 and agents[0].get('ha_state') == 'active'
    try:
        host.wait_for(active, 60, 0.5, 'ha_state active')
    except host.StepFailed:
        raise host.StepFailed(f'router {rid}: l3-agents says {seen}, expected the one '
                              'agent active') from None
    return f'GET /v2.0/routers/{rid}/l3-agents: {seen}'


def floating_ip(phase, made: dict) -> str:
    vm = made['vm']
    fip = phase.client.request('POST', '/floatingips', {'floatingip': {
        'floating_network_id': phase.ids['public'], 'port_id': vm['id']}})['floatingip']
    return checks.floating_ip(phase.aio, vm, fip)


def run(phase) -> None:
    """The HA router's steps and checks, in the console's PASS/FAIL list."""
    c = phase.console
    made = {}
    with c.step('HA router (ha: true), its network, gateway and VM vm3') as notes:
        made.update(build(phase))
        notes.append(f'router {made["router"]}: VIPs up '
                     f'{phase.timings[TIMING]:.2f} s after the gateway was set')
    c.check('HA router: keepalived primary holds the VIPs', primary, phase, made)
    c.check('HA router: ha_state active in Neutron\'s API', ha_state_active, phase, made)
    echo = checks.start_echo(phase.aio)
    try:
        c.check('HA router: SNAT from vm3 to the outside namespace', checks.snat,
                phase.aio, phase.client, made['vm'], made['router'])
        c.check('HA router: floating IP of vm3 from the outside namespace', floating_ip,
                phase, made)
    finally:
        checks.stop_echo(echo)
