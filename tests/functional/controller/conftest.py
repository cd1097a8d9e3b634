"""A Plugin on a fresh database: an SQLite file, or a PostgreSQL database of our own."""

import itertools
import uuid

import psycopg
import pytest

from agent.conf import service
from agent.controller.context import Context
from agent.controller.db import models
from agent.controller.notify import RecordingNotifier
from agent.controller.plugin import Plugin
from tests import pgdb

_counter = itertools.count()


def make_conf(tmp_path, url=None, **overrides):
    conf = service.make_conf([], groups=service.SERVER_GROUPS)
    conf.set_override('state_path', str(tmp_path))
    if url:
        conf.set_override('connection', url, group='database')
    for name, value in overrides.items():
        conf.set_override(name, value)
    return conf


class PgDatabase:
    """A database named after the run, dropped when the test ends."""

    def __init__(self, run_id):
        self.name = f'netnode_{run_id}_{next(_counter)}_{uuid.uuid4().hex[:6]}'
        self.url = pgdb.url_of(self.name)

    def create(self):
        pgdb.create_database(self.name)

    def drop(self):
        pgdb.drop_database(self.name)


@pytest.fixture(scope='session')
def shared_pg(run_id):
    """One PostgreSQL database for the session's Plugin tests, emptied after each."""
    db = PgDatabase(run_id)
    db.create()
    try:
        yield db
    finally:
        db.drop()


def _empty_tables(url):
    tables = ', '.join(t.name for t in models.Base.metadata.sorted_tables)
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('networks')").fetchone()[0]
        if exists:
            conn.execute(f'TRUNCATE {tables} CASCADE')


@pytest.fixture(params=['sqlite', 'postgresql'])
def db_url(request, tmp_path, shared_pg):
    """A migrated-or-empty database: an SQLite file, or the shared PostgreSQL one."""
    if request.param == 'sqlite':
        yield f'sqlite:///{tmp_path}/netnode.sqlite'
        return
    try:
        yield shared_pg.url
    finally:
        _empty_tables(shared_pg.url)


@pytest.fixture(params=['sqlite', 'postgresql'])
def fresh_db_url(request, tmp_path, run_id):
    """A database with nothing in it, not even a schema."""
    if request.param == 'sqlite':
        yield f'sqlite:///{tmp_path}/fresh.sqlite'
        return
    db = PgDatabase(run_id)
    db.create()
    try:
        yield db.url
    finally:
        db.drop()


@pytest.fixture
def conf(tmp_path, db_url):
    return make_conf(tmp_path, db_url)


@pytest.fixture
def plugin(conf):
    p = Plugin(conf, RecordingNotifier())
    p.migrate()
    yield p
    p.close()


@pytest.fixture
def admin():
    return Context.admin()


@pytest.fixture
def notes(plugin):
    return plugin.notifier
