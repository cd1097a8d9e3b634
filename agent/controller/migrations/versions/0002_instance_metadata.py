"""Instance metadata: per-instance data served by the metadata agent

Revision ID: 0002_instance_metadata
Revises: 0001_initial
Create Date: 2026-11-25 23:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_instance_metadata'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'instancemetadata',
        sa.Column('device_id', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('hostname', sa.String(length=255), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=True),
        sa.Column('availability_zone', sa.String(length=255), nullable=True),
        sa.Column('user_data', sa.LargeBinary(), nullable=True),
        sa.Column('public_keys', sa.JSON(), nullable=False),
        sa.Column('vendor_data', sa.JSON(), nullable=False),
        sa.Column('revision_number', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('device_id'),
    )
    with op.batch_alter_table('instancemetadata', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instancemetadata_project_id'), ['project_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('instancemetadata', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instancemetadata_project_id'))
    op.drop_table('instancemetadata')
