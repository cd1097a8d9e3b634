"""What the job looks at on the host: the data plane a set of agents serves (a
snapshot to compare across restarts and resyncs), when a network, router port,
gateway or floating IP is served, and the memory of an agent with its helpers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

from agent.common import procfs
from agent.tools.aio import host

DEAD_VLAN = 4095


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """{kind/name: value}; ``diff`` names what differs."""
    items: dict

    def diff(self, other: Snapshot) -> list[str]:
        changes = []
        for key in sorted(set(self.items) | set(other.items)):
            before, after = self.items.get(key), other.items.get(key)
            if before != after:
                changes.append(f'{key}: {_short(before)} -> {_short(after)}')
        return changes


def _short(value) -> str:
    text = 'absent' if value is None else str(value)
    return text if len(text) <= 160 else text[:157] + '...'


def _json_rows(table: str, columns: str) -> list[dict]:
    res = host.ovs('--format=json', f'--columns={columns}', 'list', table, check=True)
    doc = json.loads(res.stdout)
    names = doc['headings']
    return [dict(zip(names, (_ovs_value(v) for v in row))) for row in doc['data']]


def _ovs_value(value):
    if isinstance(value, list) and value and value[0] == 'map':
        return dict(sorted((k, _ovs_value(v)) for k, v in value[1]))
    if isinstance(value, list) and value and value[0] == 'set':
        return tuple(sorted(_ovs_value(v) for v in value[1]))
    if isinstance(value, list) and value and value[0] == 'uuid':
        return value[1]
    return value


def ovs_ports(bridges) -> dict[str, dict]:
    """{port name: tag, vlan_mode, trunks, other_config, ofport, external_ids} of the
    ports on ``bridges``."""
    names = set()
    for bridge in bridges:
        names |= set(host.ovs('list-ports', bridge).stdout.split())
    ports = {r['name']: r for r in _json_rows('Port', 'name,tag,vlan_mode,trunks,other_config')
             if r['name'] in names}
    for row in _json_rows('Interface', 'name,ofport,external_ids'):
        if row['name'] in ports:
            ports[row['name']].update(ofport=row['ofport'], external_ids=row['external_ids'])
    return ports


def children(state_path: str) -> dict[str, int]:
    """{'dnsmasq <net>' / 'haproxy <id>': pid} of the children under ``state_path``."""
    found = {}
    for pid, cmd in procfs.pids_with([state_path + '/']).items():
        program = os.path.basename(cmd.split()[0])
        if program not in ('dnsmasq', 'haproxy'):
            continue
        ident = re.findall(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', cmd)
        found[f'{program} {ident[0] if ident else cmd[:60]}'] = pid
    return found


def _iptables(ns: str) -> str:
    text = host.in_ns(ns, 'iptables-save', log=False).stdout
    return '\n'.join(line for line in text.splitlines()
                     if not line.startswith('#') and not line.startswith(':'))


def snapshot(state_path: str, bridges, namespaces) -> Snapshot:
    items = {}
    for name, port in ovs_ports(bridges).items():
        for field in ('tag', 'vlan_mode', 'trunks', 'other_config', 'ofport', 'external_ids'):
            items[f'port {name} {field}'] = port.get(field)
    for name, pid in children(state_path).items():
        items[f'pid of {name}'] = pid
    for ns in sorted(namespaces):
        if ns.startswith('qrouter-'):
            items[f'iptables {ns}'] = _iptables(ns)
        addrs = host.in_ns(ns, 'ip', '-o', '-4', 'addr', 'show', log=False).stdout
        items[f'addresses {ns}'] = ' '.join(sorted(
            f'{p[1]}:{p[3]}' for p in (line.split() for line in addrs.splitlines())))
    return Snapshot(items)


# -- served yet? ----------------------------------------------------------------------------

def device(prefix: str, port_id: str) -> str:
    return (prefix + port_id)[:14]


def port_bound(name: str) -> bool:
    """The OVS agent bound the port: a live tag that is not the dead VLAN."""
    tag = host.ovs('--if-exists', 'get', 'Port', name, 'tag', check=False).stdout.strip()
    return tag.isdigit() and int(tag) != DEAD_VLAN


def device_up(ns: str, dev: str, address: str | None = None) -> bool:
    res = host.in_ns(ns, 'ip', '-o', '-4', 'addr', 'show', 'dev', dev, log=False)
    if res.returncode != 0:
        return False
    link = host.in_ns(ns, 'ip', '-o', 'link', 'show', 'dev', dev, log=False).stdout
    up = ',UP' in link or '<UP' in link
    return up and (address is None or f' {address}/' in res.stdout)


def dnsmasq_in(ns: str) -> bool:
    res = host.sh('ip', 'netns', 'pids', ns, log=False)
    return any(procfs.cmdline(int(p)).split(' ', 1)[0].endswith('dnsmasq')
               for p in res.stdout.split() if p.isdigit())


def network_served(net_id: str, dhcp_port: dict | None) -> bool:
    """dnsmasq runs in qdhcp-<net> and its tap holds the DHCP port's address and is
    bound by the OVS agent."""
    if dhcp_port is None:
        return False
    ns, dev = f'qdhcp-{net_id}', device('tap', dhcp_port['id'])
    ip = dhcp_port['fixed_ips'][0]['ip_address'] if dhcp_port['fixed_ips'] else None
    return dnsmasq_in(ns) and device_up(ns, dev, ip) and port_bound(dev)


def snat_ready(router_id: str, gw_port: dict) -> bool:
    ns, dev = f'qrouter-{router_id}', device('qg-', gw_port['id'])
    ip = gw_port['fixed_ips'][0]['ip_address']
    if not device_up(ns, dev, ip):
        return False
    nat = host.in_ns(ns, 'iptables-save', '-t', 'nat', log=False).stdout
    return any('SNAT' in line and ip in line for line in nat.splitlines())


# -- memory ---------------------------------------------------------------------------------

def rss_kib(pid: int) -> int:
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid: int) -> set[int]:
    """``pid`` and its descendants (privsep helpers are started through the root helper
    and stay below the agent)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            parent = procfs.parent(int(entry))
            if parent:
                kids.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in found:
            found.add(p)
            todo += kids.get(p, [])
    return found


def agent_rss(pid: int, own_ini: str) -> tuple[int, int]:
    """(RSS of the agent, RSS of its helpers) in KiB.  Helpers: the processes below
    it but dnsmasq/haproxy/radvd (the data plane), and the privsep daemons started
    with its own config file ``own_ini`` (they leave the agent's process tree)."""
    helpers = set()
    for p in tree(pid) - {pid}:
        cmd = procfs.cmdline(p)
        if os.path.basename(cmd.split(' ', 1)[0]) not in ('dnsmasq', 'haproxy', 'radvd'):
            helpers.add(p)
    helpers |= {p for p, cmd in procfs.pids_with([own_ini]).items()
                if 'privsep-helper' in cmd and p != pid}
    return rss_kib(pid), sum(rss_kib(p) for p in helpers)
