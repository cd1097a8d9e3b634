"""iptables of ``qdhcp-<net>`` (neutron-agent-rpc.md §6.5 "iptables in qdhcp"), pure.

What Neutron's DHCP agent leaves there: an IptablesManager with the wrap name
``neutron-dhcp-age`` built with ``nat=False`` (the wrapped built-ins of filter,
raw and mangle, ``neutron-filter-top`` with its ``local`` chain, the ``mark``
chain of IPv4 mangle, and of nat only the wrapped PREROUTING), plus the rule
that fills in the UDP checksum of DHCP replies (``--dport 68``; ``546`` for
DHCPv6), which virtio guests with checksum offload would otherwise drop.

:func:`dhcp_tables` is pure; :class:`QdhcpFirewall` applies it through the
per-namespace :class:`~agent.drivers.iptables.IptablesManager` once per namespace
instance (a namespace created again gets its rules again), so a converged
network costs a ``stat`` and no iptables process.  What was applied is also
recorded in a small file beside the network's dnsmasq files (the namespace's
inode and a digest of the tables): a restarted agent trusts a namespace whose
record matches instead of running iptables-save and ip6tables-save in it (for
1000 networks that is 2000 processes of a restart's re-check).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable

from agent.common import fileutils

from agent.dhcp.steps import netns_inode
from agent.drivers.iptables_rules import DHCP_WRAP, FILTER_TOP, Tables, TableSpec, wrap_chain

LOG = logging.getLogger(__name__)

DHCP_CLIENT_PORT = {4: 68, 6: 546}
_WRAPPED = {'filter': ('INPUT', 'OUTPUT', 'FORWARD'),
            'raw': ('PREROUTING', 'OUTPUT'),
            'mangle': ('PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'),
            'nat': ('PREROUTING',)}


def checksum_rule(version: int) -> str:
    return f'-p udp -m udp --dport {DHCP_CLIENT_PORT[version]} -j CHECKSUM --checksum-fill'


def _tables(version: int, wrap: str) -> tuple[TableSpec, ...]:
    def w(chain: str) -> str:
        return wrap_chain(wrap, chain)

    chains: dict[str, dict[str, list[str]]] = {}
    for table, builtins in _WRAPPED.items():
        chains[table] = {}
        for builtin in builtins:
            chains[table][builtin] = [f'-j {w(builtin)}']
            chains[table][w(builtin)] = []
    chains['filter']['FORWARD'].insert(0, f'-j {FILTER_TOP}')
    chains['filter']['OUTPUT'].insert(0, f'-j {FILTER_TOP}')
    chains['filter'][FILTER_TOP] = [f'-j {w("local")}']
    chains['filter'][w('local')] = []
    if version == 4:
        chains['mangle'][w('PREROUTING')].append(f'-j {w("mark")}')
        chains['mangle'][w('mark')] = []
    chains['mangle'][w('POSTROUTING')].append(checksum_rule(version))
    return tuple(TableSpec(table, {c: tuple(r) for c, r in by_chain.items()})
                 for table, by_chain in chains.items())


def dhcp_tables(ipv6: bool = True, wrap: str = DHCP_WRAP) -> Tables:
    """The desired tables of a qdhcp namespace (IPv6 ones only when ``ipv6``)."""
    return Tables(_tables(4, wrap), _tables(6, wrap) if ipv6 else ())


def digest(tables: Tables) -> str:
    """A short stable digest of ``tables`` (the record names what was applied)."""
    lines = [f'{version} {spec.name} {chain} {rule}'
             for version in (4, 6) for spec in tables.by_version(version)
             for chain, rules in spec.chains.items() for rule in ('', *rules)]
    return hashlib.sha256('\n'.join(lines).encode()).hexdigest()[:16]


class QdhcpFirewall:
    """Applies :func:`dhcp_tables` in each qdhcp namespace it is shown.

    ``manager(namespace)`` returns an IptablesManager (a real one, or one over
    :class:`agent.drivers.iptables_fake.FakeIptables` in unit tests);
    ``record(namespace)`` the path of the namespace's record of what was applied
    (None: nothing recorded, a restarted agent observes with iptables-save).
    """

    def __init__(self, manager: Callable[[str], object], ipv6: bool = True,
                 inode: Callable[[str], int | None] | None = None,
                 record: Callable[[str], str | None] = lambda ns: None):
        self._manager = manager
        self._tables = dhcp_tables(ipv6)
        self._digest = digest(self._tables)
        self._inode = inode or (lambda ns: netns_inode(f'/run/netns/{ns}'))
        self._record = record
        self._applied: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def _recorded(self, namespace: str, stamp: str) -> bool:
        path = self._record(namespace)
        return path is not None and fileutils.read_text(path, errors='replace') == stamp

    def ensure(self, namespace: str, created: bool = False) -> bool:
        """Apply the rules unless done for this very namespace; True if applied.

        ``created``: the caller made the namespace just now, so it holds no rules
        and nothing needs saving first (two processes less); a record of an
        earlier namespace is not trusted then (inode numbers are reused).
        """
        inode = self._inode(namespace)
        with self._lock:
            if namespace in self._applied and self._applied[namespace] == inode:
                return False
        stamp = f'{inode} {self._digest}\n'
        if inode is not None and not created and self._recorded(namespace, stamp):
            with self._lock:
                self._applied[namespace] = inode
            return False
        result = self._manager(namespace).apply(self._tables, created)
        if result.changed:
            LOG.debug('%s: iptables set (%d restore(s) in %.1f ms)', namespace,
                      result.restores, result.seconds * 1000)
        path = self._record(namespace)
        if path is not None and inode is not None:
            try:
                fileutils.write_atomic(path, stamp, mode=0o600)
            except OSError as exc:     # the next restart observes with iptables-save
                LOG.warning('%s: cannot record the iptables applied: %s', namespace, exc)
        with self._lock:
            self._applied[namespace] = inode
        return True

    def forget(self, namespace: str) -> None:
        with self._lock:
            self._applied.pop(namespace, None)
