"""iptables in one namespace: observe with iptables-save, apply a minimal restore.

One :class:`IptablesManager` per namespace and wrap name.  ``apply(desired)``
runs ``iptables-save`` (and ``ip6tables-save``) in the namespace without
counters, diffs our chains against the desired :class:`Tables`
(:mod:`agent.drivers.iptables_diff`) and feeds only the differences to
``iptables-restore -n``.  When nothing differs no restore process is spawned.

Re-checks without a process: after each apply (or a save that found nothing to
do) the manager records the namespace's ruleset stamp
(:mod:`agent.drivers.nft_generation`: the nf_tables generation, which any
change by anyone bumps) with a digest of the desired tables, in memory and in
``stamp_file`` for the next agent.  While the stamp and the digest are the
same, the namespace provably holds what was applied and :meth:`verify` and
:meth:`apply` return without saving: one netlink round trip instead of two
save processes.  A namespace the caller just created is known empty by its
generation (1: nothing was ever committed there), so its first apply saves
nothing either.

The shell equivalent of an apply is logged at debug level.
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
from collections.abc import Callable
from typing import Protocol

from agent.common import fileutils
from agent.drivers import netns, nft_generation
from agent.drivers.nft_generation import RulesetStamp
from agent.drivers.iptables_diff import plan_restore
from agent.drivers.iptables_rules import (
    DHCP_WRAP, L3_WRAP, Tables, normalize_table, parse_save)

LOG = logging.getLogger(__name__)

__all__ = ['ApplyResult', 'CommandBackend', 'IptablesBackend', 'DHCP_WRAP', 'IptablesError', 'IptablesManager',
           'IptablesNotConverged', 'L3_WRAP', 'Verification', 'restore_calls']

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
class Verification:
    """Whether our chains hold the desired tables; ``saved`` is what
    iptables-save printed per IP version, None when the stamp proved it."""
    converged: bool
    saved: dict[int, str] | None = None


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
        # What verify() saved that was not converged, and the stamp then: the
        # apply that follows compares with it instead of saving again.
        self._last_save: tuple[RulesetStamp, dict[int, str]] | None = None
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

    def forget(self) -> None:
        """Nothing recorded is trusted any more (the next check saves)."""
        with self._lock:
            self._applied, self._loaded = None, True

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

    def _plan_saved(self, desired: Tables, saved_all: dict[int, str]) -> dict[int, str]:
        texts = {}
        for version, saved in sorted(saved_all.items()):
            specs = tuple(normalize_table(s, version) for s in desired.by_version(version))
            text = plan_restore(self.wrap, specs, parse_save(saved))
            if text:
                texts[version] = text
        return texts

    def plan(self, desired: Tables, empty: bool = False) -> dict[int, str]:
        """Restore texts needed per IP version (empty dict when converged).

        ``empty``: the namespace was created just now by the caller and has no
        rules yet, so there is nothing to save.
        """
        saved_all = {v: '' for v in self._versions()} if empty else self._save_all()
        return self._plan_saved(desired, saved_all)

    def verify(self, desired: Tables) -> Verification:
        """Whether our chains hold ``desired``: by the stamp when it still is the
        one recorded for ``desired``, else by saving and comparing."""
        with self._lock:
            digest = self.digest(desired)
            stamp = self._stamp()
            if self._proven(digest, stamp):
                return Verification(True)
            saved = self._save_all()
            converged = not self._plan_saved(desired, saved)
            if converged:
                self._record(digest, stamp)
            self._last_save = None if converged or stamp is None else (stamp, saved)
            return Verification(converged, saved)

    def _saved_for_apply(self, stamp: RulesetStamp | None) -> dict[int, str]:
        """verify()'s save if nothing was committed since, else a new one."""
        last, self._last_save = self._last_save, None
        if stamp is not None and last is not None and last[0] == stamp:
            return last[1]
        return self._save_all()

    def apply(self, desired: Tables, empty: bool = False) -> ApplyResult:
        """Make our chains in the namespace equal ``desired``; minimal and idempotent.

        ``empty`` as in :meth:`plan`, trusted only if the namespace's generation
        agrees where the kernel tells it (the debug check of a second apply
        still saves).
        """
        with self._lock:
            start = time.monotonic()
            digest = self.digest(desired)
            stamp = self._stamp()
            if stamp is not None and stamp.generation != FRESH_GENERATION:
                empty = False
            if not empty and self._proven(digest, stamp):
                return ApplyResult(self.namespace or '', (), time.monotonic() - start)
            saved = ({v: '' for v in self._versions()} if empty
                     else self._saved_for_apply(stamp))
            texts = self._plan_saved(desired, saved)
            for version, text in texts.items():
                LOG.debug('%s: ip netns exec %s %s -n <<EOF\n%sEOF', self.namespace,
                          self.namespace, _BINARIES[version][1], text)
                self.backend.restore(version, text)
            # Read right after the restores: a change by someone else between
            # them and this read is the only one the stamp would not show.
            self._record(digest, self._stamp() if texts else stamp)
            result = ApplyResult(self.namespace or '', tuple(texts.items()),
                                 time.monotonic() - start)
            if self.debug and texts:
                again = self.plan(desired)
                if again:
                    raise IptablesNotConverged(
                        f'{self.namespace}: second apply is not a no-op:\n'
                        + '\n'.join(again.values()))
            return result


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
