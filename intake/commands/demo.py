"""`flask --app intake demo --leads N`: realistic fake leads for demos and benchmarks.

Rows are built in plain Python from pools drawn once from a seeded Faker, then
written with SQLAlchemy Core executemany in batches, so a million leads take
minutes rather than hours. Nothing here is a real person.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, insert, select, text

from .. import clock, rollups
from ..extensions import db
from ..leads import REFERENCE_ALPHABET
from ..models import (
    PRIORITY_NORMAL,
    PRIORITY_REPEAT,
    PRIORITY_URGENT,
    Article,
    AuditEvent,
    Lead,
    Location,
    StaffUser,
    staff_location,
)

if TYPE_CHECKING:
    from faker import Faker

logger = logging.getLogger(__name__)

BATCH = 5000
AREA_CODES = ("202", "301", "240", "410", "443", "703", "571")
CAMPAIGNS = ("spring-depression", "ptsd-veterans", "retargeting", "newsletter", "google-brand", "facebook-ptsd")
UTM = {"spring-depression": ("google", "cpc"), "ptsd-veterans": ("facebook", "paid-social"),
       "retargeting": ("google", "display"), "newsletter": ("newsletter", "email"),
       "google-brand": ("google", "cpc"), "facebook-ptsd": ("facebook", "paid-social")}
TOPICS = ("depression", "ptsd", "anxiety", "chronic_pain", "other")
# How a lead's story ends, by weight, once it is old enough to have ended.
OUTCOMES = [("became_patient", 18), ("consult_scheduled", 6), ("closed:not_a_fit", 10),
            ("closed:unreachable", 14), ("closed:chose_another_provider", 8), ("closed:duplicate", 3),
            ("contacting", 4)]
CONSENT = ("I agree that Capital Ketamine Clinics may contact me about my inquiry by the method I chose. "
           "This is not for emergencies: in a crisis call or text 988.")


class Pools:
    """Names, streets of text and ZIPs drawn once from Faker, then sampled cheaply."""

    def __init__(self, fake: Faker):
        self.first = [fake.first_name() for _ in range(800)]
        self.last = [fake.last_name() for _ in range(800)]
        self.domains = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "comcast.net", "verizon.net"]
        self.messages = [fake.paragraph(nb_sentences=3) for _ in range(400)] + [""] * 100
        self.referrers = [None, None, "https://www.google.com/", "https://www.bing.com/", "https://m.facebook.com/"]


_ref_rng = random.Random()  # seeded from the OS, not from --seed


def _reference(taken: set[str]) -> str:
    """A fresh reference; drawn apart from the seeded generator so a re-run's leads match the first run's."""
    while True:
        raw = "".join(_ref_rng.choices(REFERENCE_ALPHABET, k=8))
        ref = f"{raw[:4]}-{raw[4:]}"
        if ref not in taken:
            taken.add(ref)
            return ref


def build_lead(rng: random.Random, pools: Pools, now: datetime, offices: list[Location], articles: list[str],
               staff_by_office: dict[int, list[int]], taken: set[str], recent: list[dict]) -> dict:
    """One lead as a dict of column values, consistent the way the app would have left it."""
    office = rng.choice(offices)
    # Newer leads are more common: the clinic is growing.
    age = timedelta(days=365 * (rng.random() ** 1.6), seconds=rng.randrange(86400))
    created = now - age
    first, last = rng.choice(pools.first), rng.choice(pools.last)
    email = f"{first}.{last}{rng.randrange(1, 999)}@{rng.choice(pools.domains)}".lower() if rng.random() < 0.85 \
        else None
    phone = f"+1{rng.choice(AREA_CODES)}555{rng.randrange(10000):04d}" if rng.random() < 0.8 or not email else None
    duplicate_of = None
    if recent and rng.random() < 0.03:
        earlier = rng.choice(recent)
        email, phone, first, last = earlier["email"], earlier["phone"], earlier["first_name"], earlier["last_name"]
        duplicate_of = earlier
    article = rng.choice(articles) if articles and rng.random() < 0.7 else None
    campaign = rng.choice(CAMPAIGNS) if rng.random() < 0.45 else None
    spam = rng.random() < 0.03
    urgent = not spam and rng.random() < 0.02
    chosen = rng.random() < 0.4

    days = age.total_seconds() / 86400
    if spam:
        status, reason = "new", None
    elif days < 1:
        status, reason = rng.choice(["new", "new", "new", "contacting"]), None
    elif days < 14:
        status, reason = rng.choice(["new", "contacting", "contacting", "consult_scheduled", "became_patient",
                                     "closed:unreachable"]), None
    else:
        status, reason = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0], None
    if status.startswith("closed:"):
        status, reason = "closed", status.split(":", 1)[1]
    is_open = status in ("new", "contacting", "consult_scheduled")
    contacted = status != "new"
    first_contact = created + timedelta(minutes=rng.lognormvariate(4.5, 1.2)) if contacted else None
    if first_contact and first_contact > now:
        first_contact = now
    failed = 3 + rng.randrange(3) if reason == "unreachable" else (rng.randrange(3) if contacted else 0)
    team = staff_by_office.get(office.id) or []
    repeat = 1 if is_open and not spam and rng.random() < 0.04 else 0
    priority = PRIORITY_URGENT if urgent else (PRIORITY_REPEAT if repeat else PRIORITY_NORMAL)
    row = {
        "reference": _reference(taken), "location_id": office.id, "status": status, "close_reason": reason,
        "is_open": is_open, "urgent": urgent, "spam": spam, "spam_reason": "demo: honeypot filled" if spam else None,
        "priority": priority, "first_name": first, "last_name": last, "email": email,
        "email_lower": email.lower() if email else None, "phone": phone,
        "zip_code": office.zip_code[:3] + f"{rng.randrange(100):02d}",
        "contact_method": rng.choice(["phone", "phone", "email", "text"]),
        "help_with": ",".join(sorted(rng.sample(TOPICS, rng.randint(1, 2)))),
        "message": rng.choice(pools.messages), "sms_consent": rng.random() < 0.5,
        "consent_text": CONSENT, "consent_version": "2026-11-01", "consent_at": created,
        "source_path": f"/articles/{article}" if article else "/contact", "source_article": article,
        "utm_source": UTM[campaign][0] if campaign else None, "utm_medium": UTM[campaign][1] if campaign else None,
        "utm_campaign": campaign, "referrer": rng.choice(pools.referrers), "ip_hash": None,
        "routing_reason": "chosen by patient" if chosen else
        f"nearest to ZIP {office.zip_code}, {rng.uniform(0.5, 14):.1f} mi",
        "routing_flag": None, "distance_miles": None,
        "assignee_id": rng.choice(team) if team and contacted else None,
        "duplicate_of_id": duplicate_of["id"] if duplicate_of and "id" in duplicate_of else None,
        "has_duplicate": duplicate_of is not None, "repeat_count": repeat, "failed_attempts": failed, "version": 1,
        "created_at": created, "updated_at": first_contact or created, "last_inquiry_at": created,
        "first_contact_at": first_contact,
        "closed_at": (first_contact or created) + timedelta(days=rng.uniform(0.5, 10)) if not is_open else None,
    }
    if row["closed_at"] and row["closed_at"] > now:
        row["closed_at"] = now
    return row


def events_for(row: dict, lead_id: int) -> list[dict]:
    """A created event, and a contact attempt for leads someone reached for."""
    out = [{"created_at": row["created_at"], "action": "created", "lead_id": lead_id, "actor_id": None,
            "ip_hash": None, "detail": f"demo lead: {row['routing_reason']}"}]
    if row["first_contact_at"]:
        outcome = "reached" if row["failed_attempts"] == 0 else "voicemail"
        out.append({"created_at": row["first_contact_at"], "action": "contact_attempt", "lead_id": lead_id,
                    "actor_id": row["assignee_id"], "ip_hash": None, "detail": f"call: {outcome}"})
    return out


def generate(session, count: int, seed: int = 2026, now: datetime | None = None, progress=None) -> int:
    """Insert ``count`` fake leads and their events; returns how many were written."""
    now = now or clock.utcnow()
    # Imported here, not at the top: every web worker imports this module (to
    # register the command) and Faker's locale data costs each about 5 MB.
    from faker import Faker

    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    pools = Pools(fake)
    offices = list(session.scalars(select(Location).where(Location.active).order_by(Location.position)))
    if not offices:
        raise click.ClickException("no offices yet: run `flask --app intake setup` first")
    articles = list(session.scalars(select(Article.slug)))
    staff_by_office: dict[int, list[int]] = {}
    for user_id, location_id in session.execute(
            select(staff_location.c.user_id, staff_location.c.location_id)
            .join(StaffUser, StaffUser.id == staff_location.c.user_id).where(StaffUser.active)):
        staff_by_office.setdefault(location_id, []).append(user_id)
    taken = set(session.scalars(select(Lead.reference)))
    lead_table, event_table = Lead.__table__, AuditEvent.__table__
    recent: list[dict] = []
    written = 0
    next_id = (session.scalar(select(func.max(Lead.id))) or 0) + 1
    while written < count:
        rows = [build_lead(rng, pools, now, offices, articles, staff_by_office, taken, recent)
                for _ in range(min(BATCH, count - written))]
        # Ids are given here rather than returned: a plain executemany is many times faster.
        ids = list(range(next_id, next_id + len(rows)))
        for row, lead_id in zip(rows, ids):
            row["id"] = lead_id
        next_id += len(rows)
        session.execute(insert(lead_table), rows)
        events = []
        for row, lead_id in zip(rows, ids):
            events += events_for(row, lead_id)
        session.execute(insert(event_table), events)
        # Later batches may copy these contact details as possible duplicates.
        recent = rows[-200:]
        session.commit()
        written += len(rows)
        if progress:
            progress(len(rows))
    # The inserts above bypass the ORM hook that marks report days: count the rollup again.
    rollups.rebuild(session)
    if session.get_bind().dialect.name == "postgresql":
        # Keep the id sequence ahead of the ids given above.
        session.execute(text("SELECT setval(pg_get_serial_sequence('lead', 'id'), (SELECT max(id) FROM lead))"))
        session.execute(text("ANALYZE lead"))
    else:
        # Fresh statistics, so the planner knows a phone number is rarer than an office.
        session.execute(text("ANALYZE"))
    session.commit()
    logger.info("demo: %s leads written", written)
    return written


@click.command("demo")
@click.option("--leads", "count", type=click.IntRange(min=1), default=1000, show_default=True,
              help="How many fake leads to add.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Same seed, same leads.")
@with_appcontext
def demo(count: int, seed: int) -> None:
    """Fill the database with realistic fake leads (for demos and benchmarks, never production)."""
    if current_app.config.get("NAME") == "production":
        raise click.ClickException("demo leads are never written to a production database")
    with click.progressbar(length=count, label="Writing demo leads") as bar:
        written = generate(db.session, count, seed=seed, progress=bar.update)
    click.echo(f"{written:,} demo leads added.")
