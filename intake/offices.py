"""Rules about an office's notification inboxes, shared by the admin pages and the CLI."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from .extensions import db
from .models import Location, LocationInbox


def parse_inboxes(text: str) -> list[str]:
    """Comma- or line-separated addresses, each validated, duplicates dropped, order kept.

    Raises ValueError with a message fit to show a person.
    """
    cleaned = []
    for raw in text.replace("\n", ",").split(","):
        raw = raw.strip()
        if not raw:
            continue
        try:
            cleaned.append(validate_email(raw, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise ValueError(f"{raw} is not a valid address: {exc}") from None
    if not cleaned:
        raise ValueError("Give at least one notification address.")
    return list(dict.fromkeys(cleaned))


def set_inboxes(location: Location, emails: list[str]) -> None:
    """Replace an office's notification inboxes with ``emails`` (already validated)."""
    location.inboxes.clear()
    db.session.flush()
    for email in dict.fromkeys(emails):
        location.inboxes.append(LocationInbox(email=email))
