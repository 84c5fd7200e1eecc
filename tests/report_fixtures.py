"""A small, fully known set of leads for report tests: every expected number is worked out by hand.

Period 2026-10-19 (Mon) .. 2026-11-08 (Sun), three weeks; "now" is 2026-11-09 01:00 UTC.

 # office    created (UTC)      contact after  status             spam  article          campaign
 1 DC        10-19 09:00        1 h            contacting         -     ketamine-basics  fall
 2 DC        10-20 09:00        2 h            consult_scheduled  -     ketamine-basics  -
 3 DC        10-21 09:00        3 h            became_patient     -     ptsd             fall
 4 DC        11-02 09:00        4 h            closed             -     -                =HYPERLINK("x")
 5 DC        11-03 09:00        10 h           contacting         -     -                -
 6 DC        11-04 09:00        -              new                yes   ptsd             -
 7 DC        11-08 23:30        -              new                -     -                -   (SLA window still open)
 8 Bethesda  11-05 09:00        20 h           became_patient     -     ptsd             -
 9 DC        10-18 23:59        1 h            new                -     -                -   (before the period)
10 DC        11-09 00:30        -              new                -     -                -   (after the period)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from itertools import count

from sqlalchemy import select

from intake.models import Lead, Location

START, END = date(2026, 10, 19), date(2026, 11, 8)
NOW = datetime(2026, 11, 9, 1, 0, tzinfo=timezone.utc)
_refs = count(1)


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


ROWS = [
    ("washington-dc", at(10, 19), 1, "contacting", False, "ketamine-basics", "fall"),
    ("washington-dc", at(10, 20), 2, "consult_scheduled", False, "ketamine-basics", None),
    ("washington-dc", at(10, 21), 3, "became_patient", False, "ptsd", "fall"),
    ("washington-dc", at(11, 2), 4, "closed", False, None, '=HYPERLINK("x")'),
    ("washington-dc", at(11, 3), 10, "contacting", False, None, None),
    ("washington-dc", at(11, 4), None, "new", True, "ptsd", None),
    ("washington-dc", at(11, 8, 23, 30), None, "new", False, None, None),
    ("bethesda-md", at(11, 5), 20, "became_patient", False, "ptsd", None),
    ("washington-dc", at(10, 18, 23, 59), 1, "new", False, None, None),
    ("washington-dc", at(11, 9, 0, 30), None, "new", False, None, None),
]


def add_lead(session, slug, created, contact_hours=None, status="new", spam=False, article=None, campaign=None,
             **extra) -> Lead:
    """Insert one lead with exactly these facts (no routing, no mail)."""
    location = session.scalar(select(Location).where(Location.slug == slug))
    n = next(_refs)
    lead = Lead(
        reference=f"T{n:03d}-{n % 10000:04d}"[:9], location_id=location.id, status=status,
        is_open=status not in ("closed", "became_patient"), spam=spam, first_name="Pat", created_at=created,
        updated_at=created, last_inquiry_at=created, source_article=article, utm_campaign=campaign,
        first_contact_at=created + timedelta(hours=contact_hours) if contact_hours is not None else None,
        **extra,
    )
    session.add(lead)
    session.flush()
    return lead


def add_known_leads(session) -> list[Lead]:
    return [add_lead(session, *row) for row in ROWS]


def location_id(session, slug: str) -> int:
    return session.scalar(select(Location.id).where(Location.slug == slug))
