"""index for the queue's per-status counts

The capped counts (status, open, not spam) read this index alone instead of
walking every open lead to find the ones of one status.

Revision ID: 1a70c7a3da2b
Revises: 91951ce9d1e9
Create Date: 2026-11-27 14:01:36.527995

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '1a70c7a3da2b'
down_revision = '91951ce9d1e9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.create_index('ix_lead_status_open', ['status', 'is_open', 'spam'], unique=False)


def downgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_status_open')
