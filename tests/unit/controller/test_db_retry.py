import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from agent.controller import exceptions as exc
from agent.controller import scheduler
from agent.controller.db import engine, models


class FakeOrig(Exception):
    def __init__(self, text, sqlstate=None):
        super().__init__(text)
        self.sqlstate = sqlstate


def integrity(text='UNIQUE constraint failed: ipallocations.network_id', sqlstate=None):
    return sa_exc.IntegrityError('INSERT ...', {}, FakeOrig(text, sqlstate))


@pytest.mark.parametrize('error, retriable', [
    (integrity(), True),
    (integrity('duplicate key value violates unique constraint', '23505'), True),
    (sa_exc.OperationalError('x', {}, FakeOrig('database is locked')), True),
    (sa_exc.OperationalError('x', {}, FakeOrig('could not serialize access', '40001')), True),
    (sa_exc.OperationalError('x', {}, FakeOrig('deadlock detected', '40P01')), True),
    (integrity('FOREIGN KEY constraint failed', '23503'), False),
    (sa_exc.OperationalError('x', {}, FakeOrig('no such table: networks')), False),
])
def test_is_retriable(error, retriable):
    assert engine.is_retriable(error) is retriable


@pytest.fixture
def db(tmp_path):
    database = engine.Database(f'sqlite:///{tmp_path}/t.sqlite', max_retries=3)
    models.Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def test_write_retries_the_whole_transaction(db):
    calls = []

    def fn(session):
        calls.append(1)
        session.add(models.Network(id=f'n{len(calls)}', mtu=1500, name='', description='',
                                   availability_zone_hints=[]))
        session.flush()
        if len(calls) < 3:
            raise integrity()
        return 'done'
    assert db.write(fn) == 'done'
    assert len(calls) == 3
    ids = db.read(lambda s: list(s.scalars(sa.select(models.Network.id))))
    assert ids == ['n3']     # the failed attempts left nothing behind


def test_write_gives_up_with_conflict(db):
    def fn(session):
        raise integrity()
    with pytest.raises(exc.Conflict, match='3 retries'):
        db.write(fn)


def test_write_does_not_retry_neutron_errors(db):
    calls = []

    def fn(session):
        calls.append(1)
        raise exc.NetworkNotFound('Network x could not be found.')
    with pytest.raises(exc.NetworkNotFound):
        db.write(fn)
    assert calls == [1]


def test_sqlite_pragmas(db):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql('PRAGMA journal_mode').scalar() == 'wal'
        assert conn.exec_driver_sql('PRAGMA busy_timeout').scalar() == engine.SQLITE_BUSY_TIMEOUT_MS
        assert conn.exec_driver_sql('PRAGMA foreign_keys').scalar() == 1


def test_is_alive():
    now = datetime.datetime(2026, 1, 1, 12, 0, 0)
    agent = models.Agent(heartbeat_timestamp=now - datetime.timedelta(seconds=74))
    assert scheduler.is_alive(agent, 75, now)
    agent.heartbeat_timestamp = now - datetime.timedelta(seconds=76)
    assert not scheduler.is_alive(agent, 75, now)


def test_database_url_defaults_to_state_path(tmp_path):
    class Conf:
        state_path = str(tmp_path / 'state')

        class database:
            connection = None
    assert engine.database_url(Conf) == f'sqlite:///{tmp_path}/state/netnode.sqlite'
    Conf.database.connection = 'postgresql://u@h/db'
    assert engine.database_url(Conf) == 'postgresql://u@h/db'


def test_databases_on_one_sqlite_file_share_the_write_lock(tmp_path):
    """The REST and RPC Plugins of one process queue on one lock, not in SQLite's
    busy handler; another file, or an in-memory database, has its own."""
    a = engine.Database(f'sqlite:///{tmp_path}/one.sqlite')
    b = engine.Database(f'sqlite:///{tmp_path}/../{tmp_path.name}/one.sqlite')
    other = engine.Database(f'sqlite:///{tmp_path}/two.sqlite')
    memory = engine.Database('sqlite://')
    try:
        assert a._write_lock is b._write_lock
        assert other._write_lock is not a._write_lock
        assert memory._write_lock is not engine.Database('sqlite://')._write_lock
    finally:
        for database in (a, b, other, memory):
            database.dispose()
