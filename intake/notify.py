"""Turning lead events into outbox rows. No sending happens here.

Each function adds OutboxMessage rows to the session, in the same
transaction as the change that caused them, and never commits. Office
messages carry only the reference, the office, the time, an urgency mark and
a link: nothing about the person. Subjects are built from our own values only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import clock, privacy
from .mailer import is_bare_address, new_message_id
from .models import CONTACT_METHODS, Inquiry, Lead, Location, OutboxMessage

logger = logging.getLogger(__name__)

EASTERN = ZoneInfo("America/New_York")
ACK_WINDOW = timedelta(hours=24)


def eastern_time(moment: datetime) -> str:
    """A timestamp as the offices read it, e.g. 'Mon 2 Nov 2026, 9:00 AM Eastern'."""
    local = moment.astimezone(EASTERN)
    hour = local.strftime("%I").lstrip("0")
    return f"{local:%a} {local.day} {local:%b %Y}, {hour}:{local:%M %p} Eastern ({local:%Z})"


def lead_link(lead: Lead) -> str:
    return f"{current_app.config['INTAKE_BASE_URL']}/staff/leads/{lead.id}"


def _office_subject(prefix: str, lead: Lead, location: Location, urgent: bool) -> str:
    subject = f"{prefix} {lead.reference} · {location.name}"
    return f"URGENT · {subject}" if urgent else subject


def render_email(name: str, context: dict) -> str:
    """One email body from the app's Jinja environment, which compiles each template once.

    Not flask.render_template: that runs every context processor (the signed-in
    user, the CSRF token, ...) and the template signals for each body of each
    message, inside the lead's transaction, and email templates use none of
    them. Autoescaping is the environment's own (.html escaped, .txt not).
    """
    return current_app.jinja_env.get_template(name).render(context)


def _queue(session: Session, *, kind: str, lead: Lead, recipients: list[str], subject: str, template: str,
           context: dict, dedupe_key: str | None = None, recipient_key: str | None = None) -> OutboxMessage | None:
    """Render a template pair into one pending row; a dedupe key already used adds nothing."""
    now = clock.utcnow()
    values = dict(
        kind=kind, lead_id=lead.id, recipients=",".join(recipients), recipient_key=recipient_key,
        subject=subject, body_text=render_email(f"email/{template}.txt", context),
        body_html=render_email(f"email/{template}.html", context),
        message_id=new_message_id(current_app.config["INTAKE_BASE_URL"]), dedupe_key=dedupe_key,
        status="pending", attempts=0, next_attempt_at=now, created_at=now,
    )
    if dedupe_key is None:
        row = OutboxMessage(**values)
        session.add(row)
        session.flush()
    else:
        row = _insert_unless_queued(session, values)
        if row is None:
            logger.info("outbox %s for lead %s already queued", kind, lead.id)
            return None
    if not recipients:
        logger.warning("outbox %s for lead %s queued with no recipients", kind, lead.id)
    return row


def _insert_unless_queued(session: Session, values: dict) -> OutboxMessage | None:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING the row: None when the key is taken.

    One statement, where a savepoint around an ORM insert took three and a
    flush of its own; both databases Intake runs on (SQLite, PostgreSQL) support it.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (insert(OutboxMessage).values(**values)
                 .on_conflict_do_nothing(index_elements=[OutboxMessage.dedupe_key]).returning(OutboxMessage))
    return session.scalars(statement).first()


def _office_context(lead: Lead, location: Location, urgent: bool, when: datetime) -> dict:
    return {"reference": lead.reference, "office": location.name, "urgent": urgent,
            "received": eastern_time(when), "link": lead_link(lead),
            "sla_hours": current_app.config["INTAKE_SLA_HOURS"]}


def lead_created(session: Session, lead: Lead) -> None:
    """Queue the office notification and the patient's acknowledgement."""
    location = lead.location
    _queue(session, kind="new_lead", lead=lead, recipients=location.inbox_emails,
           subject=_office_subject("New inquiry", lead, location, lead.urgent), template="new_lead",
           context=_office_context(lead, location, lead.urgent, lead.created_at), dedupe_key=f"new_lead:{lead.id}")
    if lead.email and not lead.spam:
        acknowledge(session, lead, location)


def acknowledge(session: Session, lead: Lead, location: Location) -> OutboxMessage | None:
    """Queue the patient's thank-you, at most one per address per 24 hours.

    Anyone can type anyone's address, so the limit holds whatever is submitted.
    """
    address = (lead.email or "").strip()
    if not is_bare_address(address):
        logger.info("no acknowledgement for lead %s: address not usable in a header", lead.id)
        return None
    now = clock.utcnow()
    key = privacy.keyed_hash(address.lower(), "ack")
    recent = session.scalar(select(func.count(OutboxMessage.id)).where(
        OutboxMessage.kind == "acknowledgement", OutboxMessage.recipient_key == key,
        OutboxMessage.created_at > now - ACK_WINDOW))
    if recent:
        logger.info("no acknowledgement for lead %s: one went to this address within 24 h", lead.id)
        return None
    context = {"office": location.name, "phone": location.phone, "hours": location.hours,
               "address": location.address, "contact_method": lead.contact_method,
               "contact_label": CONTACT_METHODS.get(lead.contact_method, "Phone call"),
               "has_phone": bool(lead.phone), "urgent": lead.urgent}
    # The day in the key stops two simultaneous submissions from both passing the count above.
    return _queue(session, kind="acknowledgement", lead=lead, recipients=[address],
                  subject=f"We received your message · {location.name}", template="acknowledgement",
                  context=context, recipient_key=key, dedupe_key=f"ack:{key}:{now:%Y-%m-%d}")


def repeat_inquiry(session: Session, lead: Lead, inquiry: Inquiry) -> None:
    """Queue word to the office that an open lead wrote again."""
    location = lead.location
    urgent = lead.urgent or inquiry.urgent
    context = _office_context(lead, location, urgent, inquiry.created_at)
    context["repeat_count"] = lead.repeat_count
    _queue(session, kind="repeat", lead=lead, recipients=location.inbox_emails,
           subject=_office_subject("Repeat inquiry", lead, location, urgent), template="repeat",
           context=context, dedupe_key=f"repeat:{inquiry.id}")


def lead_moved(session: Session, lead: Lead, previous_slug: str) -> None:
    """Queue word to the new office that a lead was moved to it."""
    if lead.spam:
        return
    location = session.get(Location, lead.location_id)
    previous = session.scalar(select(Location).where(Location.slug == previous_slug))
    context = _office_context(lead, location, lead.urgent, clock.utcnow())
    context["previous_office"] = previous.name if previous else previous_slug
    _queue(session, kind="reassigned", lead=lead, recipients=location.inbox_emails,
           subject=_office_subject("Inquiry moved to you", lead, location, lead.urgent), template="reassigned",
           context=context)
    logger.info("lead %s moved from %s to %s: office notice queued", lead.id, previous_slug, location.slug)


def due_sla_leads(session: Session, now: datetime, hours: float):
    """Open, non-spam leads still new after ``hours`` that have had no reminder."""
    return session.scalars(select(Lead).where(
        Lead.status == "new", Lead.is_open, Lead.spam.is_(False), Lead.purged_at.is_(None),
        Lead.sla_reminded_at.is_(None), Lead.created_at <= now - timedelta(hours=hours),
    ).order_by(Lead.id).limit(500))


def queue_sla_reminders(session: Session, now: datetime | None = None) -> int:
    """Queue one reminder per lead left new past INTAKE_SLA_HOURS; returns how many were queued."""
    now = now or clock.utcnow()
    hours = current_app.config["INTAKE_SLA_HOURS"]
    queued = 0
    for lead in list(due_sla_leads(session, now, hours)):
        location = lead.location
        context = _office_context(lead, location, lead.urgent, lead.created_at)
        row = _queue(session, kind="sla_reminder", lead=lead, recipients=location.inbox_emails,
                     subject=_office_subject("Still waiting", lead, location, lead.urgent),
                     template="sla_reminder", context=context, dedupe_key=f"sla:{lead.id}")
        lead.sla_reminded_at = now
        queued += row is not None
    session.flush()
    if queued:
        logger.info("queued %d SLA reminder(s)", queued)
    return queued
