"""The initial revision creates exactly the models' schema; upgrades are idempotent."""

import multiprocessing

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from agent.controller import migrations
from agent.controller.db import engine as db_engine
from agent.controller.db import models

pytestmark = pytest.mark.functional


def _upgrade(url):
    engine = db_engine.make_engine(url)
    migrations.upgrade(engine)
    engine.dispose()


def test_schema_matches_models(fresh_db_url):
    db_url = fresh_db_url
    engine = db_engine.make_engine(db_url)
    try:
        # Two processes upgrading at once (server workers starting together).
        ctx = multiprocessing.get_context('spawn')
        procs = [ctx.Process(target=_upgrade, args=(db_url,)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0
        migrations.upgrade(engine)   # again: nothing to do
        head = ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()
        assert migrations.current_revision(engine) == head
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_l3_ha_upgrade_and_downgrade_keep_router_bindings(fresh_db_url):
    """0003_l3_ha rekeys routerl3agentbindings and adds routers' columns without a
    copy of routers (on SQLite its drop would cascade to the bindings)."""
    engine = db_engine.make_engine(fresh_db_url)
    try:
        migrations.upgrade(engine, '0002_instance_metadata')
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO agents (id, agent_type, \"binary\", topic, host, "
                "admin_state_up, configurations, load, created_at, started_at, "
                "heartbeat_timestamp) VALUES ('agent-1', 'L3 agent', 'b', 't', 'h', "
                "true, '{}', 0, '2026-01-01', '2026-01-01', '2026-01-01')"))
            conn.execute(sa.text(
                "INSERT INTO routers (id, admin_state_up, status, enable_snat, routes, "
                "availability_zone_hints, name, description, revision_number, "
                "created_at, updated_at) VALUES ('router-1', true, 'ACTIVE', true, '[]', "
                "'[]', 'r', '', 0, '2026-01-01', '2026-01-01')"))
            conn.execute(sa.text(
                "INSERT INTO routerl3agentbindings VALUES ('router-1', 'agent-1')"))
        bindings = sa.text('SELECT router_id, l3_agent_id FROM routerl3agentbindings')
        migrations.upgrade(engine)
        with engine.begin() as conn:
            assert conn.execute(bindings).all() == [('router-1', 'agent-1')]
            assert [tuple(r) for r in conn.execute(sa.text(
                'SELECT ha, ha_vr_id FROM routers')).all()] == [(False, 0)]
        with engine.connect() as conn:
            command.downgrade(migrations.alembic_config(conn), '0002_instance_metadata')
            conn.commit()
        with engine.begin() as conn:
            assert conn.execute(bindings).all() == [('router-1', 'agent-1')]
        migrations.upgrade(engine)
        assert migrations.current_revision(engine) == '0003_l3_ha'
    finally:
        engine.dispose()
