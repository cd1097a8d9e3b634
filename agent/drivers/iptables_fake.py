"""An in-memory iptables for unit tests: iptables-save out, iptables-restore -n in.

:func:`apply_restore` gives a restore text the meaning iptables-restore
``--noflush`` gives it on the nft backend, as far as our manager uses it:
``:chain`` creates a chain (and flushes an existing user chain, as the real tool
does), ``-A``, ``-I [n]``, ``-D n``/``-D <rule>``, ``-F`` and ``-X`` with the
real tool's errors (bad index, missing rule or chain, deleting a chain that is
not empty or still jumped to).  A table referenced for the first time gets all
its built-in chains, like iptables-nft.  Each ``COMMIT`` is atomic.

:class:`FakeIptables` also counts its saves and keeps a ruleset generation that
each restore bumps, as nf_tables does (:meth:`FakeIptables.stamp` is a
manager's ``read_stamp``).
"""

from __future__ import annotations

import itertools
import threading

from agent.drivers.iptables_rules import BUILTIN_CHAINS, TABLE_ORDER
from agent.drivers.nft_generation import RulesetStamp

_cookies = itertools.count(1)

State = dict[str, dict[str, list[str]]]    # table -> chain -> rules


class RestoreError(ValueError):
    pass


def render(state: State) -> str:
    """``state`` printed like iptables-save without counters."""
    out = []
    names = [t for t in TABLE_ORDER if t in state] + sorted(set(state) - set(TABLE_ORDER))
    for name in names:
        chains = state[name]
        builtins = [c for c in BUILTIN_CHAINS.get(name, ()) if c in chains]
        users = sorted(c for c in chains if c not in builtins)
        out.append(f'*{name}')
        out += [f':{c} ACCEPT [0:0]' for c in builtins]
        out += [f':{c} - [0:0]' for c in users]
        out += [f'-A {c} {rule}' for c in builtins + users for rule in chains[c]]
        out.append('COMMIT')
    return '\n'.join(out) + '\n' if out else ''


def _chain(table: dict[str, list[str]], name: str, line: str) -> list[str]:
    if name not in table:
        raise RestoreError(f'{line}: no chain/target/match by that name')
    return table[name]


def _apply_line(name: str, table: dict[str, list[str]], line: str) -> None:
    if line.startswith(':'):
        chain = line[1:].split()[0]
        if chain in table and chain not in BUILTIN_CHAINS.get(name, ()):
            table[chain].clear()     # --noflush still flushes a declared user chain
        table.setdefault(chain, [])
        return
    op, chain, *rest = line.split(' ', 2)
    arg = rest[0] if rest else ''
    rules = _chain(table, chain, line)
    if op == '-A':
        rules.append(arg)
    elif op == '-I':
        head, _, rule = arg.partition(' ')
        if head.isdigit():
            index = int(head)
            if not 1 <= index <= len(rules) + 1:
                raise RestoreError(f'{line}: index of insertion too big')
            rules.insert(index - 1, rule)
        else:
            rules.insert(0, arg)
    elif op == '-D':
        if arg.isdigit():
            if not 1 <= int(arg) <= len(rules):
                raise RestoreError(f'{line}: index of deletion too big')
            del rules[int(arg) - 1]
        elif arg in rules:
            rules.remove(arg)
        else:
            raise RestoreError(f'{line}: bad rule (does a matching rule exist?)')
    elif op == '-F':
        rules.clear()
    elif op == '-X':
        if rules:
            raise RestoreError(f'{line}: directory not empty')
        if any(chain in r.split() for c, rs in table.items() if c != chain for r in rs):
            raise RestoreError(f'{line}: device or resource busy')
        del table[chain]
    else:
        raise RestoreError(f'{line}: unknown command')


def apply_restore(state: State, text: str) -> State:
    """The state after ``iptables-restore -n`` of ``text``; raises RestoreError."""
    result = {t: {c: list(r) for c, r in chains.items()} for t, chains in state.items()}
    name = None
    pending: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('*'):
            name = line[1:]
            pending = {c: list(r) for c, r in result.get(name, {}).items()}
            for builtin in BUILTIN_CHAINS.get(name, ()):
                pending.setdefault(builtin, [])
        elif line == 'COMMIT':
            if name is None:
                raise RestoreError('COMMIT outside a table')
            result[name] = pending
            name = None
        elif name is None:
            raise RestoreError(f'{line}: outside a table')
        else:
            _apply_line(name, pending, line)
    if name is not None:
        raise RestoreError(f'table {name} without COMMIT')
    return result


class FakeIptables:
    """An IptablesBackend keeping one namespace's IPv4 and IPv6 tables in memory."""

    def __init__(self, ipv4: State | None = None, ipv6: State | None = None):
        self.state: dict[int, State] = {4: ipv4 or {}, 6: ipv6 or {}}
        self.restores: list[tuple[int, str]] = []
        self.saves = 0
        self.generation = 1         # bumped by each restore (a test: by "someone else")
        self.cookie = next(_cookies)    # this namespace instance
        self._lock = threading.Lock()

    def save(self, version: int) -> str:
        with self._lock:
            self.saves += 1
            return render(self.state[version])

    def restore(self, version: int, text: str) -> None:
        with self._lock:
            self.state[version] = apply_restore(self.state[version], text)
            self.restores.append((version, text))
            self.generation += 1

    def stamp(self, namespace: str | None = None) -> RulesetStamp:
        return RulesetStamp('fake-boot', self.cookie, self.generation)
