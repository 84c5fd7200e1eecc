"""What admins change: offices, accounts and stuck mail. Each change is audited.

Functions take a session, flush but never commit; the view commits once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import auth
from ..offices import set_inboxes
from ..leads import record_event
from ..models import AuditEvent, Location, OutboxMessage, StaffUser

logger = logging.getLogger(__name__)

RETRYABLE = ("failed", "dead")
PATIENT_KINDS = ("acknowledgement",)
AUDIT_PAGE = 50


@dataclass(frozen=True)
class Actor:
    """Who made a change and from where (a keyed hash, never the address)."""

    id: int
    ip_hash: str | None = None


def _audit(session: Session, actor: Actor, action: str, detail: str, now: datetime) -> None:
    record_event(session, action, actor_id=actor.id, ip_hash=actor.ip_hash, detail=detail, now=now)


# ---- offices --------------------------------------------------------------------

OFFICE_FIELDS = ("name", "address", "phone", "hours", "active")


def update_location(session: Session, location: Location, actor: Actor, now: datetime, *, inboxes: list[str],
                    **values) -> list[str]:
    """Apply the office form; returns the names of what changed (for the audit trail and the flash)."""
    changed = []
    for name in OFFICE_FIELDS:
        if name in values and getattr(location, name) != values[name]:
            setattr(location, name, values[name])
            changed.append(name)
    if location.inbox_emails != inboxes:
        set_inboxes(location, inboxes)
        changed.append("inboxes")
    if changed:
        session.flush()
        detail = f"office {location.slug}: {', '.join(changed)}"
        if "active" in changed:
            detail += f" (now {'active' if location.active else 'inactive'})"
        _audit(session, actor, "office_updated", detail, now)
        logger.info("office %s updated: %s", location.slug, ", ".join(changed))
    return changed


# ---- accounts -------------------------------------------------------------------

def create_account(session: Session, actor: Actor, now: datetime, *, email: str, name: str, role: str,
                   location_slugs: list[str], password: str, totp_required: bool) -> StaffUser:
    """A new staff or admin account with its offices and first password (rules checked by auth)."""
    user = auth.create_user(session, email, password, role=role, location_slugs=location_slugs, name=name)
    user.totp_required = totp_required
    session.flush()
    offices = ",".join(location_slugs) or "all"
    _audit(session, actor, "user_created", f"user {user.id}: role {role}, offices {offices}"
           + (", second factor required" if totp_required else ""), now)
    return user


def set_active(session: Session, user: StaffUser, active: bool, actor: Actor, now: datetime) -> None:
    """Deactivate (ending every session) or reactivate an account."""
    if user.id == actor.id and not active:
        raise auth.AccountError("You cannot deactivate your own account.")
    if active:
        user.active = True
        session.flush()
    else:
        auth.deactivate(session, user)
    _audit(session, actor, "user_activated" if active else "user_deactivated", f"user {user.id}", now)


def reset_password(session: Session, user: StaffUser, password: str, actor: Actor, now: datetime) -> None:
    """Give the account a new password chosen by an admin; its sessions end."""
    auth.set_password(session, user, password, now=now)
    _audit(session, actor, "user_password_reset", f"user {user.id}", now)


def require_second_factor(session: Session, user: StaffUser, required: bool, actor: Actor, now: datetime) -> None:
    """Make the account set up (or no longer need) a second factor at its next sign-in."""
    user.totp_required = required
    session.flush()
    _audit(session, actor, "user_totp_required" if required else "user_totp_optional", f"user {user.id}", now)


def update_access(session: Session, user: StaffUser, role: str, location_slugs: list[str], actor: Actor,
                  now: datetime) -> None:
    """Change an account's role and offices."""
    if role not in auth.ROLES:
        raise auth.AccountError(f"Role must be one of: {', '.join(auth.ROLES)}.")
    if user.id == actor.id and role != "admin":
        raise auth.AccountError("You cannot remove your own admin role.")
    locations = list(session.scalars(select(Location).where(Location.slug.in_(location_slugs))
                                     .order_by(Location.position)))
    if role == "staff" and not locations:
        raise auth.AccountError("A staff account needs at least one office.")
    user.role = role
    user.locations = locations
    session.flush()
    _audit(session, actor, "user_access_changed",
           f"user {user.id}: role {role}, offices {','.join(l.slug for l in locations) or 'none'}", now)


# ---- the outbox -----------------------------------------------------------------

def retry_message(session: Session, message: OutboxMessage, actor: Actor, now: datetime) -> bool:
    """Put a failed or dead message back to pending, due now; False when it is in another state."""
    if message.status not in RETRYABLE:
        return False
    previous = message.status
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message.id, OutboxMessage.status.in_(RETRYABLE))
        .values(status="pending", next_attempt_at=now, claimed_until=None, claimed_by=None),
        execution_options={"synchronize_session": False},
    )
    session.refresh(message)
    _audit(session, actor, "outbox_retry", f"message {message.id} ({message.kind}) was {previous}", now)
    logger.info("outbox message %s put back to pending by user %s", message.id, actor.id)
    return True


def mask_address(address: str) -> str:
    """``a•••@example.com``: enough to tell messages apart, not enough to reach the person."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def masked(message: OutboxMessage) -> dict[str, str]:
    """Recipients, subject and text of a message as an admin may see them."""
    recipients = [r.strip() for r in (message.recipients or "").split(",") if r.strip()]
    text = message.body_text or ""
    if message.kind in PATIENT_KINDS or message.recipient_key:
        for address in recipients:
            text = re.sub(re.escape(address), mask_address(address), text, flags=re.IGNORECASE)
        recipients = [mask_address(r) for r in recipients]
    return {"recipients": ", ".join(recipients), "subject": message.subject, "text": text}


# ---- the audit trail ------------------------------------------------------------

@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    lead_id: int | None = None
    action: str | None = None
    start: date | None = None
    end: date | None = None


def audit_page(session: Session, f: AuditFilter, *, before_id: int | None = None,
               size: int = AUDIT_PAGE) -> tuple[list[AuditEvent], int | None]:
    """One page of audit events, newest first, and the id to page on from (keyset: no OFFSET)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(size + 1)
    if f.actor_id is not None:
        query = query.where(AuditEvent.actor_id == f.actor_id)
    if f.lead_id is not None:
        query = query.where(AuditEvent.lead_id == f.lead_id)
    if f.action:
        query = query.where(AuditEvent.action == f.action)
    if f.start:
        query = query.where(AuditEvent.created_at >= datetime.combine(f.start, time.min, tzinfo=timezone.utc))
    if f.end:
        query = query.where(AuditEvent.created_at < datetime.combine(f.end + timedelta(days=1), time.min,
                                                                     tzinfo=timezone.utc))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    rows = list(session.scalars(query))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more else None)


def audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
