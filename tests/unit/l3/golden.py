"""The golden qrouter of neutron-golden/qrouter-state.txt, as a Router and as rule sets."""

import ipaddress
import pathlib

from agent.drivers.iptables_rules import BUILTIN_CHAINS, parse_save
from agent.model.router import FloatingIP, Router, RouterPort, RouterSubnet

GOLDEN = pathlib.Path('/work/shared/reference/neutron-golden/qrouter-state.txt')
ROUTER_ID = '4d7648cf-ebbd-4567-b336-bf7f0af13042'
QR_PORT = '0c5ed35a-7b7f-40d5-a209-1dcb5bc24683'
QG_PORT = '4e604425-c07e-428d-b86a-5298649680b8'
QR_DEV = 'qr-0c5ed35a-7b'
QG_DEV = 'qg-4e604425-c0'
IP = ipaddress.ip_address


def fip(floating, fixed, fid='6b5b7c4e-0b1e-4a0e-9f3e-2f1f1a1a1a1a'):
    return FloatingIP(id=fid, floating_ip_address=IP(floating), fixed_ip_address=IP(fixed),
                      port_id='8d6c8e1a-4a35-4a0e-9b7b-0e0e0e0e0e0e',
                      floating_network_id='5d1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d')


def golden_router(**changes):
    internal = RouterPort(
        id=QR_PORT, network_id='760d0e4a-bd6a-4c41-9a0c-1e5e7bbd7c1e',
        mac_address='fa:16:3e:b8:63:26',
        fixed_ips=((IP('192.168.10.1'), 24, 'a1a1a1a1-0000-4000-8000-000000000001'),),
        subnets=(RouterSubnet('a1a1a1a1-0000-4000-8000-000000000001',
                              ipaddress.ip_network('192.168.10.0/24'), IP('192.168.10.1')),))
    gateway = RouterPort(
        id=QG_PORT, network_id='5d1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
        mac_address='fa:16:3e:9d:a8:af',
        fixed_ips=((IP('172.24.4.139'), 24, 'b2b2b2b2-0000-4000-8000-000000000002'),),
        subnets=(RouterSubnet('b2b2b2b2-0000-4000-8000-000000000002',
                              ipaddress.ip_network('172.24.4.0/24'), IP('172.24.4.1')),))
    fields = dict(id=ROUTER_ID, name='openstack-router', gw_port=gateway,
                  interfaces=(internal,),
                  floating_ips=(fip('172.24.4.162', '192.168.10.93'),))
    fields.update(changes)
    return Router(**fields)


def golden_sections():
    """{'iptables-save': text, 'ip6tables-save': text}."""
    sections, current = {}, None
    for line in GOLDEN.read_text().splitlines():
        if line.startswith('## '):
            current = line[3:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {k: '\n'.join(v) + '\n' for k, v in sections.items()}


def rule_sets(tables):
    """{table: (set of non-built-in chains, set of (chain, rule))} of parsed or spec tables."""
    out = {}
    items = tables.values() if isinstance(tables, dict) else tables
    for t in items:
        chains = {c for c in t.chains if c not in BUILTIN_CHAINS[t.name]}
        rules = {(c, r) for c, rs in t.chains.items() for r in rs}
        if chains or rules:
            out[t.name] = (chains, rules)
    return out


def golden_rule_sets(version):
    text = golden_sections()['iptables-save' if version == 4 else 'ip6tables-save']
    return rule_sets(parse_save(text))
