"""iptables of ``qdhcp-<net>`` (neutron-agent-rpc.md §6.5 "iptables in qdhcp"), pure.

What Neutron's DHCP agent leaves there: an IptablesManager with the wrap name
``neutron-dhcp-age`` built with ``nat=False`` (the wrapped built-ins of filter,
raw and mangle, ``neutron-filter-top`` with its ``local`` chain, the ``mark``
chain of IPv4 mangle, and of nat only the wrapped PREROUTING), plus the rule
that fills in the UDP checksum of DHCP replies (``--dport 68``; ``546`` for
DHCPv6), which virtio guests with checksum offload would otherwise drop.

:func:`dhcp_tables` is pure; :class:`QdhcpFirewall` applies it through the
namespace's :class:`~agent.drivers.iptables.IptablesManager`, as the L3 agent
applies a router's rules: the manager's ruleset stamp (kept in
``<state_path>/dhcp/<network>/iptables`` for the next agent) makes a re-check
of a converged network one netlink round trip and no iptables process, also
after a restart (for 1000 networks, 2000 iptables-save processes less).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent.drivers import commands
from agent.drivers.iptables_rules import DHCP_WRAP, FILTER_TOP, Tables, TableSpec, wrap_chain

if TYPE_CHECKING:
    from agent.drivers.iptables import IptablesManagers

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


class QdhcpFirewall:
    """Applies :func:`dhcp_tables` in each qdhcp namespace it is shown.

    ``managers(namespace)`` gives the namespace's IptablesManager (a real one, or
    one over :class:`agent.drivers.iptables_fake.FakeIptables` in unit tests).
    """

    def __init__(self, managers: IptablesManagers, ipv6: bool = True):
        self._managers = managers
        self._tables = dhcp_tables(ipv6)

    def ensure(self, namespace: str, created: bool = False) -> bool:
        """Make the rules hold in the namespace; True if they had to be restored.

        ``created``: the caller made the namespace just now, so it holds no rules
        and nothing needs saving first (two processes less).
        """
        manager = self._managers(namespace)
        texts = manager.observe(self._tables, created).texts
        if not texts:
            return False
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug('%s: %s', namespace, '\n'.join(
                commands.iptables_restore(namespace, v, t) for v, t in texts))
        result = manager.restore(texts)
        LOG.debug('%s: iptables set (%d restore(s) in %.1f ms)', namespace,
                  result.restores, result.seconds * 1000)
        return True

    def forget(self, namespace: str) -> None:
        """The namespace is gone."""
        self._managers.forget(namespace)
