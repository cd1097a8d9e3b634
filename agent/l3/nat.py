"""The iptables of a legacy router, as Neutron's L3 agent builds them (pure).

``router_tables(router, settings)`` returns the desired IPv4 and IPv6 tables of
``qrouter-<id>``: the wrapped built-ins and their jumps, the shared chains,
address-scope marks (only the implicit ``noscope`` scope exists here), the
metadata REDIRECT and its INPUT guard, SNAT on the gateway and DNAT/SNAT per
floating IP.  The rules and their order follow neutron-agent-rpc.md §6.7 and the
golden iptables-save of a router with a gateway and a floating IP.
"""

from __future__ import annotations

import dataclasses

from agent.common import names
from agent.drivers.iptables_rules import (
    FILTER_TOP, L3_WRAP, POSTROUTING_BOTTOM, Tables, TableSpec, with_comment, wrap_chain)
from agent.model.network import IPAddress
from agent.model.router import FloatingIP, Router, RouterPort

METADATA_V4 = '169.254.169.254/32'
METADATA_V6 = 'fe80::a9fe:a9fe/128'
ROUTER_MARK_MASK = '0xffff'
ADDRESS_SCOPE_MASK = '0xffff0000'
NOSCOPE_MARK = '0x4000000/0xffff0000'     # id 1024 << 16, Neutron's 'noscope'
SNAT_OUT_COMMENT = 'Perform source NAT on outgoing traffic.'
CONNMARK_SAVE = ('-j CONNMARK --save-mark --nfmask 0xffff0000 --ctmask 0xffff0000')
CONNMARK_RESTORE = ('-m connmark ! --mark 0x0/0xffff0000 -j CONNMARK --restore-mark '
                    '--nfmask 0xffff0000 --ctmask 0xffff0000')

WRAPPED_BUILTINS = {
    4: {'filter': ('INPUT', 'FORWARD', 'OUTPUT'),
        'nat': ('PREROUTING', 'OUTPUT', 'POSTROUTING'),
        'mangle': ('PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'),
        'raw': ('PREROUTING', 'OUTPUT')},
    6: {'filter': ('INPUT', 'FORWARD', 'OUTPUT'),
        'nat': ('PREROUTING',),
        'mangle': ('PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'),
        'raw': ('PREROUTING', 'OUTPUT')},
}


@dataclasses.dataclass(frozen=True, slots=True)
class NatSettings:
    """The options that shape a router's rules (Neutron's names and defaults)."""
    metadata_port: int = 9697
    metadata_access_mark: int = 0x1
    external_ingress_mark: int = 0x2
    enable_metadata_proxy: bool = True
    comment_rules: bool = True
    random_fully: bool = True
    wrap: str = L3_WRAP

    @classmethod
    def from_conf(cls, conf) -> NatSettings:
        """From a ConfigOpts with l3_agent_opts in DEFAULT and agent_opts in [AGENT]."""
        return cls(metadata_port=conf.metadata_port,
                   metadata_access_mark=int(conf.metadata_access_mark, 0) & 0xffff,
                   external_ingress_mark=int(conf.external_ingress_mark, 0) & 0xffff,
                   enable_metadata_proxy=conf.enable_metadata_proxy,
                   comment_rules=conf.AGENT.comment_iptables_rules,
                   random_fully=conf.AGENT.use_random_fully)


class _Builder:
    """Collects rules per (table, chain) in insertion order, as Neutron's manager."""

    def __init__(self, wrap: str, version: int):
        self.wrap = wrap
        self.version = version
        self.tables: dict[str, dict[str, list[str]]] = {}
        for table, builtins in WRAPPED_BUILTINS[version].items():
            chains = self.tables.setdefault(table, {})
            for builtin in builtins:
                chains[builtin] = [f'-j {self.w(builtin)}']
                chains[self.w(builtin)] = []

    def w(self, chain: str) -> str:
        return wrap_chain(self.wrap, chain)

    def chain(self, table: str, chain: str) -> list[str]:
        return self.tables[table].setdefault(chain, [])

    def add(self, table: str, chain: str, *rules: str) -> None:
        self.chain(table, chain).extend(rules)

    def specs(self) -> tuple[TableSpec, ...]:
        return tuple(TableSpec(table, {c: tuple(r) for c, r in chains.items()})
                     for table, chains in self.tables.items())


def _addresses(port: RouterPort, version: int) -> list[IPAddress]:
    return [ip for ip, _, _ in port.fixed_ips if ip.version == version]


def _scoped_devices(router: Router, version: int) -> list[str]:
    """Devices with an address of ``version``: internal ports first, then the gateway."""
    devices = [names.internal_device_name(p.id) for p in router.interfaces
               if _addresses(p, version)]
    if router.gw_port is not None and _addresses(router.gw_port, version):
        devices.append(names.gateway_device_name(router.gw_port.id))
    return devices


def _manager_defaults(b: _Builder) -> None:
    """What Neutron's IptablesManager creates for an L3 agent (state-less)."""
    b.tables['filter']['FORWARD'].insert(0, f'-j {FILTER_TOP}')
    b.tables['filter']['OUTPUT'].insert(0, f'-j {FILTER_TOP}')
    b.add('filter', FILTER_TOP, f'-j {b.w("local")}')
    b.chain('filter', b.w('local'))
    if b.version == 4:
        b.add('nat', 'POSTROUTING', f'-j {POSTROUTING_BOTTOM}')
        b.chain('nat', b.w('float-snat'))
        b.add('nat', b.w('snat'), f'-j {b.w("float-snat")}')
        b.add('mangle', b.w('PREROUTING'), f'-j {b.w("mark")}')
        b.chain('mangle', b.w('mark'))


def _address_scope(b: _Builder, router: Router, snat_on_v4: bool) -> None:
    b.add('filter', b.w('FORWARD'), f'-j {b.w("scope")}')
    b.add('mangle', b.w('PREROUTING'), f'-j {b.w("scope")}', CONNMARK_RESTORE)
    if b.version == 4:
        b.add('mangle', b.w('PREROUTING'), f'-j {b.w("floatingip")}')
        b.add('mangle', b.w('float-snat'), f'-m connmark --mark 0x0/0xffff0000 {CONNMARK_SAVE}')
        b.chain('mangle', b.w('floatingip'))
    gw_dev = names.gateway_device_name(router.gw_port.id) if router.gw_port else None
    for dev in _scoped_devices(router, b.version):
        b.add('mangle', b.w('scope'), f'-i {dev} -j MARK --set-xmark {NOSCOPE_MARK}')
    for dev in _scoped_devices(router, b.version):
        if b.version == 4 and snat_on_v4 and dev == gw_dev:
            continue
        b.add('filter', b.w('scope'), f'-o {dev} -m mark ! --mark {NOSCOPE_MARK} -j DROP')
    b.chain('filter', b.w('scope'))
    b.chain('mangle', b.w('scope'))


def _metadata(b: _Builder, s: NatSettings) -> None:
    mark = f'0x{s.metadata_access_mark:x}/{ROUTER_MARK_MASK}'
    dest = METADATA_V4 if b.version == 4 else METADATA_V6
    match = f'-d {dest} -i {names.INTERNAL_PREFIX}+ -p tcp -m tcp --dport 80'
    b.add('mangle', b.w('PREROUTING'), f'{match} -j MARK --set-xmark {mark}')
    b.add('filter', b.w('INPUT'), f'-m mark --mark {mark} -j ACCEPT',
          f'-p tcp -m tcp --dport {s.metadata_port} -j DROP')
    b.add('nat', b.w('PREROUTING'), f'{match} -j REDIRECT --to-ports {s.metadata_port}')


def _gateway_v4(b: _Builder, router: Router, s: NatSettings) -> None:
    gw = router.gw_port
    gw_ips = _addresses(gw, 4) if gw else []
    if not gw_ips:
        return
    dev = names.gateway_device_name(gw.id)
    gw_ip = gw_ips[0]
    random = ' --random-fully' if s.random_fully else ''
    ingress = f'0x{s.external_ingress_mark:x}/{ROUTER_MARK_MASK}'
    b.add('nat', b.w('POSTROUTING'), f'! -o {dev} -m conntrack ! --ctstate DNAT -j ACCEPT')
    if router.enable_snat:
        b.add('nat', b.w('snat'), f'-o {dev} -j SNAT --to-source {gw_ip}{random}')
    b.add('nat', b.w('snat'), f'-m mark ! --mark {ingress} -m conntrack --ctstate DNAT '
                              f'-j SNAT --to-source {gw_ip}{random}')
    b.add('mangle', b.w('mark'), f'-i {dev} -j MARK --set-xmark {ingress}')
    if router.enable_snat:
        b.add('mangle', b.w('POSTROUTING'),
              f'-o {dev} -m connmark --mark 0x0/0xffff0000 {CONNMARK_SAVE}')
    for fip in active_floating_ips(router):
        _floating_ip(b, fip, random)


def _floating_ip(b: _Builder, fip: FloatingIP, random: str) -> None:
    dnat = f'-d {fip.floating_ip_address}/32 -j DNAT --to-destination {fip.fixed_ip_address}'
    b.add('nat', b.w('PREROUTING'), dnat)
    b.add('nat', b.w('OUTPUT'), dnat)
    b.add('nat', b.w('float-snat'), f'-s {fip.fixed_ip_address}/32 -j SNAT '
                                    f'--to-source {fip.floating_ip_address}{random}')


def active_floating_ips(router: Router) -> list[FloatingIP]:
    """IPv4 floating IPs with a fixed address, in a stable order (by address)."""
    fips = [f for f in router.floating_ips
            if f.fixed_ip_address is not None and f.floating_ip_address.version == 4]
    return sorted(fips, key=lambda f: f.floating_ip_address)


def _bottom(b: _Builder, s: NatSettings) -> None:
    b.add('nat', POSTROUTING_BOTTOM,
          with_comment(f'-j {b.w("snat")}', SNAT_OUT_COMMENT, s.comment_rules))


def _version_tables(router: Router, s: NatSettings, version: int) -> tuple[TableSpec, ...]:
    b = _Builder(s.wrap, version)
    _manager_defaults(b)
    snat_on_v4 = router.enable_snat and router.gw_port is not None
    _address_scope(b, router, snat_on_v4)
    if s.enable_metadata_proxy:
        _metadata(b, s)
    if version == 4:
        _gateway_v4(b, router, s)
        _bottom(b, s)
    return b.specs()


def router_tables(router: Router, settings: NatSettings = NatSettings()) -> Tables:
    """The desired IPv4 and IPv6 tables of ``qrouter-<router.id>``."""
    return Tables(ipv4=_version_tables(router, settings, 4),
                  ipv6=_version_tables(router, settings, 6))

