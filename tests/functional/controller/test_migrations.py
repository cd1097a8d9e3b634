"""The initial revision creates exactly the models' schema; upgrades are idempotent."""

import multiprocessing

import pytest
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
