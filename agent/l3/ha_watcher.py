"""The HA state watcher: one process per L3 agent for all its HA routers.

Neutron runs one ``neutron-keepalived-state-change`` per HA router (a process
and an ``ip monitor`` each); this is one process, with one netlink socket per
HA router namespace subscribed to its IPv4 address events.  Neutron's meaning
of the state is kept: the node holding the primary VIP ``169.254.0.<vrid>``
(keepalived's ``virtual_ipaddress``) is the primary, any other is a backup.
Reading the addresses rather than keepalived's ``notify_fifo`` needs nothing
from keepalived, works the same after keepalived is replaced or SIGHUPed, and
tells the truth on a restart of the watcher (the first dump of each namespace).

Every ``--interval`` seconds it lists ``<ha_confs>/`` (a router directory with
its ``keepalived.conf`` and a ``qrouter-<id>`` namespace is watched; a router
whose directory or namespace went is dropped, so the socket does not keep a
deleted namespace alive for long).  On each change it writes
``<ha_confs>/<router>/state`` atomically and sends ``"<router> <state>"`` to the
agent's datagram socket (``agent.l3.ha_state``); when the agent is not there the
message is dropped: the agent reads the state files when it starts.

Run by the agent as a child (``agent.l3.ha``): it daemonizes, writes its pid
file, and is respawned and adopted like dnsmasq.  Linux only (setns, netlink).
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import ipaddress
import logging
import logging.handlers
import os
import select
import signal
import socket
import struct
import sys
import time

from agent.common import fileutils, names
from agent.l3 import ha_state, keepalived

LOG = logging.getLogger('netnode-ha-watcher')

CLONE_NEWNET = 0x40000000
NETNS_DIR = '/run/netns'
RTMGRP_IPV4_IFADDR = 0x10
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2
NLMSG_HDR = struct.Struct('=IHHII')
IFADDRMSG = struct.Struct('=BBBBI')
RTATTR = struct.Struct('=HH')
RECV_BUFFER = 1 << 20       # a dump of a router with many floating IPs in one read


# -- netlink (pure parsing, then the socket in a namespace) ---------------------------

def address_events(data: bytes):
    """(added, ifindex, IPv4Address) of each IPv4 RTM_NEWADDR/DELADDR in ``data``."""
    offset = 0
    while offset + NLMSG_HDR.size <= len(data):
        length, kind, _, _, _ = NLMSG_HDR.unpack_from(data, offset)
        if length < NLMSG_HDR.size:
            return
        if kind in (RTM_NEWADDR, RTM_DELADDR):
            body = offset + NLMSG_HDR.size
            family, _, _, _, index = IFADDRMSG.unpack_from(data, body)
            address = _attr_address(data, body + IFADDRMSG.size, offset + length)
            if family == socket.AF_INET and address is not None:
                yield kind == RTM_NEWADDR, index, address
        offset += (length + 3) & ~3


def _attr_address(data: bytes, start: int, end: int):
    found = {}
    while start + RTATTR.size <= end:
        length, kind = RTATTR.unpack_from(data, start)
        if length < RTATTR.size:
            break
        if kind in (IFA_ADDRESS, IFA_LOCAL) and length - RTATTR.size == 4:
            found[kind] = ipaddress.IPv4Address(data[start + 4:start + 8])
        start += (length + 3) & ~3
    return found.get(IFA_LOCAL, found.get(IFA_ADDRESS))


def dump_request(seq: int = 1) -> bytes:
    body = IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0)
    return NLMSG_HDR.pack(NLMSG_HDR.size + len(body), RTM_GETADDR,
                          NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


_libc = None


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def netlink_in(namespace: str) -> socket.socket:
    """A route netlink socket of ``namespace``, subscribed to IPv4 address events
    and asked for a dump of the addresses (the watcher is single-threaded: it
    enters the namespace, makes the socket and comes back)."""
    home = os.open('/proc/self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
            try:
                sock = socket.socket(socket.AF_NETLINK,
                                     socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
            finally:
                try:
                    _setns(home)
                except OSError:
                    LOG.critical('cannot return to the host namespace: exiting')
                    os._exit(1)
        finally:
            os.close(target)
    finally:
        os.close(home)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
    sock.bind((0, RTMGRP_IPV4_IFADDR))   # subscribed before the dump: nothing lost
    sock.setblocking(False)
    sock.send(dump_request())
    return sock


# -- one router -----------------------------------------------------------------------

class RouterWatch:
    def __init__(self, router_id: str, sock: socket.socket, inode: int | None):
        self.router_id = router_id
        self.sock = sock
        self.inode = inode          # of /run/netns/qrouter-<id> when the socket was made
        self.vips: set[tuple[int, ipaddress.IPv4Address]] = set()
        self.state: str | None = None

    def read(self) -> None:
        """Take every pending message (the dump, then events)."""
        while True:
            try:
                data = self.sock.recv(RECV_BUFFER)
            except BlockingIOError:
                return
            for added, index, address in address_events(data):
                if address not in keepalived.PRIMARY_VIP_RANGE:
                    continue
                (self.vips.add if added else self.vips.discard)((index, address))

    @property
    def observed(self) -> str:
        return ha_state.PRIMARY if self.vips else ha_state.BACKUP


class Watcher:
    def __init__(self, ha: keepalived.HaSettings, notify_path: str, interval: float):
        self.ha = ha
        self.notify_path = notify_path
        self.interval = interval
        self.routers: dict[str, RouterWatch] = {}
        self.out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.out.setblocking(False)

    def wanted(self) -> dict[str, int]:
        """Router id -> namespace inode of the routers to watch."""
        try:
            entries = os.listdir(self.ha.confs_path)
        except FileNotFoundError:
            return {}
        found = {}
        for entry in entries:
            if names.is_uuid(entry) and os.path.exists(keepalived.config_path(self.ha, entry)):
                inode = _inode(os.path.join(NETNS_DIR, names.router_namespace(entry)))
                if inode is not None:
                    found[entry] = inode
        return found

    def rescan(self) -> None:
        wanted = self.wanted()
        for router_id, watch in list(self.routers.items()):
            # gone, or its namespace deleted and made again (a new inode)
            if wanted.get(router_id) != watch.inode:
                LOG.info('router %s: no longer watched in that namespace', router_id)
                self.routers.pop(router_id).sock.close()
        for router_id in sorted(set(wanted) - set(self.routers)):
            try:
                sock = netlink_in(names.router_namespace(router_id))
            except OSError as exc:
                LOG.warning('router %s: cannot watch its namespace: %s', router_id, exc)
                continue
            LOG.info('router %s: watching its namespace', router_id)
            self.routers[router_id] = RouterWatch(router_id, sock, wanted[router_id])

    def update(self, watch: RouterWatch) -> None:
        try:
            watch.read()
        except OSError as exc:
            # ENOBUFS: events were lost; dump again on a fresh socket.
            LOG.warning('router %s: %s; reading its addresses again', watch.router_id,
                        exc)
            watch.sock.close()
            self.routers.pop(watch.router_id, None)
            return
        state = watch.observed
        if state == watch.state:
            return
        watch.state = state
        LOG.info('router %s: %s', watch.router_id, state)
        if ha_state.write(self.ha, watch.router_id, state):
            self.notify(watch.router_id, state)

    def notify(self, router_id: str, state: str) -> None:
        try:
            self.out.sendto(ha_state.message(router_id, state), self.notify_path)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN):
                LOG.warning('telling the agent about router %s failed: %s', router_id, exc)

    def run(self, stop) -> None:
        next_scan = 0.0
        while not stop():
            now = time.monotonic()
            if now >= next_scan:
                self.rescan()
                for watch in list(self.routers.values()):
                    self.update(watch)
                next_scan = now + self.interval
            by_fd = {w.sock.fileno(): w for w in self.routers.values()}
            try:
                ready, _, _ = select.select(list(by_fd), [], [],
                                            max(0.0, next_scan - time.monotonic()))
            except InterruptedError:
                continue
            for fd in ready:
                if fd in by_fd:
                    self.update(by_fd[fd])


# -- the process ----------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(prog='netnode-ha-watcher', description=__doc__.split(
        '\n\n')[0])
    parser.add_argument('--ha-confs', required=True)
    parser.add_argument('--notify-socket', required=True)
    parser.add_argument('--pid-file', required=True)
    parser.add_argument('--log-file')
    parser.add_argument('--interval', type=float, default=1.0)
    parser.add_argument('--foreground', action='store_true')
    parser.add_argument('--debug', action='store_true')
    return parser.parse_args(argv)


def daemonize(pid_file: str) -> None:
    """Fork twice (the agent's launcher returns at once), write the pid file."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    write_pid(pid_file)


def write_pid(pid_file: str) -> None:
    fileutils.ensure_dir(os.path.dirname(pid_file))
    fileutils.write_atomic(pid_file, f'{os.getpid()}\n')


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    ha = keepalived.HaSettings(os.path.abspath(args.ha_confs))
    if args.foreground:
        write_pid(args.pid_file)
    else:
        daemonize(args.pid_file)
    handler = (logging.handlers.WatchedFileHandler(args.log_file) if args.log_file
               else logging.StreamHandler())
    handler.setFormatter(logging.Formatter(
        '%(asctime)s %(process)d %(levelname)s %(name)s %(message)s'))
    LOG.addHandler(handler)
    LOG.setLevel(logging.DEBUG if args.debug else logging.INFO)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    LOG.info('started: watching %s every %gs, telling %s', ha.confs_path, args.interval,
             args.notify_socket)
    Watcher(ha, args.notify_socket, args.interval).run(lambda: bool(stopping))
    LOG.info('stopped')
    try:
        if fileutils.read_lenient(args.pid_file) == f'{os.getpid()}\n':
            os.unlink(args.pid_file)
    except OSError:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
