"""Engine and transactions: one place that knows SQLite's and PostgreSQL's quirks.

SQLite: WAL journal, ``busy_timeout`` and ``BEGIN IMMEDIATE`` for write
transactions, so concurrent processes queue for the write lock instead of failing
with "database is locked" at commit.  Every write transaction is retried as a
whole when it lost a race (unique violation, serialization failure, deadlock,
lock timeout), up to ``[database] max_retries`` times.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import sqlite3
import threading
import time
from typing import Callable, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc, orm

from agent.controller import exceptions

LOG = logging.getLogger(__name__)
T = TypeVar('T')

SQLITE_BUSY_TIMEOUT_MS = 30000
# Errors that mean "another transaction won; try again" (by SQLSTATE or message).
_RETRY_SQLSTATES = {'40001', '40P01', '23505', '55P03'}
_RETRY_MESSAGES = ('database is locked', 'deadlock', 'could not serialize',
                   'unique constraint', 'duplicate key', 'lock wait timeout',
                   'database table is locked')


def database_url(conf) -> str:
    """``[database] connection``, or an SQLite file in ``state_path``."""
    url = conf.database.connection
    if url:
        return url
    # Searchable (dnsmasq and haproxy reach the agents' files under a shared
    # state_path) but not listable by other users.
    os.makedirs(conf.state_path, mode=0o711, exist_ok=True)
    return 'sqlite:///' + os.path.join(conf.state_path, 'netnode.sqlite')


SQLITE_FILE_MODE = 0o600
SQLITE_JOURNALS = ('-wal', '-shm', '-journal')


def make_sqlite_file_private(path: str) -> None:
    """The database (every instance's user data) and its journals readable by its
    owner only.  SQLite creates the -wal, -shm and -journal files with the
    database file's mode, so the file is created 0600 before SQLite opens it, and
    files left by an older version are tightened."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, SQLITE_FILE_MODE)
    try:
        os.fchmod(fd, SQLITE_FILE_MODE)
    finally:
        os.close(fd)
    for suffix in SQLITE_JOURNALS:
        try:
            os.chmod(path + suffix, SQLITE_FILE_MODE)
        except FileNotFoundError:
            pass


def _json_loads(text):
    """``json.loads``, with the empty list and object (most JSON columns: pools,
    nameservers, routes, extra DHCP options) answered without the parser."""
    if text == '[]' or text == b'[]':      # psycopg passes bytes
        return []
    if text == '{}' or text == b'{}':
        return {}
    return json.loads(text)


def make_engine(url: str) -> sa.Engine:
    if url.startswith('postgresql://'):
        url = 'postgresql+psycopg://' + url[len('postgresql://'):]
    if url.startswith('sqlite'):
        database = sa.engine.make_url(url).database
        if database and database != ':memory:' and not database.startswith('file:'):
            make_sqlite_file_private(database)
        # A file needs no liveness ping: there is no server to lose.
        engine = sa.create_engine(url, connect_args={'check_same_thread': False,
                                                'timeout': SQLITE_BUSY_TIMEOUT_MS / 1000},
                                  json_deserializer=_json_loads)
        _configure_sqlite(engine)
        return engine
    # No pool_pre_ping: it costs a round trip per transaction (~12% of the reads'
    # throughput under 16 callers, measured).  A connection the server dropped
    # fails at its first statement, SQLAlchemy then invalidates the pool, and the
    # transaction is run again (Database.read and Database.write).
    return sa.create_engine(url, pool_size=10, max_overflow=20, json_deserializer=_json_loads)


def _configure_sqlite(engine: sa.Engine) -> None:
    # Take over transaction control from pysqlite so BEGIN IMMEDIATE is ours.
    @event.listens_for(engine, 'connect')
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f'PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}')
        cur.execute('PRAGMA foreign_keys = ON')
        if engine.url.database not in (None, '', ':memory:'):
            _enable_wal(cur)
            cur.execute('PRAGMA synchronous = NORMAL')
        cur.close()

    @event.listens_for(engine, 'begin')
    def _on_begin(conn):
        mode = conn.get_execution_options().get('sqlite_begin', 'DEFERRED')
        conn.exec_driver_sql(f'BEGIN {mode}')


def _enable_wal(cur) -> None:
    """Switch the file to WAL, which then stays with the file.

    The switch needs the file to itself, and SQLite answers "database is locked"
    at once, without its busy handler, when another process is connecting at the
    same moment (two server workers starting together), so wait here instead.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cur.execute('PRAGMA journal_mode').fetchone()[0].lower() == 'wal':
                return
            cur.execute('PRAGMA journal_mode = WAL')
            return
        except sqlite3.OperationalError as error:
            if 'locked' not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02 + random.random() * 0.05)


_write_locks: dict[tuple[int, str], threading.Lock] = {}
_write_locks_guard = threading.Lock()


def sqlite_write_lock(database: str | None) -> threading.Lock:
    """The write lock of an SQLite file, one per process (keyed by pid: a forked
    child starts with its own).

    Every Database of this process on the file queues on it: the REST API's
    Plugin and the RPC servers' Plugin share a process, and without it they would
    meet in SQLite's busy handler, which polls with sleeps of up to 100 ms.
    """
    if database in (None, '', ':memory:'):
        return threading.Lock()        # a private database: nobody to share with
    key = (os.getpid(), os.path.realpath(database))
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


def is_retriable(error: BaseException) -> bool:
    """Whether a database error means the transaction lost a race."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if not isinstance(error, (exc.IntegrityError, exc.OperationalError,
                              exc.DBAPIError)):
        return False
    orig = getattr(error, 'orig', None)
    if getattr(orig, 'sqlstate', None) in _RETRY_SQLSTATES:
        return True
    text = str(orig if orig is not None else error).lower()
    return any(m in text for m in _RETRY_MESSAGES)


class Database:
    """Sessions and retried transactions over one engine."""

    def __init__(self, url: str, max_retries: int = 10):
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == 'sqlite'
        self.max_retries = max_retries
        self._sessions = orm.sessionmaker(bind=self.engine, expire_on_commit=False)
        # SQLite has one writer at a time: threads of this process queue here, and
        # only other processes wait in SQLite's (polling) busy handler.
        self._write_lock = (sqlite_write_lock(self.engine.url.database) if self.is_sqlite
                            else contextlib.nullcontext())
        if self.is_sqlite:
            self._write_engine = self.engine.execution_options(sqlite_begin='IMMEDIATE')
            self._write_sessions = orm.sessionmaker(bind=self._write_engine,
                                                    expire_on_commit=False)
        else:
            self._write_sessions = self._sessions

    def read(self, fn: Callable[[orm.Session], T]) -> T:
        """Run ``fn(session)`` in a read-only transaction; once more on a fresh
        connection if the pooled one turned out dead (the server restarted)."""
        try:
            with self._sessions() as session, session.begin():
                return fn(session)
        except exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
            LOG.info('Database connection lost (%s); reading again on a new one',
                     type(error.orig).__name__)
        with self._sessions() as session, session.begin():
            return fn(session)

    def write(self, fn: Callable[[orm.Session], T]) -> T:
        """Run ``fn(session)`` in a write transaction, retried as a whole on lost races.

        ``fn`` must have no effects outside the session (it may run several times).
        """
        attempt = 0
        while True:
            try:
                with self._write_lock, self._write_sessions() as session, session.begin():
                    return fn(session)
            except exc.DBAPIError as error:
                if not is_retriable(error):
                    raise
                if attempt >= self.max_retries:
                    raise exceptions.Conflict(
                        f'Transaction kept conflicting with concurrent ones after '
                        f'{attempt} retries: {error.orig}') from error
                attempt += 1
                LOG.debug('Transaction lost a race (%s); retry %d of %d',
                          type(error.orig).__name__, attempt, self.max_retries)
                time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** attempt)))

    def dispose(self) -> None:
        self.engine.dispose()
