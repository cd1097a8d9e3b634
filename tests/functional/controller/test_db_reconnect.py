"""A PostgreSQL server that dropped the pooled connections (a restart) costs no
request: the first statement on a dead connection fails, the pool is invalidated
and the transaction runs again on a new connection (there is no pre-ping)."""

import psycopg
import pytest

from agent.controller.context import Context
from agent.controller.plugin import Plugin
from tests.functional.controller.conftest import PgDatabase, make_conf

pytestmark = pytest.mark.functional


def _terminate_connections(url, dbname):
    with psycopg.connect(url, autocommit=True) as conn:
        killed = conn.execute(
            'SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity '
            'WHERE datname = %s AND pid <> pg_backend_pid()', (dbname,)).fetchone()[0]
    return killed


def test_reads_and_writes_survive_dropped_connections(tmp_path, run_id):
    db = PgDatabase(run_id)
    db.create()
    plugin = Plugin(make_conf(tmp_path, db.url))
    try:
        plugin.migrate()
        admin = Context.admin()
        net = plugin.create_network(admin, {'name': 'before'})
        assert _terminate_connections(db.url, db.name) >= 1
        assert plugin.get_network(admin, net['id'])['name'] == 'before'
        assert _terminate_connections(db.url, db.name) >= 1
        assert plugin.update_network(admin, net['id'], {'name': 'after'})['name'] == 'after'
        assert [n['name'] for n in plugin.get_networks(admin)] == ['after']
    finally:
        plugin.close()
        db.drop()
