"""HA routers: the ha and ha_vr_id of routers, several L3 agents per router, the HA
network of each project, VRID allocations and HA port bindings (Neutron's tables)

Revision ID: 0003_l3_ha
Revises: 0002_instance_metadata
Create Date: 2026-12-07 03:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003_l3_ha'
down_revision = '0002_instance_metadata'
branch_labels = None
depends_on = None

_ID = sa.String(length=36)


def _bindings_table(name: str, primary_key: tuple) -> None:
    op.create_table(
        name,
        sa.Column('router_id', _ID, nullable=False),
        sa.Column('l3_agent_id', _ID, nullable=False),
        sa.ForeignKeyConstraint(['l3_agent_id'], ['agents.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['router_id'], ['routers.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint(*primary_key),
    )


def _rebuild_bindings(primary_key: tuple) -> None:
    """routerl3agentbindings with another primary key: a new table, the rows copied
    (the same on SQLite and PostgreSQL, whose primary keys are named differently)."""
    _bindings_table('routerl3agentbindings_new', primary_key)
    op.execute('INSERT INTO routerl3agentbindings_new (router_id, l3_agent_id) '
               'SELECT router_id, l3_agent_id FROM routerl3agentbindings')
    op.drop_index('ix_routerl3agentbindings_l3_agent_id', 'routerl3agentbindings')
    op.drop_table('routerl3agentbindings')
    op.rename_table('routerl3agentbindings_new', 'routerl3agentbindings')
    op.create_index('ix_routerl3agentbindings_l3_agent_id', 'routerl3agentbindings',
                    ['l3_agent_id'], unique=False)


# Plain ALTER TABLE, never a batch copy: on SQLite (foreign keys on) a batch
# alter drops and recreates ``routers``, and the drop would cascade to every
# binding and floating IP of the routers.
def upgrade():
    op.add_column('routers', sa.Column('ha', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    op.add_column('routers', sa.Column('ha_vr_id', sa.Integer(), nullable=False,
                                       server_default='0'))
    _rebuild_bindings(('router_id', 'l3_agent_id'))
    op.create_table(
        'ha_router_networks',
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('network_id', _ID, nullable=False),
        sa.ForeignKeyConstraint(['network_id'], ['networks.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('project_id'),
        sa.UniqueConstraint('network_id'),
    )
    op.create_table(
        'ha_router_vrid_allocations',
        sa.Column('network_id', _ID, nullable=False),
        sa.Column('vr_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(['network_id'], ['networks.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('network_id', 'vr_id'),
    )
    op.create_table(
        'ha_router_agent_port_bindings',
        sa.Column('port_id', _ID, nullable=False),
        sa.Column('router_id', _ID, nullable=False),
        sa.Column('l3_agent_id', _ID, nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False,
                  server_default='standby'),
        sa.ForeignKeyConstraint(['l3_agent_id'], ['agents.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['port_id'], ['ports.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['router_id'], ['routers.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('port_id'),
        sa.UniqueConstraint('router_id', 'l3_agent_id',
                            name='uniq_ha_router_agent_port_bindings0router_id0l3_agent_id'),
    )
    op.create_index('ix_ha_router_agent_port_bindings_router_id',
                    'ha_router_agent_port_bindings', ['router_id'], unique=False)
    op.create_index('ix_ha_router_agent_port_bindings_l3_agent_id',
                    'ha_router_agent_port_bindings', ['l3_agent_id'], unique=False)


def downgrade():
    op.drop_table('ha_router_agent_port_bindings')
    op.drop_table('ha_router_vrid_allocations')
    op.drop_table('ha_router_networks')
    # A router on several agents keeps one of them.
    op.execute('DELETE FROM routerl3agentbindings WHERE l3_agent_id NOT IN '
               '(SELECT MIN(b.l3_agent_id) FROM routerl3agentbindings b '
               'WHERE b.router_id = routerl3agentbindings.router_id)')
    _rebuild_bindings(('router_id',))
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): no copy of routers (see upgrade).
    op.execute('ALTER TABLE routers DROP COLUMN ha_vr_id')
    op.execute('ALTER TABLE routers DROP COLUMN ha')
