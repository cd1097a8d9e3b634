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


def upgrade(engine: sa.Engine, revision: str = 'head') -> None:
    """Bring the schema of ``engine``'s database to ``revision``."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
