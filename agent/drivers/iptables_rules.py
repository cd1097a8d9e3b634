"""The typed model of iptables tables we own, and rules in iptables-save's form.

Pure: no processes.  A manager (agent/drivers/iptables.py) owns, inside one
namespace, the chains whose names start with its wrap prefix, the rules of the
shared unwrapped chains (``neutron-filter-top``, ``neutron-postrouting-bottom``)
that mention its chains, and the jumps it places at the top of the built-in
chains.  Everything else in the namespace is foreign and never touched.

Rules are compared as text with what ``iptables-save`` prints, so every rule we
want is first put into that canonical form by :func:`normalize_rule`.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
import shlex
from collections.abc import Mapping

from agent.drivers.state import IPAddress

# Neutron's wrap names (basename(argv[0])[:16]), so a takeover from a real Neutron
# agent reconciles the chains it left behind, and a rollback finds ours.
L3_WRAP = 'neutron-l3-agent'
DHCP_WRAP = 'neutron-dhcp-age'

FILTER_TOP = 'neutron-filter-top'
POSTROUTING_BOTTOM = 'neutron-postrouting-bottom'
SHARED_CHAINS = frozenset({FILTER_TOP, POSTROUTING_BOTTOM})

BUILTIN_CHAINS = {
    'filter': ('INPUT', 'FORWARD', 'OUTPUT'),
    'nat': ('PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'),
    'mangle': ('PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'),
    'raw': ('PREROUTING', 'OUTPUT'),
}
TABLE_ORDER = ('mangle', 'raw', 'filter', 'nat')   # iptables-save's order

MAX_CHAIN_LEN_WRAP = 11       # Neutron: <wrap>-<chain[:11]>
MAX_CHAIN_LEN_NOWRAP = 28


def wrap_chain(wrap: str, chain: str) -> str:
    """The wrapped chain name Neutron would use: ``<wrap>-<chain[:11]>``."""
    return f'{wrap}-{chain[:MAX_CHAIN_LEN_WRAP]}'


@dataclasses.dataclass(frozen=True, slots=True)
class TableSpec:
    """What we want in one table of one IP version.

    ``chains`` maps a full chain name to its rules (without ``-A <chain>``), in
    order.  Names with our wrap prefix are wholly ours; built-in chains and the
    shared chains hold our rules at their top, after which foreign rules stay.
    """
    name: str
    chains: Mapping[str, tuple[str, ...]]

    def rules(self, chain: str) -> tuple[str, ...]:
        return tuple(self.chains.get(chain, ()))


@dataclasses.dataclass(frozen=True, slots=True)
class Tables:
    """The desired tables of a namespace, per IP version."""
    ipv4: tuple[TableSpec, ...] = ()
    ipv6: tuple[TableSpec, ...] = ()

    def by_version(self, version: int) -> tuple[TableSpec, ...]:
        return self.ipv4 if version == 4 else self.ipv6


@dataclasses.dataclass(frozen=True, slots=True)
class ObservedTable:
    """One table as iptables-save printed it: chains in order, rules in order."""
    name: str
    chains: Mapping[str, tuple[str, ...]]
    builtin: frozenset[str] = frozenset()


def parse_save(text: str) -> dict[str, ObservedTable]:
    """Parse ``iptables-save`` output (without counters) into tables."""
    tables: dict[str, ObservedTable] = {}
    name = None
    chains: dict[str, list[str]] = {}
    builtin: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('*'):
            name, chains, builtin = line[1:], {}, set()
        elif line == 'COMMIT':
            if name is not None:
                tables[name] = ObservedTable(
                    name, {c: tuple(r) for c, r in chains.items()}, frozenset(builtin))
            name = None
        elif line.startswith(':'):
            chain, policy = line[1:].split()[:2]
            chains.setdefault(chain, [])
            if policy != '-':
                builtin.add(chain)
        elif line.startswith('-A '):
            _, chain, *rest = line.split(' ', 2)
            chains.setdefault(chain, []).append(rest[0] if rest else '')
    return tables


# A floating IP's DNAT rule (agent.l3.nat) as iptables-save prints it.
_FLOATING_DNAT = re.compile(
    r'^-A \S+-PREROUTING -d (\S+)/32 -j DNAT --to-destination (\S+)$', re.MULTILINE)


def floating_dnat(saved: str) -> tuple[tuple[IPAddress, IPAddress], ...]:
    """(floating, fixed) of the floating-IP DNAT rules in ``iptables-save`` output,
    sorted (after a restart, the mapping the agent applied last)."""
    return tuple(sorted({(ipaddress.ip_address(m[1]), ipaddress.ip_address(m[2]))
                         for m in _FLOATING_DNAT.finditer(saved)}))


# --- normalization -----------------------------------------------------------

# Basic options, printed first and in this order by iptables-save.
_BASIC_ORDER = ('-s', '-d', '-i', '-o', '-p', '-f')
_BASIC_ALIASES = {'--source': '-s', '--src': '-s', '--destination': '-d',
                  '--dst': '-d', '--in-interface': '-i', '--out-interface': '-o',
                  '--protocol': '-p', '--jump': '-j', '--match': '-m'}
_PORT_OPTIONS = frozenset({'--dport', '--sport', '--destination-port', '--source-port',
                           '--tcp-flags', '--syn', '--tcp-option', '--dports',
                           '--sports'})
_PORT_ALIASES = {'--destination-port': '--dport', '--source-port': '--sport'}
_HEX_OPTIONS = frozenset({'--mark', '--set-xmark', '--nfmask', '--ctmask'})
_QUOTING = frozenset('\'"\\')
_SAFE_CHARS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
                        '0123456789-_.')


def quote_arg(value: str) -> str:
    """Quote a word as iptables-save does (only when it has unsafe characters)."""
    if value and all(c in _SAFE_CHARS for c in value):
        return value
    return '"' + value.replace('\\', '\\\\').replace('"', '\\"') + '"'


def _hex_mark(value: str) -> str:
    parts = value.split('/')
    return '/'.join('0x%x' % int(p, 0) for p in parts)


def _cidr(value: str, version: int) -> str:
    net = ipaddress.ip_network(value, strict=False)
    if net.version != version:
        raise ValueError(f'{value} is not an IPv{version} address')
    return f'{net.network_address}/{net.prefixlen}'


# Small: the rules routers share stay in it, and each router's own (its devices and
# addresses, ~12 a router) are normalized only when its tables are diffed (a new
# namespace, a change), missing the cache either way.  The rules of 1000 routers
# with a gateway and 2 floating IPs each (restore_texts for new namespaces, the
# golden router's shape): 51968 hits of 64000 calls with 256 entries as with
# 65536, which kept 12032 entries, 4.5 MiB of Python objects against 0.1 MiB
# (tracemalloc).
@functools.lru_cache(maxsize=256)
def normalize_rule(rule: str, version: int = 4) -> str:
    """``rule`` (without ``-A <chain>``) in the exact form iptables-save prints.

    Handles what our rule builders write: option aliases, the order of basic
    options, ``-m tcp``/``-m udp`` for port options, ``/32`` and ``/128``
    suffixes and network addresses, hex marks, ``--set-mark`` as
    ``--set-xmark``, upper-case MACs and comment quoting.
    """
    # shlex.split only when quoting is to be undone: ~25 us per rule otherwise, and
    # each router's own rules (its devices, its addresses) miss the cache once.
    words = shlex.split(rule) if _QUOTING & set(rule) else rule.split()
    tokens = [_BASIC_ALIASES.get(t, t) for t in words]
    basic: dict[str, list[str]] = {}
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        neg = tokens[i] == '!' and i + 1 < len(tokens) and tokens[i + 1] in _BASIC_ORDER
        opt = tokens[i + 1] if neg else tokens[i]
        if opt in _BASIC_ORDER and '-j' not in tokens[:i]:
            value = tokens[i + 2] if neg else tokens[i + 1]
            if opt in ('-s', '-d'):
                value = _cidr(value, version)
            elif opt == '-p':
                value = value.lower()
            basic[opt] = (['!'] if neg else []) + [opt, value]
            i += 3 if neg else 2
            continue
        rest.append(tokens[i])
        i += 1

    proto = basic.get('-p', [None])[-1]
    out: list[str] = []
    matches_loaded = {rest[k + 1] for k, t in enumerate(rest[:-1]) if t == '-m'}
    target_seen = False
    k = 0
    while k < len(rest):
        tok = rest[k]
        if tok == '-j':
            target_seen = True
        if tok in _PORT_OPTIONS and not target_seen and proto in ('tcp', 'udp') \
                and proto not in matches_loaded:
            out += ['-m', proto]
            matches_loaded.add(proto)
        tok = _PORT_ALIASES.get(tok, tok)
        if tok == '--set-mark' and target_seen:
            value = rest[k + 1]
            if '/' not in value:
                value += '/0xffffffff'
            out += ['--set-xmark', _hex_mark(value)]
            k += 2
            continue
        if tok in _HEX_OPTIONS and k + 1 < len(rest):
            out += [tok, _hex_mark(rest[k + 1])]
            k += 2
            continue
        if tok == '--mac-source' and k + 1 < len(rest):
            out += [tok, rest[k + 1].upper()]
            k += 2
            continue
        if tok == '--comment' and k + 1 < len(rest):
            out += [tok, quote_arg(rest[k + 1])]
            k += 2
            continue
        out.append(tok)
        k += 1

    head = [w for opt in _BASIC_ORDER if opt in basic for w in basic[opt]]
    return ' '.join(head + out)


def with_comment(rule: str, comment: str | None, enabled: bool = True) -> str:
    """Insert ``-m comment --comment "..."`` before `` -j `` as Neutron does."""
    if not comment or not enabled:
        return rule
    text = '-m comment --comment %s' % quote_arg(comment[:256])
    if rule.startswith('-j '):
        return f'{text} {rule}'
    if ' -j ' in rule:
        before, after = rule.split(' -j ', 1)
        return f'{before} {text} -j {after}'
    return f'{rule} {text}'


def normalize_table(spec: TableSpec, version: int) -> TableSpec:
    """``spec`` with every rule in iptables-save's form."""
    return TableSpec(spec.name, {chain: tuple(normalize_rule(r, version) for r in rules)
                                 for chain, rules in spec.chains.items()})


def render_save(tables: Mapping[str, ObservedTable] | tuple[TableSpec, ...]) -> str:
    """A restore/save-like text of ``tables`` (for logs and tests)."""
    lines: list[str] = []
    items = tables.values() if isinstance(tables, Mapping) else tables
    for table in items:
        lines.append(f'*{table.name}')
        lines += [f':{chain}' for chain in table.chains]
        lines += [f'-A {chain} {rule}' for chain, rules in table.chains.items()
                  for rule in rules]
        lines.append('COMMIT')
    return '\n'.join(lines) + '\n'
