"""What staff do to a lead: claim, assign, change status, log contact, note, move, reopen.

Every action takes the lead's version as the person saw it. The version is
bumped with a compare-and-swap UPDATE, so when two people act on the same
lead at once the second is refused with StaleLead (and told what changed)
instead of silently overwriting the first. Each action appends an AuditEvent
to the lead's timeline. Functions flush, never commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import notify
from .leads import record_event
from .models import (
    CLOSE_REASONS,
    OPEN_STATUSES,
    PRIORITY_NORMAL,
    PRIORITY_URGENT,
    STATUSES,
    AuditEvent,
    Lead,
    Location,
    OutboxMessage,
    StaffUser,
    staff_location,
)

logger = logging.getLogger(__name__)

CONTACT_OUTCOMES = {
    "reached": "Reached",
    "voicemail": "Left voicemail",
    "no_answer": "No answer",
    "wrong_number": "Wrong number",
}
CONTACT_CHANNELS = {"call": "Call", "text": "Text", "email": "Email"}
# Reasons a person may pick when closing; "spam" and "purged" are set by the system.
STAFF_CLOSE_REASONS = {k: v for k, v in CLOSE_REASONS.items() if k not in ("spam", "purged")}
UNREACHABLE_AFTER = 3
NOTE_MAX = 2000

# Timeline events that are not changes: they never make someone's page stale.
NOT_CHANGES = {"viewed"}


class TriageError(ValueError):
    """An action that makes no sense for this lead (an unknown status, a colleague of another office...)."""


class StaleLead(Exception):
    """The lead changed since the person opened it; ``changes`` lists what happened meanwhile."""

    def __init__(self, lead: Lead, changes: list[AuditEvent]):
        super().__init__("this lead changed since you opened it")
        self.lead = lead
        self.changes = changes


@dataclass(frozen=True)
class Actor:
    """Who acts and when: the signed-in user and the request's clock reading."""

    user: StaffUser
    now: datetime


def changes_since(session: Session, lead: Lead, seen_event_id: int | None) -> list[AuditEvent]:
    """Timeline events after ``seen_event_id``, the last one the person's page showed."""
    query = (select(AuditEvent).where(AuditEvent.lead_id == lead.id, AuditEvent.action.not_in(NOT_CHANGES))
             .order_by(AuditEvent.id))
    if seen_event_id is not None:
        query = query.where(AuditEvent.id > seen_event_id)
    return list(session.scalars(query))


def last_event_id(session: Session, lead: Lead) -> int:
    """The newest timeline event's id: a page carries it so a refusal can say what changed after it."""
    return session.scalar(select(AuditEvent.id).where(AuditEvent.lead_id == lead.id)
                          .order_by(AuditEvent.id.desc()).limit(1)) or 0


def _begin(session: Session, lead: Lead, version: int, actor: Actor, seen_event_id: int | None) -> None:
    """Take the next version of ``lead`` atomically, or raise StaleLead if someone else took it."""
    result = session.execute(
        update(Lead).where(Lead.id == lead.id, Lead.version == version)
        .values(version=version + 1, updated_at=actor.now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(lead)
        raise StaleLead(lead, changes_since(session, lead, seen_event_id))
    lead.version = version + 1
    lead.updated_at = actor.now
    # Any action means someone is on it: a repeat inquiry no longer needs lifting.
    lead.priority = PRIORITY_URGENT if lead.urgent else PRIORITY_NORMAL


def _event(session: Session, lead: Lead, actor: Actor, action: str, detail: str = "") -> AuditEvent:
    event = record_event(session, action, lead=lead, actor_id=actor.user.id, detail=detail, now=actor.now)
    session.flush()
    logger.info("lead %s: %s by user %s", lead.id, action, actor.user.id)
    return event


def _set_status(lead: Lead, status: str, reason: str | None, now: datetime) -> None:
    lead.status = status
    lead.is_open = status in OPEN_STATUSES
    lead.close_reason = reason if status == "closed" else None
    lead.closed_at = None if lead.is_open else (lead.closed_at or now)


def colleagues(session: Session, lead: Lead) -> list[StaffUser]:
    """Active users who may work ``lead``: staff of its office and admins."""
    query = (select(StaffUser).where(StaffUser.active)
             .where((StaffUser.role == "admin") | StaffUser.id.in_(
                 select(staff_location.c.user_id).where(staff_location.c.location_id == lead.location_id)))
             .order_by(StaffUser.name, StaffUser.id))
    return list(session.scalars(query))


def claim(session: Session, lead: Lead, actor: Actor, *, version: int, seen: int | None = None) -> None:
    """Make the signed-in user the lead's assignee."""
    _begin(session, lead, version, actor, seen)
    lead.assignee_id = actor.user.id
    _event(session, lead, actor, "assigned", f"claimed by {actor.user.name or actor.user.email}")


def assign(session: Session, lead: Lead, actor: Actor, assignee_id: int | None, *, version: int,
           seen: int | None = None) -> None:
    """Give the lead to a colleague of its office, or to nobody."""
    assignee = None
    if assignee_id is not None:
        assignee = next((u for u in colleagues(session, lead) if u.id == assignee_id), None)
        if assignee is None:
            raise TriageError("Choose a colleague who works at this lead's office.")
    _begin(session, lead, version, actor, seen)
    lead.assignee_id = assignee.id if assignee else None
    _event(session, lead, actor, "assigned",
           f"assigned to {assignee.name or assignee.email}" if assignee else "unassigned")


def set_status(session: Session, lead: Lead, actor: Actor, status: str, reason: str | None = None, *,
               version: int, seen: int | None = None) -> None:
    """Move the lead to ``status``; closing needs one of the close reasons."""
    if status not in STATUSES:
        raise TriageError("Choose a status.")
    if status == "closed":
        if reason not in STAFF_CLOSE_REASONS:
            raise TriageError("Choose why the lead is closed.")
        if reason == "unreachable" and lead.failed_attempts < UNREACHABLE_AFTER:
            raise TriageError(f"Close as unreachable after {UNREACHABLE_AFTER} failed contact attempts.")
    else:
        reason = None
    if status == lead.status and reason == lead.close_reason:
        raise TriageError(f"The lead is already {STATUSES[status].lower()}.")
    before = lead.status
    _begin(session, lead, version, actor, seen)
    _set_status(lead, status, reason, actor.now)
    detail = f"{before} -> {status}" + (f" ({reason})" if reason else "")
    _event(session, lead, actor, "status_changed", detail)


def close(session: Session, lead: Lead, actor: Actor, reason: str, *, version: int, seen: int | None = None) -> None:
    """Close the lead with ``reason``."""
    set_status(session, lead, actor, "closed", reason, version=version, seen=seen)


def mark_spam(session: Session, lead: Lead, actor: Actor, *, version: int, seen: int | None = None) -> None:
    """Hide the lead from the queue as spam (it stays searchable and can be restored)."""
    if lead.spam:
        raise TriageError("The lead is already marked as spam.")
    _begin(session, lead, version, actor, seen)
    lead.spam = True
    lead.spam_reason = "marked by staff"
    _event(session, lead, actor, "spam_marked")


def mark_not_spam(session: Session, lead: Lead, actor: Actor, *, version: int, seen: int | None = None) -> None:
    """Put a lead wrongly taken for spam back in the queue."""
    if not lead.spam:
        raise TriageError("The lead is not marked as spam.")
    _begin(session, lead, version, actor, seen)
    lead.spam = False
    lead.spam_reason = None
    _event(session, lead, actor, "spam_cleared")
    # A lead flagged at submission was never announced: tell the office (and
    # the patient) now, once. One flagged later by staff was announced already.
    announced = session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.lead_id == lead.id, OutboxMessage.kind == "new_lead"))
    if announced is None:
        notify.lead_created(session, lead)


def log_contact_attempt(session: Session, lead: Lead, actor: Actor, channel: str, outcome: str, note: str = "", *,
                        version: int, seen: int | None = None) -> None:
    """Record a call, text or email to the patient; a new lead becomes "contacting"."""
    if channel not in CONTACT_CHANNELS:
        raise TriageError("Choose how you tried to reach them.")
    if outcome not in CONTACT_OUTCOMES:
        raise TriageError("Choose what happened.")
    _begin(session, lead, version, actor, seen)
    if lead.first_contact_at is None:
        lead.first_contact_at = actor.now
    if outcome != "reached":
        lead.failed_attempts += 1
    if lead.status == "new":
        _set_status(lead, "contacting", None, actor.now)
    detail = f"{channel}: {outcome}"
    note = note.strip()[:NOTE_MAX]
    if note:
        detail += f" - {note}"
    _event(session, lead, actor, "contact_attempt", detail)


def add_note(session: Session, lead: Lead, actor: Actor, text: str, *, version: int,
             seen: int | None = None) -> None:
    """Append the staff member's own words to the timeline."""
    text = text.strip()
    if not text:
        raise TriageError("Write a note first.")
    if len(text) > NOTE_MAX:
        raise TriageError(f"Keep a note under {NOTE_MAX} characters.")
    _begin(session, lead, version, actor, seen)
    _event(session, lead, actor, "note", text)


def move_lead(session: Session, lead: Lead, actor: Actor, location_slug: str, reason: str, *, version: int,
              seen: int | None = None) -> Location:
    """Send the lead to another office, which is told through the outbox."""
    target = session.scalar(select(Location).where(Location.slug == location_slug, Location.active))
    if target is None:
        raise TriageError("Choose an open office.")
    if target.id == lead.location_id:
        raise TriageError("The lead is already at that office.")
    reason = reason.strip()
    if not reason:
        raise TriageError("Say why the lead is moving.")
    previous = lead.location.slug
    _begin(session, lead, version, actor, seen)
    lead.location_id = target.id
    lead.location = target
    lead.assignee_id = None  # the new office decides who works it
    _event(session, lead, actor, "moved", f"{previous} -> {target.slug}: {reason[:500]}")
    notify.lead_moved(session, lead, previous)
    return target


def reopen(session: Session, lead: Lead, actor: Actor, *, version: int, seen: int | None = None) -> None:
    """Put a closed lead back in the queue where it left off."""
    if lead.is_open:
        raise TriageError("The lead is already open.")
    before = lead.status
    _begin(session, lead, version, actor, seen)
    _set_status(lead, "contacting" if lead.first_contact_at else "new", None, actor.now)
    lead.closed_at = None
    _event(session, lead, actor, "reopened", f"{before} -> {lead.status}")
