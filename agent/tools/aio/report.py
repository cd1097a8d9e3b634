"""What exists on the node for this instance, in the shape of the reference log:
namespaces, OVS ports (tags, external_ids), addresses and routes per namespace, the
dnsmasq/haproxy children, the routers' NAT rules; then how to stop and clean up."""

from __future__ import annotations

import json

from agent.common import procfs
from agent.tools.aio import host, services
from agent.tools.aio.settings import SERVICES, Settings


def instance_namespaces(s: Settings, record: host.Record, client=None) -> dict[str, str]:
    """{namespace: what it is} for the instance's networks, routers, probes and the
    outside (from the controller when it answers, and from the record)."""
    names: dict[str, str] = {}
    nets = {n: '' for n in record.get('networks', [])}
    routers = {r: '' for r in record.get('routers', [])}
    probes = {p: '' for p in record.get('probes', [])}
    if client is not None:
        try:
            nets.update({n['id']: n.get('name', '') for n in client.list('networks')})
            routers.update({r['id']: r.get('name', '') for r in client.list('routers')})
            probes.update({p['id']: p.get('name', '') for p in
                           client.list('ports', device_owner='compute:probe')})
        except Exception as exc:  # noqa: BLE001 - the record still tells
            host.CONSOLE.log(f'controller unavailable for the namespace list: {exc}')
    for net, name in nets.items():
        names[f'qdhcp-{net}'] = f'DHCP of network {name}'.rstrip()
    for rtr, name in routers.items():
        names[f'qrouter-{rtr}'] = f'router {name}'.rstrip()
    for port, name in probes.items():
        names[f'qprobe-{port}'] = f'probe {name}'.rstrip()
    names[record.get('outside_ns') or s.outside_ns] = 'the outside (external gateway)'
    return names


def expected(client) -> set[str]:
    """Namespaces that should exist: DHCP of networks with a DHCP port, routers."""
    if client is None:
        return set()
    try:
        dhcp = {p['network_id'] for p in client.list('ports', device_owner='network:dhcp')}
        routers = {r['id'] for r in client.list('routers')}
    except Exception:  # noqa: BLE001 - a report without the controller
        return set()
    return {f'qdhcp-{n}' for n in dhcp} | {f'qrouter-{r}' for r in routers}


def _indent(text: str, n: int = 4) -> str:
    pad = ' ' * n
    return '\n'.join(pad + line for line in text.rstrip().splitlines())


def ovs_ports(bridge: str) -> list[str]:
    ports = host.ovs('list-ports', bridge).stdout.split()
    if not ports:
        return []
    res = host.ovs('-f', 'json', '--columns=name,tag', 'list', 'Port')
    tags = {}
    for name, tag in json.loads(res.stdout or '{"data": []}')['data']:
        tags[name] = tag if isinstance(tag, int) else '-'
    res = host.ovs('-f', 'json', '--columns=name,type,external_ids', 'list', 'Interface')
    ifaces = {}
    for name, kind, ids in json.loads(res.stdout or '{"data": []}')['data']:
        ids = dict(ids[1]) if isinstance(ids, list) and ids[0] == 'map' else {}
        ifaces[name] = (kind or 'system', ids)
    lines = []
    for port in sorted(ports):
        kind, ids = ifaces.get(port, ('?', {}))
        shown = ' '.join(f'{k}={v}' for k, v in sorted(ids.items()))
        lines.append(f'{port:<15} tag={tags.get(port, "-"):<4} {kind:<8} {shown}')
    return lines


def namespace_section(ns: str, what: str) -> str:
    out = [f'-- {ns}  ({what})']
    addrs = host.in_ns(ns, 'ip', '-br', 'addr').stdout
    out += ['  ip -br addr:', _indent(addrs)]
    routes = host.in_ns(ns, 'ip', 'route').stdout.strip()
    out += ['  ip route:', _indent(routes or '(none)')]
    pids = host.sh('ip', 'netns', 'pids', ns).stdout.split()
    procs = [f'{pid} {procfs.cmdline(int(pid))}' for pid in pids if pid.isdigit()]
    if procs:
        out += ['  processes:', _indent('\n'.join(procs))]
    if ns.startswith('qrouter-'):
        nat = host.in_ns(ns, 'iptables-save', '-t', 'nat').stdout
        nat = '\n'.join(line for line in nat.splitlines() if not line.startswith('#'))
        out += ['  iptables-save -t nat:', _indent(nat)]
        fwd = host.in_ns(ns, 'sysctl', '-n', 'net.ipv4.ip_forward').stdout.strip()
        out += [f'  net.ipv4.ip_forward = {fwd}']
    return '\n'.join(out)


def render(s: Settings, record: host.Record, client=None, agents=None) -> str:
    out = ['', f'=== netnode all-in-one: what exists on this node (state {s.state_dir}) ===',
           '', 'services:']
    for service, pid in services.status(s).items():
        state = f'pid {pid}' if pid else 'not running'
        out.append(f'  {service:<24} {state:<14} log {s.log_file(service)}')
    if agents:
        out += ['', 'agents (netnode agent-list):']
        for a in sorted(agents, key=lambda a: a.get('binary', '')):
            out.append(f'  {a.get("agent_type", ""):<16} {a.get("binary", ""):<24} '
                       f'host={a.get("host")} alive={":-)" if a.get("alive") else "xxx"}')
    present = host.netns_list()
    every = instance_namespaces(s, record, client)
    names = {ns: what for ns, what in every.items() if ns in present}
    out += ['', 'namespaces (ip netns list, this instance):']
    out += [f'  {ns:<50} {what}' for ns, what in sorted(names.items())] or ['  (none)']
    out += [f'  {ns:<50} {every[ns]}: ABSENT' for ns in sorted(expected(client) - present)
            if ns in every]
    present_bridges = host.bridges()
    for bridge in (s.int_bridge, s.ex_bridge):
        if bridge not in present_bridges:
            out += ['', f'OVS bridge {bridge}: absent']
            continue
        kind = host.ovs('get', 'Bridge', bridge, 'datapath_type').stdout.strip() or '""'
        out += ['', f'OVS bridge {bridge} (datapath_type {kind}; ports, local VLAN tags, '
                    'Interface external_ids):']
        out += ['  ' + line for line in ovs_ports(bridge)] or ['  (no ports)']
    children = {pid: cmd for pid, cmd in procfs.pids_with(s.markers).items()
                if cmd.split()[0].rsplit('/', 1)[-1] in ('dnsmasq', 'haproxy')}
    out += ['', 'dnsmasq and haproxy children:']
    out += [f'  {pid} {cmd}' for pid, cmd in sorted(children.items())] or ['  (none)']
    for ns in sorted(names, key=lambda n: (not n.startswith('qdhcp-'),
                                           not n.startswith('qrouter-'), n)):
        out += ['', namespace_section(ns, names[ns])]
    out += ['', usage(s)]
    return '\n'.join(out)


def usage(s: Settings) -> str:
    env = '' if s.state_dir == '/var/lib/netnode-aio' else \
        f'NETNODE_AIO_DIR={s.state_dir} ... '
    return '\n'.join([
        f'Logs: {s.log_dir}   configs: {s.etc_dir}   CLI: netnode --url {s.url} ...',
        f'Stop the services (children and data plane keep serving): '
        f'{env}tools/all-in-one.sh --stop',
        f'Remove everything this instance made:                      '
        f'{env}tools/all-in-one.sh --clean',
    ])


def timings(console: host.Console) -> str:
    lines = ['', 'timings:']
    for what, outcome, took in console.timings:
        lines.append(f'  {took:7.2f} s  {outcome:<4} {what}')
    lines.append(f'  {console.elapsed():7.2f} s  total')
    return '\n'.join(lines)


__all__ = ['render', 'instance_namespaces', 'timings', 'SERVICES']
