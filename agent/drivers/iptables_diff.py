"""Pure diff of desired iptables tables against iptables-save: the minimal restore.

``plan_restore(wrap, desired, observed)`` returns the text for
``iptables-restore -n`` (no flush) that brings our chains and rules to the
desired state and touches nothing else, or ``''`` when nothing differs;
``restore_texts(wrap, desired, saved)`` does it for each IP version saved.

* Chains named ``<wrap>-*`` are wholly ours: new ones are declared
  (``:chain - [0:0]``), changed ones get index-based ``-D``/``-I`` from a
  sequence diff (or ``-F`` and re-add when that is shorter), unwanted ones are
  flushed and deleted (``-X``) after the rules jumping to them are gone.
* Built-in chains and the shared chains (neutron-filter-top,
  neutron-postrouting-bottom) hold our rules at their top; a rule is ours when
  it names one of our chains or a shared chain.  Foreign rules are never deleted.
* A chain whose rules already match is not mentioned, so its counters survive.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence

from agent.drivers.iptables_rules import (
    BUILTIN_CHAINS, SHARED_CHAINS, TABLE_ORDER, ObservedTable, Tables, TableSpec,
    normalize_table, parse_save)

RestoreTexts = tuple[tuple[int, str], ...]    # (IP version, iptables-restore -n input)


@dataclasses.dataclass(frozen=True, slots=True)
class Ownership:
    """Which chains and rules a manager with wrap name ``wrap`` owns."""
    wrap: str

    def owns_chain(self, chain: str) -> bool:
        return chain.startswith(self.wrap + '-')

    def is_partial(self, chain: str, table: str) -> bool:
        return chain in SHARED_CHAINS or chain in BUILTIN_CHAINS.get(table, ())

    def owns_rule(self, rule: str) -> bool:
        return any(self.owns_chain(word) or word in SHARED_CHAINS
                   for word in rule.split())


def _index_edits(chain: str, current: Sequence[str], target: Sequence[str],
                 delete_by_rule: bool = False) -> list[str]:
    """``-D``/``-I`` commands turning ``current`` into ``target`` (1-based indexes).

    Opcodes are applied from the end of the chain, so earlier indexes stay valid.
    With ``delete_by_rule`` a deletion names the rule instead of its index (the
    caller guarantees that rule is unique in the chain).
    """
    if not current:     # a new chain, or a new namespace's: no sequence diff (~40 us)
        return [f'-I {chain} {1 + n} {rule}' for n, rule in enumerate(target)]
    matcher = difflib.SequenceMatcher(None, list(current), list(target), autojunk=False)
    edits: list[str] = []
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag == 'equal':
            continue
        if tag in ('delete', 'replace'):
            edits += [f'-D {chain} {current[k] if delete_by_rule else k + 1}'
                      for k in range(i2 - 1, i1 - 1, -1)]
        if tag in ('insert', 'replace'):
            edits += [f'-I {chain} {i1 + 1 + n} {rule}'
                      for n, rule in enumerate(target[j1:j2])]
    return edits


def _deleted(current: Sequence[str], target: Sequence[str]) -> list[str]:
    if not current:
        return []
    matcher = difflib.SequenceMatcher(None, list(current), list(target), autojunk=False)
    return [rule for tag, i1, i2, _, _ in matcher.get_opcodes()
            if tag in ('delete', 'replace') for rule in current[i1:i2]]


def _owned_chain_edits(chain: str, current: Sequence[str], target: Sequence[str]) -> list[str]:
    if list(current) == list(target):
        return []
    edits = _index_edits(chain, current, target)
    rewrite = [f'-F {chain}'] + [f'-A {chain} {rule}' for rule in target]
    return rewrite if len(rewrite) < len(edits) else edits


def _partial_chain_edits(chain: str, current: Sequence[str], ours: Sequence[str],
                         own: Ownership) -> list[str]:
    """Our rules at the top of a chain we share with others; foreign ones stay.

    Deletions name the rule, never an index: a foreign writer changing the chain
    between our save and our restore cannot make us delete its rules.
    """
    foreign = [rule for rule in current if not own.owns_rule(rule)]
    target = list(ours) + foreign
    if list(current) == target:
        return []
    deleted = _deleted(current, target)
    if all(own.owns_rule(rule) and current.count(rule) == 1 for rule in deleted):
        return _index_edits(chain, current, target, delete_by_rule=True)
    # Reordering around foreign rules, or duplicates: remove every rule of ours,
    # then put the wanted ones back on top.
    edits = [f'-D {chain} {rule}' for rule in current if own.owns_rule(rule)]
    return edits + [f'-I {chain} {n + 1} {rule}' for n, rule in enumerate(ours)]


def _referenced_by_foreign(chain: str, observed: ObservedTable, own: Ownership) -> bool:
    """True if a rule in a foreign chain jumps to ``chain`` (so -X would fail)."""
    for name, rules in observed.chains.items():
        if own.owns_chain(name) or own.is_partial(name, observed.name):
            continue
        if any(chain in rule.split() for rule in rules):
            return True
    return False


def plan_table(own: Ownership, desired: TableSpec | None,
               observed: ObservedTable | None) -> list[str]:
    """Restore lines (without ``*table``/``COMMIT``) for one table; [] if converged."""
    name = desired.name if desired is not None else observed.name  # type: ignore[union-attr]
    want: Mapping[str, tuple[str, ...]] = desired.chains if desired is not None else {}
    have: Mapping[str, tuple[str, ...]] = observed.chains if observed is not None else {}
    empty = ObservedTable(name, {})

    declares: list[str] = []
    edits: list[str] = []
    removals: list[str] = []
    for chain, rules in want.items():
        partial = own.is_partial(chain, name)
        if not partial and not own.owns_chain(chain):
            raise ValueError(f'{chain!r} in table {name} is not a chain of {own.wrap}')
        exists = chain in have
        if not exists and chain not in BUILTIN_CHAINS.get(name, ()):
            declares.append(f':{chain} - [0:0]')
        current = have.get(chain, ())
        if partial:
            edits += _partial_chain_edits(chain, current, rules, own)
        else:
            edits += _owned_chain_edits(chain, current, rules)

    for chain, current in have.items():
        if chain in want:
            continue
        if own.owns_chain(chain) or chain in SHARED_CHAINS or \
                chain in BUILTIN_CHAINS.get(name, ()) or chain in (observed or empty).builtin:
            if own.owns_chain(chain):
                in_use = _referenced_by_foreign(chain, observed or empty, own)
                if current:
                    removals.append(f'-F {chain}')
                if not in_use:
                    removals.append(f'-X {chain}')
            else:
                # Built-in or shared chain: drop only our rules from it.
                edits += _partial_chain_edits(chain, current, (), own)
                foreign_left = any(not own.owns_rule(r) for r in current)
                if chain in SHARED_CHAINS and not foreign_left and \
                        not _referenced_by_foreign(chain, observed or empty, own):
                    removals.append(f'-X {chain}')
    # Every chain is emptied before any is deleted: -X fails on a chain still
    # jumped to from another chain of ours that is going away too.
    flushes = [line for line in removals if line.startswith('-F ')]
    deletes = [line for line in removals if line.startswith('-X ')]
    return declares + edits + flushes + deletes


def plan_restore(wrap: str, desired: Sequence[TableSpec],
                 observed: Mapping[str, ObservedTable]) -> str:
    """The ``iptables-restore -n`` input for one IP version, or '' when converged.

    Tables we hold chains or rules in but no longer want are cleaned of them.
    """
    own = Ownership(wrap)
    wanted = {spec.name: spec for spec in desired}
    blocks: list[str] = []
    names = [t for t in TABLE_ORDER if t in wanted or t in observed]
    names += sorted(set(wanted) - set(names))
    for name in names:
        spec = wanted.get(name)
        seen = observed.get(name)
        if spec is None and not _holds_ours(own, seen):
            continue
        lines = plan_table(own, spec, seen)
        if lines:
            blocks.append('\n'.join([f'*{name}', *lines, 'COMMIT']))
    if not blocks:
        return ''
    return '# Generated by netnode iptables manager\n' + '\n'.join(blocks) + '\n'


def _holds_ours(own: Ownership, table: ObservedTable | None) -> bool:
    if table is None:
        return False
    return any(own.owns_chain(chain) or chain in SHARED_CHAINS or
               any(own.owns_rule(rule) for rule in rules)
               for chain, rules in table.chains.items())


def restore_texts(wrap: str, desired: Tables, saved: Mapping[int, str]) -> RestoreTexts:
    """The restore input per IP version in ``saved`` (version -> iptables-save
    output, '' for a namespace known empty) that makes our chains hold
    ``desired``; versions already there are left out (all: ``()``)."""
    texts = []
    for version, text in sorted(saved.items()):
        specs = tuple(normalize_table(s, version) for s in desired.by_version(version))
        restore = plan_restore(wrap, specs, parse_save(text))
        if restore:
            texts.append((version, restore))
    return tuple(texts)
