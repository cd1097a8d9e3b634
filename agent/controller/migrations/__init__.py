"""Alembic migrations, configured in code so they run from an installed package."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

SCRIPT_LOCATION = os.path.dirname(os.path.abspath(__file__))


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option('script_location', SCRIPT_LOCATION)
    config.attributes['connection'] = connection
    return config


# Serialises concurrent upgrades (several server workers starting at once).
_PG_LOCK_KEY = 0x6e65746e   # 'netn'


def upgrade(engine: sa.Engine, revision: str = 'head') -> None:
    """Bring the schema of ``engine``'s database to ``revision``.

    Concurrent callers queue: PostgreSQL through an advisory transaction lock,
    SQLite through ``BEGIN IMMEDIATE`` (see :mod:`agent.controller.db.engine`).
    """
    if engine.dialect.name == 'sqlite':
        engine = engine.execution_options(sqlite_begin='IMMEDIATE')
    with engine.begin() as connection:
        if connection.dialect.name == 'postgresql':
            connection.execute(sa.text('SELECT pg_advisory_xact_lock(:key)'),
                               {'key': _PG_LOCK_KEY})
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
