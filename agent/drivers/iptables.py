"""iptables in one namespace: observe with iptables-save, apply a minimal restore.

One :class:`IptablesManager` per namespace and wrap name (:class:`IptablesManagers`
keeps them).  ``observe(desired)`` runs ``iptables-save`` (and
``ip6tables-save``) in the namespace without counters and diffs our chains
against the desired :class:`Tables` (:mod:`agent.drivers.iptables_diff`): the
result is the input for ``iptables-restore -n`` per IP version, empty when
nothing differs.  ``restore(texts)`` feeds exactly that (a plan carries it, so
its debug log shows the rules); ``apply(desired)`` is the two in a row.  One
diff per change: the restore does not save and diff again unless the namespace
changed in between.

Re-checks without a process: after each restore (or a save that found nothing
to do) the manager records the namespace's ruleset stamp
(:mod:`agent.drivers.nft_generation`: the nf_tables generation, which any
change by anyone bumps) with a digest of the desired tables, in memory and in
``stamp_file`` for the next agent.  While the stamp and the digest are the
same, the namespace provably holds what was applied and :meth:`observe` finds
nothing without saving: one netlink round trip instead of two save processes.
The same stamp tells :meth:`restore` whether anything was committed since the
observation.  A namespace the caller creates is known empty (its generation is
1 where the kernel tells: nothing was ever committed there), so its first
observation saves nothing either.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from agent.common import fileutils
from agent.drivers import commands, netns, nft_generation
from agent.drivers.iptables_diff import RestoreTexts, restore_texts
from agent.drivers.iptables_rules import DHCP_WRAP, L3_WRAP, Tables
from agent.drivers.nft_generation import RulesetStamp

LOG = logging.getLogger(__name__)

__all__ = ['ApplyResult', 'CommandBackend', 'IptablesBackend', 'DHCP_WRAP', 'IptablesError',
           'IptablesManager', 'IptablesManagers', 'IptablesNotConverged', 'L3_WRAP',
           'Observation', 'RestoreTexts', 'restore_calls']

XTABLES_LOCK_EXIT = 4
FRESH_GENERATION = 1        # nf_tables generation of a namespace nothing committed in
LOCK_WAIT_SECONDS = 10
LOCK_WAIT_INTERVAL_US = 200000
_BINARIES = {4: ('iptables-save', 'iptables-restore'),
             6: ('ip6tables-save', 'ip6tables-restore')}

_counts_lock = threading.Lock()
_restore_counts: dict[str, int] = {}


def restore_calls(namespace: str) -> int:
    """How many iptables-restore/ip6tables-restore processes ran in ``namespace``."""
    with _counts_lock:
        return _restore_counts.get(namespace, 0)


def _count_restore(namespace: str) -> None:
    with _counts_lock:
        _restore_counts[namespace] = _restore_counts.get(namespace, 0) + 1


class IptablesError(RuntimeError):
    def __init__(self, argv, returncode, stderr, stdin=''):
        super().__init__(f'{" ".join(argv)} exited {returncode}: {stderr.strip()}'
                         + (f'\ninput was:\n{stdin}' if stdin else ''))
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


class IptablesNotConverged(RuntimeError):
    """Debug mode: a second apply right after the first still had work to do."""


@dataclasses.dataclass(frozen=True, slots=True)
class ApplyResult:
    namespace: str
    restore_input: tuple[tuple[int, str], ...]   # (ip version, restore text) sent
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.restore_input)

    @property
    def restores(self) -> int:
        return len(self.restore_input)


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """What an apply of the desired tables would feed ``iptables-restore -n``
    (``texts``: per IP version, none when our chains hold them already) and what
    ``iptables-save`` printed per IP version (None when nothing was saved: the
    ruleset stamp proved the rules, or the namespace is new)."""
    texts: RestoreTexts
    saved: Mapping[int, str] | None = None

    @property
    def converged(self) -> bool:
        return not self.texts


@dataclasses.dataclass(frozen=True, slots=True)
class _Pending:
    """An observation that found work, until its texts are restored."""
    texts: RestoreTexts
    digest: str
    desired: Tables
    stamp: RulesetStamp | None      # when it saved
    empty: bool                     # planned against a namespace taken for empty


class IptablesBackend(Protocol):
    """Where save and restore happen: processes in a namespace, or a fake."""

    def save(self, version: int) -> str: ...

    def restore(self, version: int, text: str) -> None: ...


def _run_here(argv: list[str], stdin: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)


class CommandBackend:
    """``iptables-save`` / ``iptables-restore -n`` processes in a namespace.

    They are forked from a thread inside the namespace: where ``ip netns exec``
    would put them, without its own process and mount namespace (~2 ms of CPU
    and ~10 ms less per command).
    """

    def __init__(self, namespace: str | None):
        self.namespace = namespace
        self._wait_flags: tuple[str, ...] = ()

    def _argv(self, *argv: str) -> list[str]:
        """The shell equivalent (for messages)."""
        if self.namespace is None:
            return list(argv)
        return ['ip', 'netns', 'exec', self.namespace, *argv]

    def _run(self, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
        return netns.run_in(self.namespace, _run_here, argv, stdin)

    def save(self, version: int) -> str:
        """``iptables-save`` (no counters) of one IP version in the namespace."""
        binary = _BINARIES[version][0]
        res = self._run([binary])
        if res.returncode != 0:
            raise IptablesError(self._argv(binary), res.returncode, res.stderr)
        return res.stdout

    def restore(self, version: int, text: str) -> None:
        """Feed ``text`` to ``iptables-restore -n``; wait for the xtables lock if busy."""
        binary = _BINARIES[version][1]
        while True:
            argv = [binary, '-n', *self._wait_flags]
            res = self._run(argv, text)
            _count_restore(self.namespace or '')
            # Exit 4 is also the nft backend's "commit failed": only the lock retries.
            if res.returncode == XTABLES_LOCK_EXIT and not self._wait_flags \
                    and 'lock' in res.stderr:
                LOG.info('%s: xtables lock busy, retrying with -w', self.namespace)
                self._wait_flags = ('-w', str(LOCK_WAIT_SECONDS),
                                    '-W', str(LOCK_WAIT_INTERVAL_US))
                continue
            if res.returncode != 0:
                raise IptablesError(self._argv(*argv), res.returncode, res.stderr, text)
            return


# The restore texts of an empty namespace, by digest: the same for every qdhcp
# namespace (a diff each, ~0.2-0.8 ms of a new network's CPU).  Few entries: the
# L3 agent's tables differ per router and rarely repeat.
_EMPTY_TEXTS_CACHED = 16
_empty_texts: dict[str, RestoreTexts] = {}
_empty_texts_lock = threading.Lock()


def _texts_of_empty(digest: str, make: Callable[[], RestoreTexts]) -> RestoreTexts:
    with _empty_texts_lock:
        texts = _empty_texts.get(digest)
    if texts is None:
        texts = make()
        with _empty_texts_lock:
            if len(_empty_texts) >= _EMPTY_TEXTS_CACHED:
                del _empty_texts[next(iter(_empty_texts))]      # the oldest
            _empty_texts[digest] = texts
    return texts


class IptablesManager:
    """Our chains and rules in one namespace (``None``: the current namespace).

    ``backend`` defaults to processes in the namespace; unit tests pass
    :class:`agent.drivers.iptables_fake.FakeIptables`.  ``read_stamp`` gives the
    namespace's ruleset stamp (default: the kernel's, with the default backend;
    none with another backend), ``stamp_file`` where the last one applied is
    kept for the next agent (see the module docstring).
    """

    def __init__(self, namespace: str | None, wrap: str = L3_WRAP, *,
                 debug: bool = False, ipv6: bool = True,
                 backend: IptablesBackend | None = None,
                 read_stamp: Callable[[str | None], RulesetStamp | None] | None = None,
                 stamp_file: str | None = None):
        self.namespace = namespace
        self.wrap = wrap
        self.debug = debug
        self.ipv6 = ipv6
        self.backend = backend if backend is not None else CommandBackend(namespace)
        if read_stamp is None and backend is None:
            read_stamp = nft_generation.read
        self._read_stamp = read_stamp
        self._stamp_file = stamp_file
        self._applied: tuple[str, RulesetStamp] | None = None   # (digest, stamp)
        self._loaded = stamp_file is None
        # The last observation that found work: restore() feeds its texts
        # unless the namespace changed since.
        self._pending: _Pending | None = None
        self._lock = threading.Lock()

    # -- the ruleset stamp --------------------------------------------------------

    def digest(self, desired: Tables) -> str:
        """Of everything that shapes what an apply of ``desired`` leaves."""
        text = repr((self.wrap, self._versions(), desired))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _stamp(self) -> RulesetStamp | None:
        if self._read_stamp is None:
            return None
        try:
            return self._read_stamp(self.namespace)
        except Exception as exc:  # noqa: BLE001 - then saving tells
            LOG.debug('%s: no ruleset stamp: %s', self.namespace, exc)
            return None

    def _recorded(self) -> tuple[str, RulesetStamp] | None:
        if not self._loaded:
            self._loaded = True
            try:
                with open(self._stamp_file) as f:
                    digest, rest = f.read().split(' ', 1)
                self._applied = (digest, RulesetStamp.parse(rest))
            except (OSError, ValueError):
                pass        # none yet, or garbage: the next check saves
        return self._applied

    def _record(self, digest: str, stamp: RulesetStamp | None) -> None:
        if stamp is None or self._applied == (digest, stamp):
            return
        self._applied = (digest, stamp)
        if self._stamp_file is not None:
            _write_stamp(self._stamp_file, f'{digest} {stamp.dump()}\n')

    def _proven(self, digest: str, stamp: RulesetStamp | None) -> bool:
        return stamp is not None and self._recorded() == (digest, stamp)

    # -- reconcile ------------------------------------------------------------

    def _versions(self) -> tuple[int, ...]:
        return (4, 6) if self.ipv6 else (4,)

    def _save_all(self) -> dict[int, str]:
        """iptables-save and ip6tables-save, run side by side."""
        saved: dict[int, str] = {}
        errors: list[BaseException] = []

        def save_into(version: int) -> None:
            try:
                saved[version] = self.backend.save(version)
            except BaseException as exc:   # re-raised in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=save_into, args=(v,), daemon=True)
                   for v in self._versions()[1:]]
        for thread in threads:
            thread.start()
        save_into(self._versions()[0])
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return saved

    def _texts(self, desired: Tables, saved: dict[int, str]) -> RestoreTexts:
        return restore_texts(self.wrap, desired, saved)

    def observe(self, desired: Tables, empty: bool = False) -> Observation:
        """What :meth:`restore` must be fed for our chains to hold ``desired``.

        Nothing when the ruleset stamp is still the one recorded for
        ``desired``; else the difference to what iptables-save prints now.
        ``empty``: the caller creates (or just created) the namespace, so it holds
        no rules and nothing is saved (``restore`` checks that it still holds none).
        """
        with self._lock:
            digest = self.digest(desired)
            if empty:
                # Observed again (a reconcile retried before the namespace was
                # made): the same texts (a diff of a router's tables costs ~0.5 ms).
                if self._pending is None or not self._pending.empty \
                        or self._pending.digest != digest:
                    texts = _texts_of_empty(digest, lambda: self._texts(
                        desired, {v: '' for v in self._versions()}))
                    self._pending = _Pending(texts, digest, desired, None, True)
                return Observation(self._pending.texts)
            stamp = self._stamp()
            if self._proven(digest, stamp):
                self._pending = None
                return Observation(())
            saved = self._save_all()
            texts = self._texts(desired, saved)
            if texts:
                self._pending = _Pending(texts, digest, desired, stamp, False)
            else:
                self._pending = None
                self._record(digest, stamp)
            return Observation(texts, saved)

    def _still_valid(self, pending: _Pending, stamp: RulesetStamp | None) -> bool:
        """Whether the namespace holds what ``pending`` was planned against."""
        if pending.empty:
            return stamp is None or stamp.generation == FRESH_GENERATION
        return stamp == pending.stamp

    def restore(self, texts: RestoreTexts) -> ApplyResult:
        """Feed ``texts`` (from :meth:`observe`) to ``iptables-restore -n``.

        When the ruleset stamp shows a commit in the namespace since that
        observation (or a namespace taken for empty is not), the texts may no
        longer fit: the desired tables are diffed again with a new save.
        Texts of another observation are fed as they are, and recorded as
        nothing (the next check saves).
        """
        with self._lock:
            start = time.monotonic()
            pending, self._pending = self._pending, None
            if pending is not None and pending.texts != texts:
                pending = None
            stamp = self._stamp()
            if pending is not None and not self._still_valid(pending, stamp):
                texts = (() if self._proven(pending.digest, stamp)
                         else self._texts(pending.desired, self._save_all()))
                LOG.debug('%s: the ruleset changed since it was observed; restoring:\n%s',
                          self.namespace, '\n'.join(
                              commands.iptables_restore(self.namespace, v, t)
                              for v, t in texts) or 'nothing')
            for version, text in texts:
                self.backend.restore(version, text)
            if pending is not None:
                # Read right after the restores: a change by someone else between
                # them and this read is the only one the stamp would not show.
                self._record(pending.digest, self._stamp() if texts else stamp)
            result = ApplyResult(self.namespace or '', tuple(texts), time.monotonic() - start)
            if self.debug and texts and pending is not None:
                again = self._texts(pending.desired, self._save_all())
                if again:
                    raise IptablesNotConverged(
                        f'{self.namespace}: second apply is not a no-op:\n'
                        + '\n'.join(text for _, text in again))
            return result

    def apply(self, desired: Tables, empty: bool = False) -> ApplyResult:
        """Make our chains in the namespace equal ``desired``: :meth:`observe`,
        then :meth:`restore` what it found (minimal and idempotent)."""
        return self.restore(self.observe(desired, empty).texts)


class IptablesManagers:
    """The manager of each namespace, made by ``factory`` at its first use."""

    def __init__(self, factory: Callable[[str], IptablesManager]):
        self._factory = factory
        self._managers: dict[str, IptablesManager] = {}
        self._lock = threading.Lock()

    def __call__(self, namespace: str) -> IptablesManager:
        with self._lock:
            manager = self._managers.get(namespace)
            if manager is None:
                manager = self._managers[namespace] = self._factory(namespace)
            return manager

    def forget(self, namespace: str) -> None:
        """The namespace is gone (a new one of that name gets a new manager)."""
        with self._lock:
            self._managers.pop(namespace, None)


def _write_stamp(path: str, content: str) -> None:
    """Atomically (a temp file named as :mod:`agent.common.fileutils` names them,
    so a killed write is swept), without fsync: a stamp lost in a crash costs
    one save."""
    directory = os.path.dirname(path)
    try:
        fileutils.ensure_dir(directory)
        fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + fileutils.TEMP_MARK,
                                   dir=directory)
        try:
            with os.fdopen(fd, 'w') as f:
                f.write(content)
            os.replace(tmp, path)
        except OSError:
            fileutils.remove(tmp)
            raise
    except OSError as exc:
        LOG.warning('cannot keep the iptables stamp in %s (the next start saves '
                    'instead): %s', path, exc)
