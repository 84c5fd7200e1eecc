"""`flask locations ...`: office settings for operators."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import Location
from ..offices import parse_inboxes, set_inboxes

cli = AppGroup("locations", help="Manage the offices.")


@cli.command("set-inbox")
@click.argument("slug")
@click.argument("emails")
def set_inbox(slug: str, emails: str) -> None:
    """Set the notification inboxes of office SLUG (comma-separated EMAILS)."""
    location = db.session.scalar(select(Location).where(Location.slug == slug))
    if location is None:
        raise click.BadParameter(f"no office with slug {slug!r}", param_hint="SLUG")
    try:
        cleaned = parse_inboxes(emails)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAILS") from None
    set_inboxes(location, cleaned)
    db.session.commit()
    click.echo(f"{location.name}: {', '.join(cleaned)}")


@cli.command("list")
def list_locations() -> None:
    """Show each office with its inboxes."""
    for loc in db.session.scalars(select(Location).order_by(Location.position)):
        state = "" if loc.active else " (inactive)"
        click.echo(f"{loc.slug:15} {loc.name:16} {', '.join(loc.inbox_emails)}{state}")
