"""The reference scenario, built with the ``netnode`` CLI (run in-process: the same
code as the command, without a Python start per command).  Every step reuses what
exists by name, so a second run changes nothing.
"""

from __future__ import annotations

import io
import json
import os
import shlex

from agent.cli import main as cli_main
from agent.common import fileutils
from agent.tools.aio import host
from agent.tools.aio.settings import Settings

TENANT_NET = 'openstack-net'
TENANT_SUBNET = 'openstack-net-subnet'
TENANT_CIDR = '192.168.10.0/24'
TENANT_GATEWAY = '192.168.10.1'
DNS_SERVERS = ('8.8.8.8', '8.8.4.4')
ROUTER = 'openstack-router'
PUBLIC_NET = 'public'
PUBLIC_SUBNET = 'public-subnet'
PUBLIC_CIDR = '198.51.100.0/24'
PUBLIC_GATEWAY = '198.51.100.1'
PUBLIC_POOL = ('198.51.100.100', '198.51.100.200')
PROBE = 'vm1'
PROBE_OWNER = 'compute:probe'
USER_DATA = '#!/bin/sh\necho "hello from the netnode all-in-one"\n'


class Cli:
    """``netnode --url … -f json ARGS`` in this process; remembers the commands."""

    def __init__(self, s: Settings):
        self.s = s
        self.commands: list[str] = []

    def __call__(self, *args, record: bool = True):
        args = [str(a) for a in args]
        line = 'netnode ' + shlex.join(args)
        out, err = io.StringIO(), io.StringIO()
        code = cli_main.run(['--url', self.s.url, '-f', 'json', *args], out, err)
        host.CONSOLE.log(f'$ {line}  [rc {code}]\n  {out.getvalue().strip()}'
                         f'{err.getvalue().strip()}')
        if code != 0:
            raise host.StepFailed(f'{line}: {err.getvalue().strip() or out.getvalue()}')
        if record:
            self.commands.append(line)
        text = out.getvalue().strip()
        return json.loads(text) if text.startswith(('{', '[')) else None


def _one(client, plural: str, **filters) -> dict | None:
    items = client.list(plural, **filters)
    return items[0] if items else None


def network(cli: Cli, client, record, name: str, *options) -> tuple[dict, str]:
    net = _one(client, 'networks', name=name)
    how = 'reused'
    if net is None:
        net, how = cli('net-create', name, *options), 'created'
    record.add('networks', net['id'])
    return net, f'{net["id"]} ({how})'


def subnet(cli: Cli, client, net: dict, name: str, cidr: str, *options) -> tuple[dict, str]:
    sub = _one(client, 'subnets', name=name, network_id=net['id'])
    if sub is not None:
        return sub, f'{sub["id"]} (reused)'
    sub = cli('subnet-create', net['name'], cidr, '--name', name, *options)
    return sub, f'{sub["id"]} (created)'


def router(cli: Cli, client, record) -> tuple[dict, str]:
    rtr = _one(client, 'routers', name=ROUTER)
    how = 'reused'
    if rtr is None:
        rtr, how = cli('router-create', ROUTER), 'created'
    record.add('routers', rtr['id'])
    return rtr, f'{rtr["id"]} ({how})'


def interface(cli: Cli, client, rtr: dict, sub: dict) -> str:
    for port in client.list('ports', device_id=rtr['id'], network_id=sub['network_id']):
        if any(ip.get('subnet_id') == sub['id'] for ip in port.get('fixed_ips', ())):
            return f'port {port["id"]} (reused)'
    cli('router-interface-add', ROUTER, TENANT_SUBNET)
    return 'added'


def gateway(cli: Cli, client, rtr: dict, public: dict) -> str:
    rtr = client.show('router', 'routers', rtr['id'])
    info = rtr.get('external_gateway_info') or {}
    if info.get('network_id') != public['id']:
        cli('router-gateway-set', ROUTER, PUBLIC_NET)
        rtr = client.show('router', 'routers', rtr['id'])
        info = rtr.get('external_gateway_info') or {}
    ips = [ip['ip_address'] for ip in info.get('external_fixed_ips') or ()]
    return ', '.join(ips) or '(no address yet)'


def build_tenant(cli, client, record):
    net, a = network(cli, client, record, TENANT_NET, '--provider:network_type', 'gre',
                     '--provider:segmentation_id', '1')
    dns = [x for d in DNS_SERVERS for x in ('--dns-nameserver', d)]
    sub, b = subnet(cli, client, net, TENANT_SUBNET, TENANT_CIDR, '--gateway',
                    TENANT_GATEWAY, *dns)
    return net, sub, f'net {a}, subnet {b}'


def build_public(cli, client, record):
    net, a = network(cli, client, record, PUBLIC_NET, '--router:external')
    sub, b = subnet(cli, client, net, PUBLIC_SUBNET, PUBLIC_CIDR, '--gateway',
                    PUBLIC_GATEWAY, '--allocation-pool',
                    f'start={PUBLIC_POOL[0]},end={PUBLIC_POOL[1]}', '--disable-dhcp')
    return net, sub, f'net {a}, subnet {b}'


# -- the 'outside': a namespace on the external bridge holding the external gateway ------

def outside(s: Settings, record) -> str:
    """``<outside ns>`` with an OVS internal port on the external bridge and
    198.51.100.1/24: where SNAT and floating-IP traffic goes, confined there."""
    ns, dev = s.outside_ns, s.outside_dev
    record.set('outside_ns', ns)
    if ns not in host.netns_list():
        host.sh('ip', 'netns', 'add', ns, check=True)
    host.in_ns(ns, 'ip', 'link', 'set', 'lo', 'up', check=True)
    if host.in_ns(ns, 'ip', 'link', 'show', dev).returncode != 0:
        host.ovs('--may-exist', 'add-port', s.ex_bridge, dev, '--', 'set', 'Interface', dev,
                 'type=internal', f'external_ids:{host.BRIDGE_MARK}="{s.state_dir}"',
                 check=True)
        host.wait_for(lambda: host.sh('ip', 'link', 'show', dev, log=False).returncode == 0,
                      10, 0.05, f'device {dev}')
        host.sh('ip', 'link', 'set', dev, 'netns', ns, check=True)
    host.in_ns(ns, 'ip', 'link', 'set', dev, 'up', check=True)
    host.in_ns(ns, 'ip', 'addr', 'replace', f'{PUBLIC_GATEWAY}/24', 'dev', dev, check=True)
    return f'{ns}: {dev} {PUBLIC_GATEWAY}/24 on {s.ex_bridge}'


# -- the probe 'VM' ---------------------------------------------------------------------------

def probe_args(s: Settings) -> list[str]:
    return ['--config-file', s.common_conf]


def probe(s: Settings, cli: Cli, client, record) -> dict:
    """``netnode probe-create openstack-net --name vm1``, or the existing probe when its
    namespace is still there (re-created when the namespace went away)."""
    for port in client.list('ports', name=PROBE, device_owner=PROBE_OWNER):
        ns = f'qprobe-{port["id"]}'
        record.add('probes', port['id'])
        if ns in host.netns_list():
            return dict(port, namespace=ns, reused=True)
        cli('probe-delete', port['id'], *probe_args(s))
    port = cli('probe-create', TENANT_NET, '--name', PROBE, *probe_args(s))
    record.add('probes', port['id'])
    return dict(port, reused=False)


def instance(s: Settings, cli: Cli, port: dict) -> str:
    path = os.path.join(s.state_dir, f'{PROBE}-user-data')
    if fileutils.read_text(path) != USER_DATA:
        fileutils.write_atomic(path, USER_DATA)
    cli('instance-set', port['device_id'], '--name', PROBE, '--hostname', PROBE,
        '--user-data', path)
    return f'device_id {port["device_id"]}'


def floatingip(cli: Cli, client, public: dict, port: dict) -> dict:
    for fip in client.list('floatingips', floating_network_id=public['id']):
        if fip.get('port_id') == port['id']:
            return dict(fip, reused=True)
    free = [f for f in client.list('floatingips', floating_network_id=public['id'])
            if not f.get('port_id')]
    if free:
        cli('floatingip-associate', free[0]['id'], port['id'])
        return dict(client.show('floatingip', 'floatingips', free[0]['id']), reused=True)
    return dict(cli('floatingip-create', PUBLIC_NET, '--port-id', port['id']), reused=False)


def disassociate_floatingips(cli: Cli, client, port: dict) -> int:
    fips = [f for f in client.list('floatingips', port_id=port['id'])]
    for fip in fips:
        cli('floatingip-disassociate', fip['id'], record=False)
    return len(fips)
