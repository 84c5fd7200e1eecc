"""Turning a patient's submission into a lead: the write side of the public form.

Functions here take a session and plain data, flush but never commit: the
view commits once, so the lead and its outbox messages land together.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import crisis, notify, routing, spam
from .models import (
    PRIORITY_NORMAL,
    PRIORITY_REPEAT,
    PRIORITY_URGENT,
    AuditEvent,
    Inquiry,
    Lead,
    Location,
    Submission,
)

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L: a reference read out over the phone should not be misheard.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@dataclass
class LeadSubmission:
    """What one press of Send carries, already validated and normalised by the form."""

    token: str
    first_name: str
    last_name: str = ""
    email: str | None = None
    phone: str | None = None  # E.164
    zip_code: str | None = None
    location_choice: str | None = None
    contact_method: str = "phone"
    help_with: list[str] = field(default_factory=list)
    message: str = ""
    sms_consent: bool = False
    consent_text: str = ""
    consent_version: str = ""
    source_path: str = "/contact"
    source_article: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    referrer: str | None = None
    ip_hash: str | None = None
    honeypot: str = ""
    rendered_at: float | None = None


@dataclass(frozen=True)
class SubmitResult:
    lead: Lead
    created: bool  # False for a resend or a repeat inquiry
    repeat: bool = False


def new_reference() -> str:
    raw = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def unique_reference(session: Session) -> str:
    while True:
        ref = new_reference()
        if session.scalar(select(Lead.id).where(Lead.reference == ref)) is None:
            return ref


def active_locations(session: Session) -> list[Location]:
    return list(session.scalars(_active_offices(select(Location))))


def active_office_choices(session: Session) -> tuple[tuple[str, str], ...]:
    """(slug, name) of the same offices in the same order: all the contact form needs, and cheap to load."""
    rows = session.execute(_active_offices(select(Location.slug, Location.name)))
    return tuple((slug, name) for slug, name in rows)


def _active_offices(query):
    return query.where(Location.active).order_by(Location.position)


def lead_for_token(session: Session, token: str) -> Lead | None:
    return session.scalar(select(Lead).join(Submission, Submission.lead_id == Lead.id).where(Submission.token == token))


def matching_leads(session: Session, email: str | None, phone: str | None, *, open_only: bool):
    """Leads with the same email (any case) or phone, newest first."""
    conditions = []
    if email:
        conditions.append(Lead.email_lower == email.lower())
    if phone:
        conditions.append(Lead.phone == phone)
    if not conditions:
        return []
    query = select(Lead).where(or_(*conditions), Lead.purged_at.is_(None)).order_by(Lead.id.desc())
    if open_only:
        query = query.where(Lead.is_open, Lead.spam.is_(False))
    return list(session.scalars(query))


def record_event(session: Session, action: str, *, lead: Lead | None = None, actor_id: int | None = None,
                 detail: str = "", ip_hash: str | None = None, now: datetime | None = None) -> AuditEvent:
    """Append one row to the audit trail (and so to the lead's timeline)."""
    event = AuditEvent(action=action, lead_id=lead.id if lead else None, actor_id=actor_id,
                       detail=detail[:2000], ip_hash=ip_hash)
    if now is not None:
        event.created_at = now
    session.add(event)
    return event


def submit_lead(session: Session, sub: LeadSubmission, *, now: datetime, default_slug: str,
                min_fill_seconds: float) -> SubmitResult:
    """Store a submission as a new lead or as a repeat inquiry on an open one.

    A token already spent returns the lead it made, so a double click or a
    resend never makes a second lead.
    """
    existing = lead_for_token(session, sub.token)
    if existing is not None:
        return SubmitResult(existing, created=False)

    spam_reason = spam.check(
        honeypot=sub.honeypot, rendered_at=sub.rendered_at, now=now.timestamp(),
        min_fill_seconds=min_fill_seconds, message=sub.message, names=(sub.first_name, sub.last_name),
    )
    urgent = crisis.mentions_crisis(sub.message)
    offices = active_locations(session)
    decision = routing.route_lead(sub.location_choice, sub.zip_code, offices, default_slug)
    location = next(o for o in offices if o.slug == decision.slug)

    try:
        with session.begin_nested():
            result = _store(session, sub, now, location, decision, spam_reason, urgent)
            session.add(Submission(token=sub.token, lead_id=result.lead.id, created_at=now))
            session.flush()
    except IntegrityError:
        # Another request spent this token between our check and our insert.
        existing = lead_for_token(session, sub.token)
        if existing is None:
            raise
        return SubmitResult(existing, created=False)
    return result


def _store(session, sub, now, location, decision, spam_reason, urgent) -> SubmitResult:
    if spam_reason is None:
        for match in matching_leads(session, sub.email, sub.phone, open_only=True):
            if match.location_id == location.id:
                return _add_repeat(session, match, sub, now, urgent)

    lead = Lead(
        reference=unique_reference(session), location_id=location.id, location=location,
        status="new", is_open=True, urgent=urgent, spam=spam_reason is not None, spam_reason=spam_reason,
        priority=PRIORITY_URGENT if urgent else PRIORITY_NORMAL,
        first_name=sub.first_name, last_name=sub.last_name, email=sub.email,
        email_lower=sub.email.lower() if sub.email else None, phone=sub.phone, zip_code=sub.zip_code,
        contact_method=sub.contact_method, help_with=",".join(sub.help_with), message=sub.message,
        sms_consent=sub.sms_consent, consent_text=sub.consent_text, consent_version=sub.consent_version,
        consent_at=now, source_path=sub.source_path, source_article=sub.source_article,
        utm_source=sub.utm_source, utm_medium=sub.utm_medium, utm_campaign=sub.utm_campaign,
        referrer=sub.referrer, ip_hash=sub.ip_hash,
        routing_reason=decision.reason, routing_flag=decision.flag, distance_miles=decision.distance_miles,
        created_at=now, updated_at=now, last_inquiry_at=now,
    )
    session.add(lead)
    session.flush()

    elsewhere = [m for m in matching_leads(session, sub.email, sub.phone, open_only=False) if m.id != lead.id]
    if elsewhere:
        lead.duplicate_of_id = elsewhere[0].id
        lead.has_duplicate = True
        for other in elsewhere:
            other.has_duplicate = True

    detail = f"routed to {location.slug}: {decision.reason}"
    if decision.flag:
        detail += f" [{decision.flag}]"
    record_event(session, "created", lead=lead, detail=detail, now=now)
    if lead.duplicate_of_id:
        record_event(session, "possible_duplicate", lead=lead, detail=f"matches lead {lead.duplicate_of_id}", now=now)
    if urgent:
        record_event(session, "marked_urgent", lead=lead, detail="crisis language in message", now=now)
    if lead.spam:
        record_event(session, "spam_flagged", lead=lead, detail=spam_reason, now=now)
        logger.info("lead %s stored flagged as spam: %s", lead.id, spam_reason)
    else:
        notify.lead_created(session, lead)
    logger.info("lead %s created at %s (%s)", lead.id, location.slug, decision.flag or "routed")
    return SubmitResult(lead, created=True)


def _add_repeat(session, lead: Lead, sub: LeadSubmission, now, urgent) -> SubmitResult:
    """Keep a repeat inquiry's every word on the open lead and lift it in the queue."""
    inquiry = Inquiry(
        lead_id=lead.id, first_name=sub.first_name, last_name=sub.last_name, email=sub.email, phone=sub.phone,
        zip_code=sub.zip_code, contact_method=sub.contact_method, help_with=",".join(sub.help_with),
        message=sub.message, urgent=urgent, source_path=sub.source_path, utm_campaign=sub.utm_campaign,
        created_at=now,
    )
    session.add(inquiry)
    lead.repeat_count += 1
    lead.last_inquiry_at = now
    lead.updated_at = now
    lead.version += 1
    if urgent:
        lead.urgent = True
    lead.priority = PRIORITY_URGENT if lead.urgent else PRIORITY_REPEAT
    # Fill in contact details the first inquiry lacked; never overwrite.
    if sub.email and not lead.email:
        lead.email, lead.email_lower = sub.email, sub.email.lower()
    if sub.phone and not lead.phone:
        lead.phone = sub.phone
    session.flush()
    record_event(session, "repeat_inquiry", lead=lead, detail=f"inquiry {inquiry.id}", now=now)
    if urgent:
        record_event(session, "marked_urgent", lead=lead, detail="crisis language in repeat inquiry", now=now)
    notify.repeat_inquiry(session, lead, inquiry)
    logger.info("lead %s got repeat inquiry %s", lead.id, inquiry.id)
    return SubmitResult(lead, created=False, repeat=True)
