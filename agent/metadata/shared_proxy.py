"""The node's metadata proxy: one process per agent, one listening socket per router
or network namespace (``metadata_proxy_mode = shared``).

    VM -> 169.254.169.254 -> (REDIRECT to 9697 in qrouter-, or 169.254.169.254:80
    in qdhcp-) -> a listening socket of this process, made by the agent inside
    that namespace and handed over here -> the metadata agent's unix socket

A socket keeps the namespace it was created in, so this process stays in the
host's namespace and holds sockets of every namespace.  The agent makes each
listening socket inside its namespace and passes it over the control socket
(``SCM_RIGHTS``) with the router or network id; adding or removing a router is
one message, not a process start (haproxy: ~60 ms of CPU and ~6.5 MiB each).

Each request is rewritten by :mod:`agent.metadata.http_rewrite` (the VM's
identity headers dropped, the listener's id and the connection's source
address added) and forwarded to the metadata agent, one request per
connection.  One thread runs every socket (``selectors``: epoll); nothing a VM
does blocks it: a slow client only holds its own connection, limited per
listener (``MAX_CONNS_PER_LISTENER``) so one network cannot starve the others.

Run by the agents as ``python3 -I <this file> --control <sock> --pid-file <file>
--upstream <sock> ...`` (agent.metadata.node_proxy): it imports nothing of the
project but its standard-library siblings (no oslo, no pyroute2: 13.7 MiB RSS),
daemonizes once the control socket listens and its pid file is written, then
drops to ``--user`` and ``--group``.  Control messages
(:mod:`agent.metadata.proxy_control`): ``add`` (id, kind, key; one fd attached), ``remove`` (id), ``get`` (id),
``list``, ``hello`` and ``watch`` (held open: its end tells the agent this
process died).  SIGTERM ends it; an agent stop leaves it serving.
"""

from __future__ import annotations

import argparse
import collections
import errno
import grp
import importlib.util
import json
import logging
import logging.handlers
import os
import pwd
import re
import selectors
import signal
import socket
import struct
import sys
import time


def _sibling(name: str):
    """Run as a script: a sibling module by path, not through the heavy package."""
    spec = importlib.util.spec_from_file_location(
        f'netnode_{name}', os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __package__:
    from agent.metadata import http_rewrite, proxy_control, unix_socket
else:
    http_rewrite, proxy_control, unix_socket = (
        _sibling('http_rewrite'), _sibling('proxy_control'), _sibling('unix_socket'))
frame = proxy_control.frame

LOG = logging.getLogger('netnode-metadata-proxy')

MAX_CONNS = 4096                 # client connections at once, all listeners
MAX_CONNS_PER_LISTENER = 256     # haproxy had maxconn 1024 per router process
MAX_CONTROL = 64
CHUNK = 65536
MAX_BUFFERED = 262144            # response bytes held for a slow client
REQUEST_TIMEOUT = 30.0           # haproxy: timeout http-request 30s
IDLE_TIMEOUT = 32.0              # timeout client / server 32s
_UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')

class RateLimiter:
    """Neutron's ``[metadata_rate_limiting]`` for one listener: requests per source
    address in a base and a burst window; past either limit, 429 (denied
    requests count too, as haproxy's stick tables do).  At most 10k sources."""
    SIZE = 10000

    def __init__(self, base_window, base_limit, burst_window, burst_limit, version):
        self.values = (base_window, base_limit, burst_window, burst_limit, version)
        self.windows = ((float(base_window), int(base_limit)),
                        (float(burst_window), int(burst_limit)))
        self.span = max(w for w, _ in self.windows)
        self.version = int(version)
        self.seen: dict[str, collections.deque] = {}

    @classmethod
    def parse(cls, text: str | None) -> RateLimiter | None:
        if not text:
            return None
        values = [int(v) for v in text.split(',')]
        if len(values) != 5 or min(values) < 1 or values[4] not in (4, 6):
            raise ValueError(f'--rate-limit {text!r}: base_window,base_limit,'
                             'burst_window,burst_limit,ip_version')
        return cls(*values)

    def allow(self, source: str, now: float) -> bool:
        if (':' in source) != (self.version == 6):
            return True
        times = self.seen.pop(source, None)
        if times is None:
            times = collections.deque()
            if len(self.seen) >= self.SIZE:
                del self.seen[next(iter(self.seen))]
        self.seen[source] = times         # most recent last: the oldest go first
        times.append(now)
        while times and times[0] <= now - self.span:
            times.popleft()
        return all(sum(1 for t in times if t > now - window) <= limit
                   for window, limit in self.windows)


class Listener:
    __slots__ = ('id', 'kind', 'key', 'sock', 'conns', 'limiter')

    def __init__(self, resource_id, kind, key, sock, limiter):
        self.id, self.kind, self.key, self.sock = resource_id, kind, key, sock
        self.conns = 0
        self.limiter = limiter


class Conn:
    """One client connection and, once its head is read, its upstream one."""
    __slots__ = ('client', 'peer', 'listener', 'head', 'up', 'to_up', 'to_client',
                 'body_left', 'up_done', 'deadline', 'closed', 'masks')

    def __init__(self, client, peer, listener, now):
        self.client, self.peer, self.listener = client, peer, listener
        self.head = bytearray()
        self.up: socket.socket | None = None
        self.to_up = bytearray()
        self.to_client = bytearray()
        self.body_left = 0
        self.up_done = False
        self.deadline = now + REQUEST_TIMEOUT
        self.closed = False
        self.masks: dict = {}


class Control:
    __slots__ = ('sock', 'inbuf', 'fds', 'outbuf', 'watch')

    def __init__(self, sock):
        self.sock, self.inbuf, self.fds, self.outbuf = sock, bytearray(), [], bytearray()
        self.watch = False


class Proxy:
    def __init__(self, control: socket.socket, upstream: str,
                 rate_limit: RateLimiter | None = None, debug: bool = False):
        self.control = control
        self.upstream = upstream
        self.rate_limit = rate_limit
        self.debug = debug
        self.selector = selectors.DefaultSelector()
        self.listeners: dict[str, Listener] = {}
        self.conns: set[Conn] = set()
        self.running = True
        control.setblocking(False)
        self.selector.register(control, selectors.EVENT_READ, self._accept_control)
        self._control_state: dict = {}
        self.controls = 0

    # -- the loop -------------------------------------------------------------------

    def run(self) -> None:
        last_sweep = time.monotonic()
        while self.running:
            for key, mask in self.selector.select(1.0):
                try:
                    key.data(key.fileobj, mask)
                except Exception:   # noqa: BLE001 - one socket's error, never the loop
                    LOG.exception('metadata proxy: handling a socket failed')
            now = time.monotonic()
            if now - last_sweep >= 1.0:
                last_sweep = now
                for conn in [c for c in self.conns if c.deadline < now]:
                    self._timeout(conn)
        self.close()

    def stop(self, *_args) -> None:
        self.running = False

    def close(self) -> None:
        for conn in list(self.conns):
            self._close(conn)
        for listener in list(self.listeners.values()):
            self._drop_listener(listener)
        self.selector.close()

    # -- control --------------------------------------------------------------------

    def _accept_control(self, sock, _mask):
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        if self.controls >= MAX_CONTROL:
            conn.close()
            return
        self.controls += 1
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, self._control_event)
        self._control_state[conn] = Control(conn)

    def _control_event(self, sock, mask):
        ctl = self._control_state[sock]
        if mask & selectors.EVENT_WRITE and ctl.outbuf:
            try:
                sent = sock.send(ctl.outbuf)
                del ctl.outbuf[:sent]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return self._close_control(ctl)
        if mask & selectors.EVENT_READ:
            try:
                data, ancdata, _flags, _ = sock.recvmsg(CHUNK, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                return self._close_control(ctl)
            if data is not None:
                for level, kind, payload in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        n = len(payload) // 4
                        ctl.fds += list(struct.unpack(f'{n}i', payload[:n * 4]))
                if not data:
                    return self._close_control(ctl)
                ctl.inbuf += data
                self._control_messages(ctl)
        if sock in self._control_state:
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if ctl.outbuf else 0)
            self.selector.modify(sock, want, self._control_event)

    def _control_messages(self, ctl: Control) -> None:
        while len(ctl.inbuf) >= 4:
            (size,) = proxy_control.LENGTH.unpack_from(ctl.inbuf)
            if size > proxy_control.MAX_MESSAGE:
                ctl.outbuf += frame({'ok': False, 'error': 'message too long'})
                ctl.inbuf.clear()
                return
            if len(ctl.inbuf) < 4 + size:
                return
            raw = bytes(ctl.inbuf[4:4 + size])
            del ctl.inbuf[:4 + size]
            fds, ctl.fds = ctl.fds, []
            try:
                reply = self._handle(json.loads(raw), fds, ctl)
            except (ValueError, KeyError, TypeError, OSError) as exc:
                reply = {'ok': False, 'error': str(exc)}
            finally:
                for fd in fds:
                    if fd >= 0:
                        os.close(fd)
            if reply is not None:
                ctl.outbuf += frame(reply)

    def _handle(self, msg: dict, fds: list, ctl: Control) -> dict | None:
        op = msg['op']
        if op == 'hello':
            return {'ok': True, 'pid': os.getpid()}
        if op == 'watch':
            ctl.watch = True
            return None
        if op == 'list':
            return {'ok': True, 'pid': os.getpid(),
                    'listeners': {i: lst.key for i, lst in self.listeners.items()}}
        resource_id = str(msg['id'])
        if not _UUID.match(resource_id):
            raise ValueError(f'id {resource_id!r} is not a UUID')
        if op == 'get':
            found = self.listeners.get(resource_id)
            return {'ok': True, 'pid': os.getpid(), 'key': found and found.key}
        if op == 'remove':
            found = self.listeners.pop(resource_id, None)
            if found is not None:
                self._drop_listener(found)
                LOG.info('stopped serving %s %s', found.kind, resource_id)
            return {'ok': True, 'removed': found is not None}
        if op == 'add':
            kind, key = msg['kind'], str(msg['key'])
            if kind not in http_rewrite.HEADERS or len(key) > 1024:
                raise ValueError(f'add {resource_id}: bad kind or key')
            if len(fds) != 1:
                raise ValueError(f'add {resource_id}: {len(fds)} descriptors, not one')
            sock = socket.socket(fileno=fds[0])
            fds[0] = -1
            if (sock.type != socket.SOCK_STREAM or sock.getsockopt(
                    socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 1):
                sock.close()
                raise ValueError(f'add {resource_id}: not a listening TCP socket')
            sock.setblocking(False)
            old = self.listeners.pop(resource_id, None)
            if old is not None:
                self._drop_listener(old)
            limiter = (RateLimiter(*self.rate_limit.values)
                       if self.rate_limit is not None else None)
            listener = Listener(resource_id, kind, key, sock, limiter)
            self.listeners[resource_id] = listener
            self.selector.register(sock, selectors.EVENT_READ,
                                   lambda s, m, lst=listener: self._accept(lst))
            LOG.info('serving %s %s (%s)', kind, resource_id, key)
            return {'ok': True}
        raise ValueError(f'unknown op {op!r}')

    def _close_control(self, ctl: Control) -> None:
        self._control_state.pop(ctl.sock, None)
        for fd in ctl.fds:
            os.close(fd)
        try:
            self.selector.unregister(ctl.sock)
        except (KeyError, ValueError):
            pass
        ctl.sock.close()
        self.controls -= 1

    def _drop_listener(self, listener: Listener) -> None:
        try:
            self.selector.unregister(listener.sock)
        except (KeyError, ValueError):
            pass
        listener.sock.close()     # its connections in progress finish

    # -- requests -------------------------------------------------------------------

    def _accept(self, listener: Listener) -> None:
        for _ in range(64):
            try:
                client, addr = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                                 errno.ENOMEM):
                    LOG.warning('accept on %s %s: %s', listener.kind, listener.id, exc)
                    return
                continue
            if len(self.conns) >= MAX_CONNS or listener.conns >= MAX_CONNS_PER_LISTENER:
                try:
                    client.send(http_rewrite.local_response(503, 'Too many connections.'))
                except OSError:
                    pass
                client.close()
                continue
            client.setblocking(False)
            conn = Conn(client, addr[0], listener, time.monotonic())
            listener.conns += 1
            self.conns.add(conn)
            self._watch(conn, client, selectors.EVENT_READ)

    def _watch(self, conn: Conn, sock, mask: int) -> None:
        old = conn.masks.get(sock, 0)
        if old == mask:
            return
        if not mask:
            self.selector.unregister(sock)
        elif not old:
            self.selector.register(sock, mask, lambda s, m, c=conn: self._event(c, s, m))
        else:
            self.selector.modify(sock, mask, lambda s, m, c=conn: self._event(c, s, m))
        conn.masks[sock] = mask

    def _event(self, conn: Conn, sock, mask: int) -> None:
        if conn.closed:
            return
        try:
            if sock is conn.client:
                if mask & selectors.EVENT_READ:
                    self._client_readable(conn)
                if mask & selectors.EVENT_WRITE and not conn.closed:
                    self._client_writable(conn)
            else:
                if mask & selectors.EVENT_WRITE:
                    self._up_writable(conn)
                if mask & selectors.EVENT_READ and not conn.closed:
                    self._up_readable(conn)
        except (ConnectionError, OSError) as exc:
            if conn.up is None or not conn.to_client:
                LOG.debug('connection from %s: %s', conn.peer, exc)
            self._close(conn)
            return
        if not conn.closed:
            self._rewatch(conn)

    def _rewatch(self, conn: Conn) -> None:
        if conn.up is None:
            self._watch(conn, conn.client, selectors.EVENT_READ)
            return
        client = ((selectors.EVENT_READ if conn.body_left else 0)
                  | (selectors.EVENT_WRITE if conn.to_client else 0))
        up = ((selectors.EVENT_WRITE if conn.to_up else 0)
              | (selectors.EVENT_READ if not conn.up_done
                 and len(conn.to_client) < MAX_BUFFERED else 0))
        self._watch(conn, conn.client, client)
        self._watch(conn, conn.up, up)

    def _client_readable(self, conn: Conn) -> None:
        data = conn.client.recv(CHUNK)
        if not data:
            if conn.up is None or conn.body_left:
                self._close(conn)       # gone before its request was whole
            return
        if conn.up is not None:      # the body (the head had REQUEST_TIMEOUT in all)
            conn.deadline = time.monotonic() + IDLE_TIMEOUT
            data = data[:conn.body_left]        # nothing after the one request
            conn.body_left -= len(data)
            conn.to_up += data
            return
        conn.head += data
        end = conn.head.find(b'\r\n\r\n')
        if end < 0:
            if len(conn.head) > http_rewrite.MAX_HEAD:
                self._answer(conn, 400, 'Request head too long.')
            return
        head, rest = bytes(conn.head[:end + 4]), bytes(conn.head[end + 4:])
        conn.head = bytearray()
        listener = conn.listener
        try:
            new_head, length = http_rewrite.rewrite(head, listener.kind, listener.id,
                                                    conn.peer)
        except http_rewrite.Refused as exc:
            LOG.info('request from %s to %s %s refused (%d): %s', conn.peer,
                     listener.kind, listener.id, exc.status, exc)
            self._answer(conn, exc.status, str(exc))
            return
        if listener.limiter is not None and not listener.limiter.allow(
                http_rewrite.source_address(conn.peer), time.monotonic()):
            self._answer(conn, 429, 'Too many metadata requests from this address.')
            return
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.setblocking(False)
        code = up.connect_ex(self.upstream)
        if code != 0:
            up.close()
            LOG.warning('metadata agent socket %s: %s', self.upstream, os.strerror(code))
            self._answer(conn, 503, 'The metadata service is not available right now.')
            return
        body = rest[:length]
        conn.up = up
        conn.to_up += new_head + body
        conn.body_left = length - len(body)
        conn.deadline = time.monotonic() + IDLE_TIMEOUT
        self._up_writable(conn)     # at once: a unix socket's buffer is nearly always free
        if self.debug:
            LOG.debug('%s %s from %s via %s %s', head.split(b' ', 1)[0].decode(
                'ascii', 'replace'), head.split(b' ', 2)[1][:200].decode(
                'ascii', 'replace'), conn.peer, listener.kind, listener.id)

    @staticmethod
    def _flush(conn: Conn, sock: socket.socket, buf: bytearray) -> None:
        try:
            sent = sock.send(buf)
        except (BlockingIOError, InterruptedError):
            return
        del buf[:sent]
        conn.deadline = time.monotonic() + IDLE_TIMEOUT

    def _up_writable(self, conn: Conn) -> None:
        self._flush(conn, conn.up, conn.to_up)

    def _up_readable(self, conn: Conn) -> None:
        data = conn.up.recv(CHUNK)
        conn.deadline = time.monotonic() + IDLE_TIMEOUT
        if not data:
            conn.up_done = True
            if not conn.to_client:
                self._close(conn)
            return
        conn.to_client += data
        self._client_writable(conn)     # at once, without waiting for EVENT_WRITE

    def _client_writable(self, conn: Conn) -> None:
        self._flush(conn, conn.client, conn.to_client)
        if not conn.to_client and conn.up_done:
            self._close(conn)

    def _answer(self, conn: Conn, status: int, detail: str) -> None:
        """Answer from here and close (best effort: the answer is small)."""
        try:
            conn.client.send(http_rewrite.local_response(status, detail))
        except OSError:
            pass
        self._close(conn)

    def _timeout(self, conn: Conn) -> None:
        if conn.up is None and conn.head:
            self._answer(conn, 408, 'Request timeout.')
        elif conn.up is not None and not conn.to_client and not conn.up_done:
            self._answer(conn, 504, 'The metadata service did not answer in time.')
        else:
            self._close(conn)

    def _close(self, conn: Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        for sock in (conn.client, conn.up):
            if sock is None:
                continue
            if conn.masks.get(sock):
                try:
                    self.selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
            sock.close()
        conn.listener.conns -= 1
        self.conns.discard(conn)


# -- the process ------------------------------------------------------------------

def _write_pid(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(f'{os.getpid()}\n')
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def _drop_privileges(user: str, group: str) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    if (entry.pw_uid, gid) == (0, 0):
        return
    os.setgroups([])
    os.setgid(gid)
    os.setuid(entry.pw_uid)


def _logging(debug: bool) -> None:
    LOG.setLevel(logging.DEBUG if debug else logging.INFO)
    if os.path.exists('/dev/log'):
        handler = logging.handlers.SysLogHandler('/dev/log')
        handler.ident = f'netnode-metadata-proxy[{os.getpid()}]: '
        LOG.addHandler(handler)


def parse_args(argv):
    parser = argparse.ArgumentParser(description='netnode shared metadata proxy')
    parser.add_argument('--control', required=True)
    parser.add_argument('--pid-file', required=True)
    parser.add_argument('--upstream', required=True)
    parser.add_argument('--user', default='')
    parser.add_argument('--group', default='')
    parser.add_argument('--rate-limit')
    parser.add_argument('--debug', action='store_true')
    parser.add_argument('--foreground', action='store_true')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    rate_limit = RateLimiter.parse(args.rate_limit)
    os.makedirs(os.path.dirname(args.control), mode=0o750, exist_ok=True)
    try:
        unix_socket.remove_stale_socket(args.control, 'another metadata proxy')
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        control.bind(args.control)
    finally:
        os.umask(old)
    control.listen(64)
    ready_r, ready_w = os.pipe()
    if not args.foreground and os.fork():
        os.close(ready_w)
        status = os.read(ready_r, 4096)
        if status != b'ok':
            sys.stderr.write(status.decode(errors='replace') or 'died before ready\n')
            return 1
        return 0
    os.close(ready_r)
    try:
        if not args.foreground:
            os.setsid()
        signal.signal(signal.SIGTERM, lambda *_: proxy.stop())
        signal.signal(signal.SIGINT, lambda *_: proxy.stop())
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        _write_pid(args.pid_file)
        _drop_privileges(args.user, args.group)
        _logging(args.debug)
        proxy = Proxy(control, args.upstream, rate_limit, args.debug)
        if not args.foreground:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.close(null)
    except Exception as exc:  # noqa: BLE001 - told to the parent, which exits 1
        os.write(ready_w, f'{type(exc).__name__}: {exc}\n'.encode())
        os._exit(1)
    os.write(ready_w, b'ok')
    os.close(ready_w)
    LOG.info('started (pid %d), forwarding to %s', os.getpid(), args.upstream)
    proxy.run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
