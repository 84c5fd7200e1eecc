"""index for staff status counts

Staff see only their offices, so their capped per-status counts filter by
location first; this index answers each count from the index alone instead
of walking every open lead of the office.

Revision ID: be5059787341
Revises: 1a70c7a3da2b
Create Date: 2026-11-27 14:15:11.555512

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'be5059787341'
down_revision = '1a70c7a3da2b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.create_index('ix_lead_location_status', ['location_id', 'status', 'is_open', 'spam'], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        # SQLite plans from sqlite_stat1; a database analysed before this index
        # existed would favour it blindly (measured: a staff lead page went from
        # 16 ms to 380 ms at a million leads until ANALYZE ran).
        op.execute("ANALYZE lead")



def downgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_location_status')
