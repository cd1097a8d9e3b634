"""Alembic environment: the connection comes from ``config.attributes``."""

from alembic import context

from agent.controller.db import models

config = context.config
connection = config.attributes.get('connection')
if connection is None:
    raise RuntimeError('netnode migrations run through agent.controller.migrations.upgrade()')

context.configure(connection=connection, target_metadata=models.Base.metadata,
                  render_as_batch=connection.dialect.name == 'sqlite')
with context.begin_transaction():
    context.run_migrations()
