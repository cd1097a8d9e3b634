"""One OVSDB connection: JSON-RPC over a unix or tcp socket, a ``monitor_cond`` of
only the columns the agents read, kept as a compact replica.

python-ovs' IDL (through ovsdbapp) kept ~5.2 KiB of Python objects per port of
the host (every port, not only ours), 7.7 MiB of RSS per 1000 ports: a Row and
its three transaction dicts, a ``Datum`` of ``Atom`` objects for each column,
ovsdbapp's name indexes.  Here a row is one slotted object per table whose
attributes are the plain values (strings interned, so a uuid referenced from a
Bridge's ``ports``, a Port's ``interfaces`` and the row itself is one string).
Measured with 1000 internal ports shaped like ours on a private ovsdb-server
(2026-12): 0.95 KiB of Python objects per port against 4.95 (tracemalloc),
3.6 MiB of RSS after the connect against 7.5 (the first copy's parse is most of
it and is reused by later allocations: 21.6 MiB against 25.8 once 20000 more
small dicts were made), 0.02 s of CPU against 0.15.

Rows are never changed once in the replica: an update makes a new row object
and swaps it in (a reconnect swaps in a whole new replica), so readers take no
lock; a read of several rows may see two updates' states, never a torn row.
Only the reader thread changes the replica.  The reply to a transaction is
handled after every message that came before it, and ovsdb-server sends the
monitor's update of a transaction before its reply (300 transactions of 300 on
ovsdb-server 3.1's unix socket, 2026-12): a caller sees its own change in the
replica once :meth:`OvsdbClient.transact` returns.  Where that matters (the
local VLAN map's compare-and-swap) a stale read is retried, not trusted.
"""

from __future__ import annotations

import codecs
import itertools
import json
import logging
import socket
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from agent.drivers.ovs_json import StreamParser
from agent.drivers.state import DriverError

LOG = logging.getLogger(__name__)

DB = 'Open_vSwitch'
ATOM, OPTIONAL, SET, MEMBERS, MAP = 'atom', 'optional', 'set', 'members', 'map'
Column = Tuple[str, str, Any]          # name, kind, value when the server leaves it out
# What the agents read (agent.drivers.ovs, local_vlan).  Columns only written
# (Port vlan_mode/trunks, Interface options) are not replicated: the
# transactions are JSON operations, which need no copy of what they write.
SCHEMA: Dict[str, Tuple[Column, ...]] = {
    'Open_vSwitch': (('bridges', SET, ()), ('cur_cfg', ATOM, 0), ('next_cfg', ATOM, 0)),
    'Bridge': (('name', ATOM, ''), ('ports', MEMBERS, frozenset()),
               ('datapath_type', ATOM, ''), ('external_ids', MAP, {})),
    'Port': (('name', ATOM, ''), ('interfaces', SET, ()), ('tag', OPTIONAL, None)),
    'Interface': (('name', ATOM, ''), ('type', ATOM, ''), ('external_ids', MAP, {}),
                  ('ofport', OPTIONAL, None), ('error', OPTIONAL, None)),
}
ECHO_SECONDS = 5.0          # idle this long: an echo; as long again without a reply: reconnect
RECONNECT_MAX_SECONDS = 4.0
_intern = sys.intern
_SPACE = ' \t\r\n'
# A message that came whole in one read (every one but a big first copy) is
# parsed by the C decoder in one pass; the StreamParser's scan for its end, a
# Python loop over its strings and brackets, took ~10x as long (43 us against
# 4.4 for a port's 0.66 KB update2).
_raw_decode = json.JSONDecoder().raw_decode


class TransactionError(DriverError):
    """ovsdb-server refused a transaction; ``error`` is its error name ("timed
    out" for a failed ``wait``, "constraint violation", ...)."""

    def __init__(self, message: str, error: str = '', op: Optional[int] = None) -> None:
        super().__init__(message)
        self.error = error
        self.op = op


class Row:
    """Base of the replica's row classes (one per table, see :func:`row_class`)."""

    __slots__ = ('uuid',)
    uuid: str

    def __repr__(self) -> str:
        values = ', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)
        return f'{type(self).__name__}(uuid={self.uuid!r}, {values})'


def row_class(table: str, columns: Sequence[Column]) -> type:
    return type(table, (Row,), {'__slots__': tuple(c[0] for c in columns)})


def _atom(value: Any) -> Any:
    if isinstance(value, str):
        return _intern(value)
    if isinstance(value, list):         # ["uuid", "..."]
        return _intern(value[1])
    return value


def decode(kind: str, value: Any) -> Any:
    """An OVSDB JSON value -> the replica's: an atom, None or the atom (optional),
    a tuple (set), a frozenset (members), a dict (map)."""
    if kind == MAP:
        return {_atom(k): _atom(v) for k, v in value[1]}
    if isinstance(value, list) and value[0] == 'set':
        items = value[1]
        if kind == OPTIONAL:
            return _atom(items[0]) if items else None
        return frozenset(map(_atom, items)) if kind == MEMBERS else tuple(map(_atom, items))
    atom = _atom(value)
    if kind == SET:
        return (atom,)
    return frozenset((atom,)) if kind == MEMBERS else atom


def apply_diff(kind: str, old: Any, diff: Any) -> Any:
    """A column's value after an ``update2`` modify's ``diff``: the new value of a
    column of at most one element; else the elements to toggle (sets) or the
    pairs to add, change or (given with their current value) remove (maps)."""
    if kind == MAP:
        value = dict(old)
        for k, v in decode(MAP, diff).items():
            if k in value and value[k] == v:
                del value[k]
            else:
                value[k] = v
        return value
    if kind == MEMBERS:
        return old ^ decode(MEMBERS, diff)
    if kind == SET:
        toggled = decode(SET, diff)
        return tuple(x for x in old if x not in toggled) + \
            tuple(x for x in toggled if x not in old)
    return decode(kind, diff)


class Replica:
    """The monitored rows: ``rows[table][uuid]``, and ``by_name[table][name]`` for
    the tables with a name column."""

    def __init__(self, schema: Dict[str, Tuple[Column, ...]] = SCHEMA) -> None:
        self.schema = schema
        self.classes = {t: row_class(t, cols) for t, cols in schema.items()}
        self.rows: Dict[str, Dict[str, Any]] = {t: {} for t in schema}
        self.by_name: Dict[str, Dict[str, Any]] = {
            t: {} for t, cols in schema.items() if any(c[0] == 'name' for c in cols)}

    def apply(self, table_updates: Dict[str, Dict[str, dict]]) -> None:
        """A ``monitor_cond``'s ``<table-updates2>`` (its first reply or an
        ``update2``): a row's "initial" or "insert" has the columns whose values
        are not the default, its "modify" the changed ones as differences (an
        update of a Bridge with 2000 ports does not send them all again)."""
        for table, updates in table_updates.items():
            if table not in self.rows:
                continue
            for uuid, update in updates.items():
                if 'modify' in update:
                    old = self.rows[table].get(uuid)
                    if old is not None:
                        self._put(table, uuid, update['modify'], old)
                elif 'delete' in update:
                    self._remove(table, uuid)
                else:
                    self._put(table, uuid, update.get('initial') or update.get('insert') or {})

    def _put(self, table: str, uuid: str, new: dict, old: Any = None) -> None:
        """A new row from ``new`` (columns left out: their defaults), or ``old``
        changed by the differences ``new``."""
        rows = self.rows[table]
        row = self.classes[table]()
        row.uuid = _intern(uuid)
        for name, kind, default in self.schema[table]:
            if old is None:
                value = decode(kind, new[name]) if name in new else default
            elif name in new:
                value = apply_diff(kind, getattr(old, name), new[name])
            else:
                value = getattr(old, name)
            setattr(row, name, value)
        rows[row.uuid] = row
        index = self.by_name.get(table)
        if index is not None:
            name = old.name if old is not None else row.name
            if name != row.name and index.get(name) is old:
                del index[name]
            index[row.name] = row

    def _remove(self, table: str, uuid: str) -> None:
        row: Any = self.rows[table].pop(uuid, None)
        index = self.by_name.get(table)
        name = row.name if row is not None else None
        if index is not None and name is not None and index.get(name) is row:
            del index[name]

    def root(self) -> Any:
        """The Open_vSwitch row (None before the first copy)."""
        rows = list(self.rows['Open_vSwitch'].values())    # one step under the GIL
        return rows[0] if rows else None


def address(target: str) -> Tuple[int, Any]:
    """``unix:PATH`` or ``tcp:IP:PORT`` (``tcp:[IPv6]:PORT``) -> socket family and address."""
    kind, _, rest = target.partition(':')
    if kind == 'unix' and rest:
        return socket.AF_UNIX, rest
    if kind == 'tcp':
        host, _, port = rest.rpartition(':')
        if host and port.isdigit():
            host = host.strip('[]')
            return (socket.AF_INET6 if ':' in host else socket.AF_INET), (host, int(port))
    raise DriverError(f'OVSDB {target}: not a unix:PATH or tcp:IP:PORT connection')


def transaction_error(reply: dict) -> Optional[TransactionError]:
    """The error of a ``transact`` reply, if it has one."""
    if reply.get('error') is not None:
        return TransactionError(f'{reply["error"]}', str(reply['error']))
    for i, result in enumerate(reply.get('result') or ()):
        if isinstance(result, dict) and result.get('error'):
            details = f': {result["details"]}' if result.get('details') else ''
            return TransactionError(f'{result["error"]}{details}', result['error'], i)
    return None


class OvsdbClient:
    """A connection to ovsdb-server's Open_vSwitch database and its replica.

    :meth:`start` connects (and raises if it cannot); then a reader thread keeps
    the replica, answers echoes, hands replies to the waiting callers and, when
    the connection is lost, connects again and reads everything anew.  Callers
    on any thread read ``replica`` and call :meth:`transact`."""

    def __init__(self, target: str, timeout: float = 10,
                 schema: Dict[str, Tuple[Column, ...]] = SCHEMA) -> None:
        self.target = target
        self.timeout = timeout
        self.schema = schema
        self.replica = Replica(schema)
        self.connects = 0
        self._family, self._address = address(target)
        self._sock: Optional[socket.socket] = None
        self._send_lock = threading.Lock()
        self._pending: Dict[int, Future] = {}
        self._ids = itertools.count(1)
        self._connected = threading.Event()
        self._changed = threading.Condition()     # notified after each change of the replica
        self._stopped = False
        self._error: Optional[BaseException] = None

    # -- connection --------------------------------------------------------------------

    def start(self) -> 'OvsdbClient':
        sock = self._open()             # the first connect's errors go to the caller
        threading.Thread(target=self._run, args=(sock,), name='ovsdb-reader',
                         daemon=True).start()
        if not self._connected.wait(self.timeout):
            self.close()
            raise DriverError(f'OVSDB {self.target}: no copy of the database within '
                              f'{self.timeout} s{": " + str(self._error) if self._error else ""}')
        return self

    def close(self) -> None:
        self._stopped = True
        self._drop(DriverError(f'OVSDB {self.target}: closed'))

    def _open(self) -> socket.socket:
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._address)
        except OSError as exc:
            sock.close()
            raise DriverError(f'OVSDB {self.target}: cannot connect: {exc}') from exc
        sock.settimeout(ECHO_SECONDS)
        monitor = {t: {'columns': [c[0] for c in cols]} for t, cols in self.schema.items()}
        with self._send_lock:
            self._sock = sock
            self._send({'method': 'monitor_cond', 'params': [DB, None, monitor],
                        'id': 'monitor'})
        return sock

    def _run(self, sock: Optional[socket.socket]) -> None:
        delay, connects = 0.1, self.connects
        while not self._stopped:
            try:
                if sock is None:
                    sock = self._open()
                self._read(sock)
            except Exception as exc:  # noqa: BLE001 - any: the replica is read again
                self._error = exc
                if not self._stopped:
                    LOG.warning('OVSDB %s: connection lost (%s), connecting again',
                                self.target, exc)
            self._drop(DriverError(f'OVSDB {self.target}: connection lost: {self._error}'))
            sock = None
            if self._stopped:
                return
            if self.connects != connects:       # it had been connected: try at once
                delay, connects = 0.1, self.connects
            time.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _drop(self, error: DriverError) -> None:
        """Forget the socket; the transactions waiting for a reply fail."""
        self._connected.clear()
        with self._send_lock:
            sock, self._sock = self._sock, None
            pending, self._pending = self._pending, {}
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        for future in pending.values():
            future.set_exception(error)
        self._notify_changed()

    def _read(self, sock: socket.socket) -> None:
        decoder = codecs.getincrementaldecoder('utf-8')()
        parser = StreamParser()
        fresh = True                    # no part of a message read yet
        probing = False
        while not self._stopped:
            try:
                data = sock.recv(1 << 16)
            except socket.timeout:
                if probing:
                    raise DriverError(f'no reply to an echo within {ECHO_SECONDS} s') from None
                probing = True
                with self._send_lock:
                    self._send({'method': 'echo', 'params': [], 'id': 'echo'})
                continue
            if not data:
                raise DriverError('closed by the server')
            probing = False
            text = decoder.decode(data)
            while text:
                if fresh:               # a message starts here: whole in the text?
                    start = len(text) - len(text.lstrip(_SPACE))
                    if start == len(text):
                        break
                    try:
                        message, end = _raw_decode(text, start)
                    except ValueError:  # not whole (or not JSON): the parser's
                        pass
                    else:
                        text = text[end:]
                        self._handle(message)
                        del message
                        continue
                text = text[parser.feed(text):]
                if parser.is_done():
                    message = parser.finish()
                    parser, fresh = StreamParser(), True
                    self._handle(message)
                    del message         # the first copy's parse: ~4 MiB with 1000 ports
                else:
                    fresh = False

    def _handle(self, message: Any) -> None:
        if not isinstance(message, dict):
            raise DriverError(f'not a JSON-RPC message: {message!r:.200}')
        self._dispatch(message)

    def _dispatch(self, message: dict) -> None:
        method = message.get('method')
        if method == 'update2':
            self.replica.apply(message['params'][1])
            self._notify_changed()
        elif method == 'echo':
            with self._send_lock:
                self._send({'result': message.get('params'), 'error': None,
                            'id': message.get('id')})
        elif method is None and message.get('id') == 'monitor':
            if message.get('error') is not None:
                raise DriverError(f'monitor refused: {message["error"]}')
            replica = Replica(self.schema)
            replica.apply(message['result'])
            self.replica = replica
            self.connects += 1
            self._connected.set()
            self._notify_changed()
        elif method is None:
            future = self._pending.pop(message.get('id'), None)   # type: ignore[arg-type]
            if future is not None:
                future.set_result(message)

    def _notify_changed(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """Until ``predicate()`` (of the replica) is true, checked now and after each
        change of the replica (an update, a new copy, a lost connection), or
        ``timeout`` s have passed; its last value.  Rather than polling: a wait for
        ovs-vswitchd (1 ms polls growing to 20 ms) woke ~5 times and returned up
        to 20 ms after the update came."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def _send(self, message: dict) -> None:
        """Under ``_send_lock``."""
        if self._sock is None:
            raise DriverError(f'OVSDB {self.target}: not connected')
        self._sock.sendall(json.dumps(message, separators=(',', ':')).encode())

    # -- transactions ------------------------------------------------------------------

    def transact(self, ops: List[dict], timeout: Optional[float] = None) -> List[Any]:
        """Commit ``ops`` (OVSDB operations) and return their results; raises
        :class:`TransactionError` if ovsdb-server refused them, DriverError if
        the connection failed (whether they were committed is then unknown)."""
        timeout = self.timeout if timeout is None else timeout
        if not self._connected.wait(timeout):
            raise DriverError(f'OVSDB {self.target}: not connected'
                              f'{": " + str(self._error) if self._error else ""}')
        future: Future = Future()
        with self._send_lock:
            request_id = next(self._ids)
            self._pending[request_id] = future
            try:
                self._send({'method': 'transact', 'params': [DB, *ops], 'id': request_id})
            except (OSError, DriverError) as exc:
                self._pending.pop(request_id, None)
                raise DriverError(f'OVSDB {self.target}: cannot send: {exc}') from exc
        try:
            reply = future.result(timeout)
        except FutureTimeout:
            self._pending.pop(request_id, None)
            raise DriverError(f'OVSDB {self.target}: no reply within {timeout} s') from None
        error = transaction_error(reply)
        if error is not None:
            raise error
        return reply['result']
