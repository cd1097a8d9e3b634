"""Network namespaces the way iproute2 makes them, without forking Python.

``ip netns add X`` = a thread ``unshare(CLONE_NEWNET)``s and bind-mounts its own
``/proc/thread-self/ns/net`` on ``/run/netns/X`` (``/run/netns`` being a shared
mount).  Work inside a namespace runs in a short-lived thread that ``setns()``es
into it (:func:`run_in`); the process's main thread never changes namespace.
Netlink work for a namespace goes to that namespace's worker thread
(:func:`call_netlink`), which stays inside it and keeps one ``IPRoute``; calls
for one namespace are serialised, different namespaces run in parallel. Before
each call the namespace file's inode is checked, so a namespace deleted and
re-created under the same name gets a fresh worker.  Changes are not logged
here (see :mod:`agent.drivers`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import errno
import itertools
import os
import queue
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from agent.drivers.netlink_api import IPRoute, NetlinkError

from agent.drivers import rtnl_dump
from agent.drivers import rtnl_requests
from agent.drivers.state import DriverError, NamespaceNotEmpty, NamespaceNotFound

NETNS_RUN_DIR = '/run/netns'
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f'{what}: {os.strerror(err)}')


def _mount(src: str, target: str, flags: int, what: str) -> None:
    _check(_libc.mount(src.encode(), target.encode(), b'none', flags, None), what)


def path_of(name: str) -> str:
    if not name or '/' in name or name in ('.', '..'):
        raise ValueError(f'invalid namespace name {name!r}')
    return os.path.join(NETNS_RUN_DIR, name)


_run_dir_lock = threading.Lock()
_run_dir_ready = False


def _ensure_run_dir() -> None:
    """Make /run/netns a shared mount point, as iproute2 does (once per process)."""
    global _run_dir_ready
    with _run_dir_lock:
        if _run_dir_ready:
            return
        os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
        if _libc.mount(b'', NETNS_RUN_DIR.encode(), b'none', MS_SHARED | MS_REC, None):
            if ctypes.get_errno() != errno.EINVAL:
                _check(-1, f'make {NETNS_RUN_DIR} shared')
            # Not a mount point yet: bind it onto itself, then make it shared.
            _mount(NETNS_RUN_DIR, NETNS_RUN_DIR, MS_BIND | MS_REC,
                   f'bind-mount {NETNS_RUN_DIR}')
            _mount('', NETNS_RUN_DIR, MS_SHARED | MS_REC, f'make {NETNS_RUN_DIR} shared')
        _run_dir_ready = True


def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` in a fresh thread (which may change its namespace) and return its result."""
    box: Dict[str, Any] = {}

    def body() -> None:
        try:
            box['result'] = fn(*args)
        except BaseException as exc:   # re-raised in the caller's thread
            box['error'] = exc

    thread = threading.Thread(target=body, name='netns-worker', daemon=True)
    thread.start()
    thread.join()
    if 'error' in box:
        raise box['error']
    return box.get('result')


def _enter(name: str) -> None:
    """setns() the calling thread into namespace ``name`` (a throwaway thread only)."""
    try:
        fd = os.open(path_of(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NamespaceNotFound(f'namespace {name}: does not exist') from None
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NamespaceNotFound(f'namespace {name}: cannot enter: {os.strerror(err)}')
    finally:
        os.close(fd)


def run_in(name: Optional[str], fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` in a thread inside namespace ``name`` (None: the root namespace).

    The namespace's netlink worker runs it if one is alive (a namespace just
    made or configured: the children a reconcile forks there, dnsmasq and two
    iptables-restore for a new network), else a fresh thread: a thread start,
    an open and a setns() less per call.  Calls for one namespace wait for each
    other on its worker, so only short ones come here (a fork, a wait for a
    daemon to detach, a restore).
    """
    if name is None:
        return fn(*args)
    with _workers_lock:
        worker = _workers.get(name)
    if worker is not None and worker.thread is threading.current_thread():
        return fn(*args)                    # on the namespace's worker already
    future = _submit(name, _without_ipr, (fn, *args), start=False)
    if future is not None:
        return future.result()

    def inside() -> Any:
        _enter(name)
        return fn(*args)

    return _in_thread(inside)


def _is_netns_mount(path: str) -> bool:
    """True if ``path`` is a live namespace (nsfs) rather than a plain empty file."""
    try:
        return os.stat(path).st_dev != os.stat(NETNS_RUN_DIR).st_dev
    except FileNotFoundError:
        return False


def list_namespaces() -> list:
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


def exists(name: str) -> bool:
    return _is_netns_mount(path_of(name))


def _unshare_and_mount(path: str) -> None:
    """Move the calling thread into a new namespace and bind it on ``path``."""
    _check(_libc.unshare(CLONE_NEWNET), f'unshare a network namespace for {path}')
    _mount('/proc/thread-self/ns/net', path, MS_BIND, f'bind-mount namespace on {path}')


def _lo_up() -> None:
    # Packed by hand (a lookup of lo by name through pyroute2 decoded all of its
    # attributes: 2.4 ms of CPU per namespace, 5 % of a 200-router cold start).
    rtnl_requests.set_link('lo', up=True)


class _LazyIPRoute:
    """An ``IPRoute`` made on first use, on the worker's thread.

    Making one costs ~1.5-2 ms of CPU (pyroute2 sets up an asyncio event loop),
    and a router's cold start needs none: its requests are packed by hand
    (agent.drivers.rtnl_requests), its sysctls files, its ARP a packet socket.
    Made per namespace worker that was 11 % of the L3 agent's CPU in a cold
    start of 200 routers (py-spy), the top entry."""

    __slots__ = ('_ipr', '__weakref__')

    def __init__(self) -> None:
        self._ipr: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._ipr is None:
            self._ipr = IPRoute()
        return getattr(self._ipr, name)

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()


def create(name: str, sysctls: Optional[Mapping[str, Any]] = None) -> bool:
    """Create namespace ``name`` with ``lo`` up and ``sysctls`` set (by the thread
    that makes it: no second trip to the namespace).  Returns False if it already
    existed (``sysctls`` then untouched)."""
    path = path_of(name)
    if _is_netns_mount(path):
        return False
    _ensure_run_dir()
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except FileExistsError:
        # someone else is creating it (give them 0.2 s) or a crash left an empty file
        for _ in range(20):
            if _is_netns_mount(path):
                return False
            time.sleep(0.01)
    # The thread that makes the namespace stays in it as its netlink worker: the
    # router's or network's next calls find it there (no second thread, setns
    # and IPRoute per namespace).
    worker = _NamespaceWorker(name, None, create_path=path, sysctls=sysctls)
    try:
        worker.created.result()
    except (OSError, NetlinkError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise DriverError(f'namespace {name}: create failed: {exc}') from exc
    with _workers_lock:
        old = _workers.get(name)
        if old is None or old.stopped or old.identity != worker.identity:
            if old is not None:      # the worker of a namespace deleted meanwhile
                old.stopped = True
                old.stop()
            _workers[name] = worker
            _workers.move_to_end(name)
            _make_room()
        else:
            worker.stop()
    return True


class _NamespaceWorker:
    """A thread living in one namespace, owning an ``IPRoute`` there, running calls.

    pyroute2 0.9 opens its netlink socket lazily in each calling thread's own
    namespace, so the calls must run on a thread inside the namespace. Idle workers
    exit after ``IDLE_SECONDS`` so a thousand namespaces do not hold a thousand
    threads and sockets (nor keep a deleted namespace alive).  A worker with its
    ``IPRoute`` holds ~0.3 MiB, and a new one costs ~2 ms: after a full sync only
    the namespaces of the last two seconds keep theirs.

    And at most :data:`LINGERING` of them: a worker made beyond that stops the
    least recently used idle ones (no call queued or running; see
    :func:`_make_room`).  A full sync visits each namespace in a burst of calls,
    and the two seconds' linger alone kept a thread for every namespace of the
    last two seconds: the L3 agent's restart with 1000 routers ended with ~290
    (4.6 MiB of touched thread stacks alone; the benchmarks read the RSS then).
    Measured on 200 namespaces visited once each: 18 KiB per idle worker
    without an ``IPRoute``, 58 KiB with one.
    """

    IDLE_SECONDS = 2.0

    def __init__(self, name: str, identity: Optional[Tuple[int, int]],
                 create_path: Optional[str] = None,
                 sysctls: Optional[Mapping[str, Any]] = None) -> None:
        self.name = name
        self.identity = identity
        self.create_path = create_path       # make the namespace there first
        self.sysctls = sysctls               # and set these there
        self.created: concurrent.futures.Future = concurrent.futures.Future()
        self.calls: queue.SimpleQueue = queue.SimpleQueue()
        self.pending = 0          # calls queued or running (under _workers_lock)
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True,
                                       name=f'netlink-{name}')
        self.thread.start()

    def _start(self) -> Any:
        """Into the namespace (made first, with ``lo`` up, if asked) with an IPRoute
        (made on first use)."""
        if self.create_path is None:
            _enter(self.name)
            return _LazyIPRoute()
        _unshare_and_mount(self.create_path)
        _lo_up()
        if self.sysctls:
            _apply_sysctls(self.name, self.sysctls)
        self.identity = _identity(self.name)
        return _LazyIPRoute()

    def _serve(self) -> None:
        ipr = None
        try:
            ipr = self._start()
        except BaseException as exc:
            self.created.set_exception(exc)
            self._fail_pending(exc)
            return
        self.created.set_result(True)
        try:
            while True:
                try:
                    item = self.calls.get(timeout=self.IDLE_SECONDS)
                except queue.Empty:
                    with _workers_lock:
                        if self.calls.empty():
                            self._retire()
                            return
                    continue
                if item is None:
                    return
                fn, args, future = item
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(ipr, *args))
                    except BaseException as exc:
                        future.set_exception(exc)
                with _workers_lock:
                    self.pending -= 1
        finally:
            with contextlib.suppress(Exception):
                ipr.close()
            self._fail_pending(NamespaceNotFound(f'namespace {self.name}: worker stopped'))

    def _fail_pending(self, exc: BaseException) -> None:
        with _workers_lock:
            self._retire()
        while True:
            try:
                item = self.calls.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[2].set_exception(exc)

    def _retire(self) -> None:
        """Leave the registry (caller holds ``_workers_lock``)."""
        self.stopped = True
        if _workers.get(self.name) is self:
            del _workers[self.name]

    def stop(self) -> None:
        self.calls.put(None)


# Live workers by namespace, least recently given a call first.
_workers: 'OrderedDict[str, _NamespaceWorker]' = OrderedDict()
_workers_lock = threading.Lock()
# Workers kept beyond the calls in flight: more than the queue workers of an
# agent (the DHCP agent's 32 reconcile at once, each in its namespace), so that
# a reconcile between two calls does not lose its namespace's worker.
LINGERING = 48
_BUSY_SKIPPED = 16      # busy workers passed over at most, looking for idle ones


def _make_room() -> None:
    """Stop the least recently used idle workers while more than LINGERING live
    (caller holds ``_workers_lock``).  An idle worker has no call queued or
    running, and it leaves the registry here: a later call for its namespace
    starts a new one, so calls for one namespace still run one at a time."""
    excess = len(_workers) - LINGERING
    if excess <= 0:
        return
    for worker in list(itertools.islice(_workers.values(), excess + _BUSY_SKIPPED)):
        if worker.pending == 0:
            worker._retire()
            worker.stop()
            excess -= 1
            if excess == 0:
                return


_root = IPRoute()   # opens a socket per calling thread, lazily: threads not in run_in


def _identity(name: str) -> Tuple[int, int]:
    try:
        st = os.stat(path_of(name))
    except FileNotFoundError:
        raise NamespaceNotFound(f'namespace {name}: does not exist') from None
    if st.st_dev == os.stat(NETNS_RUN_DIR).st_dev:
        raise NamespaceNotFound(f'namespace {name}: not a mounted namespace')
    return (st.st_dev, st.st_ino)


def _stop_worker(name: str) -> None:
    with _workers_lock:
        worker = _workers.pop(name, None)
        if worker is not None:
            worker.stopped = True
    if worker is not None:
        worker.stop()
        if worker.thread is not threading.current_thread():
            worker.thread.join(5)


def _without_ipr(_ipr: Any, fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _submit(name: str, fn: Callable[..., Any], args: tuple,
            start: bool = True) -> Optional[concurrent.futures.Future]:
    """Queue ``fn(ipr, *args)`` on namespace ``name``'s worker (started if need be,
    or, without ``start``, None when no live one is there)."""
    identity = _identity(name)
    future: concurrent.futures.Future = concurrent.futures.Future()
    with _workers_lock:
        worker = _workers.get(name)
        if worker is not None and worker.identity != identity:
            # deleted and re-created under the same name: start afresh
            worker.stopped = True
            worker.stop()
            worker = None
        if worker is None or worker.stopped:
            if not start:
                return None
            worker = _workers[name] = _NamespaceWorker(name, identity)
        _workers.move_to_end(name)
        worker.pending += 1
        worker.calls.put((fn, args, future))
        _make_room()
    return future


def call_netlink(name: Optional[str], fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(ipr, *args)`` with an ``IPRoute`` bound to namespace ``name`` (None: root).

    Calls for one namespace run one at a time on its worker thread.
    """
    if name is None:
        return fn(_root, *args)
    return _submit(name, fn, args).result()


def _device_names(_ipr: Any) -> list:
    return sorted(link.name for link in rtnl_dump.dump_links() if link.name != 'lo')


def devices_in(name: str) -> list:
    """Names of the devices in a namespace other than ``lo``."""
    return call_netlink(name, _device_names)


def delete(name: str, force: bool = False) -> bool:
    """Remove namespace ``name``. Refuses while devices remain, unless ``force``.

    Returns False if it did not exist.
    """
    path = path_of(name)
    if not os.path.lexists(path):
        _stop_worker(name)
        return False
    if _is_netns_mount(path) and not force:
        left = devices_in(name)
        if left:
            raise NamespaceNotEmpty(f'namespace {name}: still holds devices {", ".join(left)}'
                                    ' (delete them first or force)')
    _stop_worker(name)
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err != errno.EINVAL:          # EINVAL: a stale file, nothing mounted
            raise DriverError(f'namespace {name}: unmount failed: {os.strerror(err)}')
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise DriverError(f'namespace {name}: cannot remove {path}: {exc}') from exc
    return True


def _sysctl_path(key: str) -> str:
    if not key or key.startswith('.') or '..' in key or '/' in key.replace('.', ''):
        raise ValueError(f'invalid sysctl key {key!r}')
    return '/proc/sys/' + key.replace('.', '/')


def _read(key: str) -> str:
    with open(_sysctl_path(key)) as f:
        return f.read().strip()


def sysctl_here(key: str) -> Optional[str]:
    """The sysctl as the calling thread's namespace has it (a namespace's worker
    reads its own there: no thread of its own); None if it cannot be read."""
    try:
        return _read(key)
    except OSError:
        return None


def _write(key: str, value: str) -> None:
    with open(_sysctl_path(key), 'w') as f:
        f.write(value)


def _on_worker(ns: Optional[str], fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` inside namespace ``ns`` on its netlink worker thread (already
    there: no thread started per call, as :func:`run_in` does)."""
    if ns is None:
        return fn(*args)
    return call_netlink(ns, lambda _ipr, *a: fn(*a), *args)


def sysctl_get(ns: Optional[str], key: str) -> str:
    try:
        return _on_worker(ns, _read, key)
    except FileNotFoundError:
        raise DriverError(f'namespace {ns}: no sysctl {key}') from None


def sysctl_set(ns: Optional[str], key: str, value: Any) -> None:
    try:
        _on_worker(ns, _write, key, str(value))
    except OSError as exc:
        raise DriverError(f'namespace {ns}: sysctl {key}={value} failed: {exc}') from exc


def _apply_sysctls(ns: Optional[str], wanted: Mapping[str, Any]) -> Dict[str, str]:
    changed = {}
    for key, value in wanted.items():
        value = str(value)
        if _read(key) != value:
            _write(key, value)
            changed[key] = value
    return changed


def set_sysctls(ns: Optional[str], wanted: Mapping[str, Any]) -> Dict[str, str]:
    """Make the sysctls hold ``wanted`` (one thread for all); returns what changed."""
    try:
        return _on_worker(ns, _apply_sysctls, ns, wanted)
    except OSError as exc:
        raise DriverError(f'namespace {ns}: setting sysctls failed: {exc}') from exc


class NetnsDriver:
    """The module's functions as an object, for injection (see ``agent.drivers.Netns``)."""

    list_namespaces = staticmethod(list_namespaces)
    exists = staticmethod(exists)
    create = staticmethod(create)
    delete = staticmethod(delete)
    devices_in = staticmethod(devices_in)
    call_netlink = staticmethod(call_netlink)
    run_in = staticmethod(run_in)
    sysctl_get = staticmethod(sysctl_get)
    sysctl_set = staticmethod(sysctl_set)
    set_sysctls = staticmethod(set_sysctls)
