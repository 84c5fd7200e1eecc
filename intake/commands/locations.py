"""`flask locations ...`: office settings for operators."""

import click
from email_validator import EmailNotValidError, validate_email
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import Location, LocationInbox

cli = AppGroup("locations", help="Manage the offices.")


def set_inboxes(location: Location, emails: list[str]) -> None:
    """Replace an office's notification inboxes with ``emails`` (already validated)."""
    location.inboxes.clear()
    db.session.flush()
    for email in dict.fromkeys(emails):
        location.inboxes.append(LocationInbox(email=email))


@cli.command("set-inbox")
@click.argument("slug")
@click.argument("emails")
def set_inbox(slug: str, emails: str) -> None:
    """Set the notification inboxes of office SLUG (comma-separated EMAILS)."""
    location = db.session.scalar(select(Location).where(Location.slug == slug))
    if location is None:
        raise click.BadParameter(f"no office with slug {slug!r}", param_hint="SLUG")
    cleaned = []
    for raw in emails.split(","):
        raw = raw.strip()
        if not raw:
            continue
        try:
            cleaned.append(validate_email(raw, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise click.BadParameter(f"{raw!r}: {exc}", param_hint="EMAILS") from None
    if not cleaned:
        raise click.BadParameter("give at least one address", param_hint="EMAILS")
    set_inboxes(location, cleaned)
    db.session.commit()
    click.echo(f"{location.name}: {', '.join(cleaned)}")


@cli.command("list")
def list_locations() -> None:
    """Show each office with its inboxes."""
    for loc in db.session.scalars(select(Location).order_by(Location.position)):
        state = "" if loc.active else " (inactive)"
        click.echo(f"{loc.slug:15} {loc.name:16} {', '.join(loc.inbox_emails)}{state}")
