"""Turning lead events into outbox rows. No sending happens here.

Seam for the outbox issue: each function adds OutboxMessage rows to the
session, in the same transaction as the change that caused them.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from .models import Inquiry, Lead


def lead_created(session: Session, lead: Lead) -> None:
    """Queue the office notification and the patient's acknowledgement."""


def repeat_inquiry(session: Session, lead: Lead, inquiry: Inquiry) -> None:
    """Queue word to the office that an open lead wrote again."""


def lead_moved(session: Session, lead: Lead, previous_slug: str) -> None:
    """Queue word to the new office that a lead was moved to it."""
