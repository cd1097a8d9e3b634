"""One set of DHCP/L3/metadata agents under the run's neutron-server: start them,
build the reference scenario with the CLI, time what the agents do, check it from
the "VMs" and the outside, measure their memory, and take it all down again."""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from typing import TYPE_CHECKING

from agent.cli import client as api
from agent.tools.aio import checks, host
from agent.tools.aio import scenario as aio_scenario
from agent.tools.interop import observe, scenario, services
from agent.tools.interop.scenario import Cli
from agent.tools.interop.settings import Settings

if TYPE_CHECKING:
    from agent.tools.interop.endure import Endurance

TIMEOUT = 90.0
AGENT_TYPES = {'dhcp': 'DHCP agent', 'l3': 'L3 agent', 'metadata': 'Metadata agent'}
TIMING_NAMES = ('subnet -> dnsmasq serving', 'interface -> qr- up',
                'gateway -> SNAT ready', 'floating IP -> reachable',
                'DHCP agent restart -> a new network served')


def utcnow() -> datetime.datetime:
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=0)


def _started(agent: dict) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(agent.get('started_at') or '', '%Y-%m-%d %H:%M:%S')
    except ValueError:
        return None


class Phase:
    """``who`` is 'netnode' or 'neutron': whose DHCP, L3 and metadata agents."""

    def __init__(self, s: Settings, record: host.Record, aio, who: str):
        self.s, self.record, self.aio, self.who = s, record, aio, who
        self.agents = services.NETNODE_AGENTS if who == 'netnode' else services.NEUTRON_AGENTS
        self.client = api.Client(s.api_url, timeout=60)
        self.cli = Cli(s)
        self.console = host.CONSOLE
        self.timings: dict[str, float] = {}
        self.rss: dict[str, tuple[int, int]] = {}
        self.suffix = '' if who == 'netnode' else '-neutron'
        self.ids: dict = {}
        self.endurance: Endurance | None = None    # set by an endurance run

    @property
    def state_path(self) -> str:
        return self.s.state_path(self.who)

    def agent(self, kind: str) -> str:
        return f'{self.who}-{kind}-agent'

    # -- agents -------------------------------------------------------------------------

    def wait_alive(self, kinds, since) -> None:
        def alive():
            for kind in kinds:
                problem = services.exited(self.s, self.record, self.agent(kind))
                if problem:
                    raise host.StepFailed(problem)
            found = {a['agent_type'] for a in self.client.list('agents', host=self.s.host)
                     if a.get('alive') and (_started(a) or since) >= since}
            return {AGENT_TYPES[k] for k in kinds} <= found
        host.wait_for(alive, TIMEOUT, 0.3, f'{", ".join(kinds)} agent(s) alive')

    def start_agents(self) -> None:
        since = utcnow()
        for name in self.agents:
            services.start_agent(self.s, self.record, name)
        self.wait_alive(AGENT_TYPES, since)

    def restart(self, kind: str, while_down=None) -> float:
        """Stop and start one agent; the seconds from its start to ``while_down``'s
        returned predicate holding (0 when none)."""
        services.stop(self.record, [self.agent(kind)], grace=30)
        waiter = while_down() if while_down else None
        since = utcnow()
        started = time.monotonic()
        services.start_agent(self.s, self.record, self.agent(kind))
        took = 0.0
        if waiter:
            self.wait(waiter, f'{self.agent(kind)} serving after restart')
            took = time.monotonic() - started
        self.wait_alive([kind], since)
        return took

    def stop_agents(self) -> None:
        services.stop(self.record, self.agents, grace=30)

    # -- timed steps ----------------------------------------------------------------------

    def wait(self, predicate, what: str, interval: float = 0.05):
        """host.wait_for, and on a timeout the ports Neutron's OVS agent skipped for
        want of an ofport (it retries them only on a port update from the server or a
        full resync: a later OVSDB change of the port does not retrigger it)."""
        try:
            return host.wait_for(predicate, TIMEOUT, interval, what)
        except host.StepFailed as exc:
            path = os.path.join(self.s.log_dir, 'neutron-openvswitch-agent.log')
            with open(path, errors='replace') as f:
                skipped = sorted(set(re.findall(r'VIF port: (\S+) has no valid ofport',
                                                f.read())))
            if skipped:
                raise host.StepFailed(f'{exc}; neutron-openvswitch-agent skipped port(s) '
                                      f'{", ".join(skipped)} ("has no valid ofport") and '
                                      'never bound them') from None
            raise

    def timed(self, name: str, predicate, what: str, start: float) -> float:
        self.wait(predicate, what)
        self.timings[name] = time.monotonic() - start
        return self.timings[name]

    def rest(self, cli_line: str, method: str, path: str, body: dict):
        """A timed step: sent over REST (the CLI's start-up would be measured
        otherwise), listed with the CLI commands as the command it stands for."""
        self.cli.commands.append(f'{cli_line}   # sent over REST, timed')
        return time.monotonic(), self.client.request(method, path, body)

    def network(self, name: str, cidr: str, *options) -> tuple[dict, dict]:
        net = self.cli('network', 'create', name + self.suffix)
        self.record.add('networks', net['id'])
        sub = self.cli('subnet', 'create', name + self.suffix + '-subnet', '--network',
                       net['id'], '--subnet-range', cidr, *options)
        return net, sub

    def served(self, net_id: str):
        found = []

        def predicate():
            if not found:
                found.extend(filter(None, [scenario.dhcp_port(self.client, net_id)]))
            return observe.network_served(net_id, found[0] if found else None)
        return predicate

    def build(self) -> None:
        c = self.console
        ids = self.ids
        with c.step('network openstack-net and its subnet (CLI)') as notes:
            net = self.cli('network', 'create', 'openstack-net' + self.suffix)
            self.record.add('networks', net['id'])
            start, sub = self.rest(
                f'openstack subnet create openstack-net-subnet{self.suffix} --network '
                f'{net["id"]} --subnet-range {scenario.TENANT_CIDR} --gateway '
                f'{scenario.TENANT_GATEWAY} --dns-nameserver 8.8.8.8 --dns-nameserver 8.8.4.4',
                'POST', '/subnets', {'subnet': {
                    'name': 'openstack-net-subnet' + self.suffix, 'network_id': net['id'],
                    'ip_version': 4, 'cidr': scenario.TENANT_CIDR,
                    'gateway_ip': scenario.TENANT_GATEWAY,
                    'dns_nameservers': ['8.8.8.8', '8.8.4.4']}})
            sub = sub['subnet']
            ids.update(net=net['id'], subnet=sub['id'])
            took = self.timed(TIMING_NAMES[0], self.served(net['id']), 'dnsmasq serving',
                              start)
            notes.append(f'dnsmasq serving {took:.2f} s after subnet create')
        with c.step('router openstack-router, interface on the subnet') as notes:
            rtr = self.cli('router', 'create', 'openstack-router' + self.suffix)
            self.record.add('routers', rtr['id'])
            ids['router'] = rtr['id']
            start, _ = self.rest(f'openstack router add subnet {rtr["id"]} {sub["id"]}',
                                 'PUT', f'/routers/{rtr["id"]}/add_router_interface',
                                 {'subnet_id': sub['id']})

            def qr_up():
                port = scenario.router_port(self.client, rtr['id'], sub['id'],
                                            'network:router_interface')
                dev = observe.device('qr-', port['id']) if port else None
                return port and observe.device_up(f'qrouter-{rtr["id"]}', dev,
                                                  scenario.TENANT_GATEWAY) \
                    and observe.port_bound(dev)
            notes.append(f'qr- up {self.timed(TIMING_NAMES[1], qr_up, "qr- up", start):.2f} s '
                         'after router add subnet')
        with c.step('network public (external, flat physnet1), gateway (CLI)') as notes:
            pub = self.cli('network', 'create', 'public' + self.suffix, '--external',
                           '--provider-network-type', 'flat',
                           '--provider-physical-network', 'physnet1')
            self.record.add('networks', pub['id'])
            ids['public'] = pub['id']
            self.cli('subnet', 'create', 'public-subnet' + self.suffix, '--network', pub['id'],
                     '--subnet-range', scenario.PUBLIC_CIDR, '--gateway',
                     scenario.PUBLIC_GATEWAY, '--allocation-pool',
                     f'start={scenario.PUBLIC_POOL[0]},end={scenario.PUBLIC_POOL[1]}',
                     '--no-dhcp')
            start, _ = self.rest(
                f'openstack router set {rtr["id"]} --external-gateway {pub["id"]}',
                'PUT', f'/routers/{rtr["id"]}',
                {'router': {'external_gateway_info': {'network_id': pub['id']}}})

            def snat():
                gw = scenario.gateway_port(self.client, rtr['id'])
                return gw and observe.snat_ready(rtr['id'], gw)
            notes.append(f'SNAT ready {self.timed(TIMING_NAMES[2], snat, "SNAT", start):.2f} s '
                         'after router set --external-gateway')
        with c.step('VM vm1 on openstack-net (port as Nova makes it, tap on br-int)') as n:
            port = scenario.vm_port(self.cli, self.s, self.record, 'vm1' + self.suffix,
                                    net['id'])
            self.vm1 = scenario.plug_vm(self.s, self.record, 'vm1' + self.suffix[:3], port)
            self.add_instance(port['device_id'], aio_scenario.PROBE)
            self.wait(lambda: observe.port_bound(self.vm1['device']),
                      'the OVS agent binding vm1')
            n.append(f'{self.vm1["device"]} in {self.vm1["namespace"]}')

    def add_instance(self, instance_id: str, name: str) -> None:
        path = self.s.path('nova-instances.json')
        data = json.loads(open(path).read()) if os.path.exists(path) else {}
        data[instance_id] = name
        with open(path + '.tmp', 'w') as f:
            json.dump(data, f)
        os.replace(path + '.tmp', path)

    def check(self) -> None:
        c, ids, vm1 = self.console, self.ids, self.vm1
        c.check('DHCP lease in vm1', checks.dhcp, self.aio, vm1)
        c.check(f'ping from vm1 to the gateway {scenario.TENANT_GATEWAY}', checks.ping,
                vm1['namespace'], scenario.TENANT_GATEWAY)
        echo = checks.start_echo(self.aio)
        try:
            c.check('SNAT from vm1 to the outside namespace', checks.snat, self.aio,
                    self.client, vm1, ids['router'])
            c.check('metadata from vm1 through the router', checks.metadata, vm1)

            def fip():
                start, doc = self.rest(
                    f'openstack floating ip create {ids["public"]} --port {vm1["id"]}',
                    'POST', '/floatingips', {'floatingip': {
                        'floating_network_id': ids['public'], 'port_id': vm1['id']}})
                doc = doc['floatingip']
                self.fip = doc['floating_ip_address']
                self.timed(TIMING_NAMES[3], lambda: host.in_ns(
                    self.s.outside_ns, 'ping', '-c', '1', '-W', '0.3', self.fip,
                    log=False).returncode == 0, 'the floating IP from the outside', start)
                return checks.floating_ip(self.aio, vm1, doc) + \
                    f' ({self.timings[TIMING_NAMES[3]]:.2f} s after floating ip create)'
            c.check('floating IP of vm1 from the outside namespace', fip)
        finally:
            checks.stop_echo(echo)
        c.check('metadata through an isolated network (DHCP namespace)', self.isolated)

    def isolated(self) -> str:
        net, _sub = self.network('isolated-net', scenario.ISOLATED_CIDR)
        port = scenario.vm_port(self.cli, self.s, self.record, 'vm2' + self.suffix, net['id'])
        vm2 = scenario.plug_vm(self.s, self.record, 'vm2' + self.suffix[:3], port)
        self.add_instance(port['device_id'], 'vm2')
        self.wait(self.served(net['id']), 'dnsmasq on isolated-net')
        self.wait(lambda: observe.port_bound(vm2['device']), 'vm2 bound')
        lease = checks.dhcp(self.aio, vm2)
        dhcp_ip = scenario.dhcp_port(self.client, net['id'])['fixed_ips'][0]['ip_address']
        # What the DHCP option 121 route says: 169.254.169.254 via the DHCP port.
        host.in_ns(vm2['namespace'], 'ip', 'route', 'replace', '169.254.169.254/32', 'via',
                   dhcp_ip, check=True)
        return f'{lease}; {checks.metadata(vm2, name="vm2")}'

    # -- memory -------------------------------------------------------------------------

    def measure_rss(self) -> None:
        for kind in AGENT_TYPES:
            name = self.agent(kind)
            pid = services.pid_of(self.record, name)
            if pid:
                self.rss[name] = observe.agent_rss(pid, f'{self.s.etc}/{name}.ini')

    # -- a restart measured: a network created while the DHCP agent is down ------------

    def restart_dhcp_timed(self) -> str:
        made = {}

        def while_down():
            net = self.cli('network', 'create', 'restart-net' + self.suffix)
            self.record.add('networks', net['id'])
            self.cli('subnet', 'create', 'restart-net-subnet' + self.suffix, '--network',
                     net['id'], '--subnet-range', '192.168.40.0/24')
            made['net'] = net['id']
            return self.served(net['id'])
        took = self.restart('dhcp', while_down)
        self.timings[TIMING_NAMES[4]] = took
        self.ids['restart-net'] = made['net']
        return f'restart-net served {took:.2f} s after the agent started'

    # -- teardown (between the phases of --compare) ---------------------------------------

    def teardown(self) -> None:
        cl = self.client
        for fip in cl.list('floatingips'):
            cl.delete('floatingips', fip['id'])
        for rid in [r['id'] for r in cl.list('routers')]:
            cl.update('router', 'routers', rid, {'external_gateway_info': {}})
            for port in cl.list('ports', device_id=rid,
                                device_owner='network:router_interface'):
                cl.request('PUT', f'/routers/{rid}/remove_router_interface',
                           {'port_id': port['id']})
            cl.delete('routers', rid)
        for port in cl.list('ports', device_owner='compute:nova'):
            cl.delete('ports', port['id'])
        for net in cl.list('networks'):
            cl.delete('networks', net['id'])
        for name in ('vm1', 'vm2'):
            ns = self.s.vm_ns(name + self.suffix[:3])
            for dev in host.ovs('list-ports', self.s.int_bridge).stdout.split():
                if dev.startswith('tap') and host.in_ns(ns, 'ip', 'link', 'show', dev,
                                                         log=False).returncode == 0:
                    host.ovs('--if-exists', 'del-port', self.s.int_bridge, dev)
            host.sh('ip', 'netns', 'delete', ns)
