"""Retention: anonymise closed and spam leads once they have been quiet long enough.

A purged lead keeps what reports count (office, status, dates, source,
campaign, spam flag) and loses everything that identifies the person: names,
contact details, ZIP, message, referrer, IP hash, the text of repeat inquiries,
and the address and body of their acknowledgement email.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from .leads import record_event
from .models import AuditEvent, Inquiry, Lead, OutboxMessage

logger = logging.getLogger(__name__)

BATCH = 500
# Outbox kinds addressed to the patient; office messages hold no personal data.
# Rows with a recipient_key (the keyed hash of a patient address) count too.
PATIENT_KINDS = ("acknowledgement", "ack")
ZIP = re.compile(r"\b\d{5}(?:-\d{4})?\b")
ZIP_MASK = "xxxxx"
NOTE_REMOVED = "(note removed by retention purge)"
# Audit actions whose detail ends in words staff typed about the patient, and where those words start.
FREE_TEXT_AFTER = {"contact_attempt": " - ", "moved": ": "}

LEAD_CLEARED = {
    "first_name": "", "last_name": "", "email": None, "email_lower": None, "phone": None, "zip_code": None,
    "message": "", "referrer": None, "ip_hash": None,
}
INQUIRY_CLEARED = {"first_name": "", "last_name": "", "email": None, "phone": None, "zip_code": None, "message": ""}
MESSAGE_CLEARED = {"recipients": "", "recipient_key": None, "body_text": "", "body_html": ""}
UNSENT = ("pending", "sending", "failed")


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    lead_ids: list[int]
    dry_run: bool

    @property
    def count(self) -> int:
        return len(self.lead_ids)


def due_for_purge(cutoff: datetime):
    """Condition: closed or spam, last touched before ``cutoff``, not yet purged."""
    last_activity = func.coalesce(Lead.closed_at, Lead.updated_at)
    return and_(
        Lead.purged_at.is_(None),
        or_(Lead.is_open.is_(False), Lead.spam.is_(True)),
        Lead.updated_at < cutoff,
        last_activity < cutoff,
    )


def purge(session: Session, *, older_than_days: int, now: datetime, dry_run: bool = False,
          actor_id: int | None = None) -> PurgeResult:
    """Anonymise every lead due for purge, in batches; with ``dry_run`` only list them."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = now - timedelta(days=older_than_days)
    ids = list(session.scalars(select(Lead.id).where(due_for_purge(cutoff)).order_by(Lead.id)))
    if dry_run or not ids:
        return PurgeResult(cutoff, ids, dry_run)
    for i in range(0, len(ids), BATCH):
        chunk = ids[i:i + BATCH]
        session.execute(update(Lead).where(Lead.id.in_(chunk)).values(purged_at=now, **LEAD_CLEARED),
                        execution_options={"synchronize_session": False})
        session.execute(update(Inquiry).where(Inquiry.lead_id.in_(chunk)).values(**INQUIRY_CLEARED),
                        execution_options={"synchronize_session": False})
        to_patient = and_(OutboxMessage.lead_id.in_(chunk),
                          or_(OutboxMessage.kind.in_(PATIENT_KINDS), OutboxMessage.recipient_key.is_not(None)))
        # An acknowledgement still unsent after all this time is never going to be wanted.
        session.execute(update(OutboxMessage).where(to_patient, OutboxMessage.status.in_(UNSENT))
                        .values(status="dead", last_error="lead purged"),
                        execution_options={"synchronize_session": False})
        session.execute(update(OutboxMessage).where(to_patient).values(**MESSAGE_CLEARED),
                        execution_options={"synchronize_session": False})
        _scrub_text(session, chunk)
    session.expire_all()
    record_event(session, "purged", actor_id=actor_id, now=now,
                 detail=f"{len(ids)} leads anonymised: closed or spam, inactive since before {cutoff:%Y-%m-%d}")
    session.flush()
    logger.info("purged %d leads inactive since before %s", len(ids), cutoff.date())
    return PurgeResult(cutoff, ids, dry_run)


def _scrub_text(session: Session, lead_ids: list[int]) -> None:
    """Take ZIP codes out of routing reasons and audit details, and drop what staff typed, for these leads."""
    for lead_id, reason in session.execute(select(Lead.id, Lead.routing_reason).where(Lead.id.in_(lead_ids))):
        if reason and ZIP.search(reason):
            session.execute(update(Lead).where(Lead.id == lead_id).values(routing_reason=ZIP.sub(ZIP_MASK, reason)),
                            execution_options={"synchronize_session": False})
    events = session.execute(select(AuditEvent.id, AuditEvent.action, AuditEvent.detail)
                             .where(AuditEvent.lead_id.in_(lead_ids)))
    for event_id, action, detail in events.all():
        new = ZIP.sub(ZIP_MASK, detail or "")
        if action == "note":
            new = NOTE_REMOVED
        elif action in FREE_TEXT_AFTER and FREE_TEXT_AFTER[action] in new:
            new = new.split(FREE_TEXT_AFTER[action], 1)[0] + FREE_TEXT_AFTER[action] + NOTE_REMOVED
        if new != (detail or ""):
            session.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(detail=new),
                            execution_options={"synchronize_session": False})
