"""`flask --app intake purge --older-than DAYS [--dry-run]`: retention."""

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import clock
from .. import purge as retention
from ..extensions import db
from ..models import Lead


@click.command("purge")
@with_appcontext
@click.option("--older-than", "days", type=click.IntRange(min=1), required=True, metavar="DAYS",
              help="Purge closed and spam leads with no activity for this many days.")
@click.option("--dry-run", is_flag=True, help="List what would be purged and change nothing.")
def purge(days: int, dry_run: bool) -> None:
    """Anonymise closed and spam leads past retention, keeping what reports count."""
    result = retention.purge(db.session, older_than_days=days, now=clock.utcnow(), dry_run=dry_run)
    if dry_run:
        db.session.rollback()
        click.echo(f"Dry run: {result.count} leads would be anonymised "
                   f"(closed or spam, no activity since before {result.cutoff:%Y-%m-%d %H:%M} UTC).")
        for ref, slug_status in _describe(result.lead_ids):
            click.echo(f"  {ref} {slug_status}")
        return
    db.session.commit()
    click.echo(f"Anonymised {result.count} leads (closed or spam, no activity since before "
               f"{result.cutoff:%Y-%m-%d %H:%M} UTC).")


def _describe(ids: list[int], limit: int = 1000):
    """Reference, status and last activity of the first ``limit`` leads: no personal detail."""
    rows = db.session.execute(
        select(Lead.reference, Lead.status, Lead.spam, Lead.updated_at).where(Lead.id.in_(ids[:limit]))
        .order_by(Lead.id)
    )
    for ref, status, spam, updated in rows:
        yield ref, f"{'spam' if spam else status}, last activity {updated:%Y-%m-%d}"
    if len(ids) > limit:
        yield "...", f"and {len(ids) - limit} more"
