"""The queue as CSV: streamed row by row, scoped to the user's offices, safe to open in a spreadsheet.

Rows come from a plain column query read in chunks (a server-side cursor on
PostgreSQL), and are written out a chunk at a time, so memory stays flat
however many leads match.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from . import queue
from .leads import record_event
from .models import CLOSE_REASONS, STATUSES, Lead, Location, StaffUser

logger = logging.getLogger(__name__)

CHUNK = 1000
# A spreadsheet treats a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = [
    ("Reference", Lead.reference),
    ("Created (UTC)", Lead.created_at),
    ("Office", Location.name),
    ("Status", Lead.status),
    ("Close reason", Lead.close_reason),
    ("Urgent", Lead.urgent),
    ("Spam", Lead.spam),
    ("First name", Lead.first_name),
    ("Last name", Lead.last_name),
    ("Email", Lead.email),
    ("Phone", Lead.phone),
    ("ZIP code", Lead.zip_code),
    ("Preferred contact", Lead.contact_method),
    ("Source", Lead.source_path),
    ("UTM source", Lead.utm_source),
    ("UTM medium", Lead.utm_medium),
    ("UTM campaign", Lead.utm_campaign),
    ("Routing", Lead.routing_reason),
    ("Assignee", None),  # filled from the joined user below
    ("First contact (UTC)", Lead.first_contact_at),
    ("Failed attempts", Lead.failed_attempts),
    ("Repeat inquiries", Lead.repeat_count),
    ("Possible duplicate", Lead.has_duplicate),
]


def neutralise(value) -> str:
    """A cell as text, with a leading quote when a spreadsheet would run it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_query(filters: queue.QueueFilters, user: StaffUser):
    """The filtered queue's rows as plain columns, in queue order."""
    assignee = aliased(StaffUser)
    cols = [col if col is not None else assignee.name for _, col in COLUMNS]
    query = (select(*cols).join(Location, Location.id == Lead.location_id)
             .outerjoin(assignee, assignee.id == Lead.assignee_id))
    return queue.apply_filters(query, filters, user).order_by(*queue.QUEUE_ORDER)


def _labels(row) -> list[str]:
    values = list(row)
    values[3] = STATUSES.get(values[3], values[3])
    values[4] = CLOSE_REASONS.get(values[4], values[4]) if values[4] else None
    return [neutralise(v) for v in values]


def stream_csv(session: Session, filters: queue.QueueFilters, user: StaffUser, now: datetime,
               ip_hash: str | None = None) -> Iterator[str]:
    """Yield the CSV a chunk at a time, then write the export (filters and row count) to the audit trail.

    The query and the user's id are taken before the first row is sent: the
    response body is read after the view has returned.
    """
    query = export_query(filters, user)
    user_id = user.id
    return _stream(session, query, filters, user_id, now, ip_hash)


def _stream(session, query, filters, user_id, now, ip_hash) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([label for label, _ in COLUMNS])
    count = 0
    finished = False
    try:
        result = session.execute(query.execution_options(stream_results=True,
                                                                                yield_per=CHUNK))
        for chunk in result.partitions():
            writer.writerows(_labels(row) for row in chunk)
            count += len(chunk)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()
        finished = True
    finally:
        detail = f"{count} rows; filters: {filters.summary()}" + ("" if finished else " (interrupted)")
        session.rollback()  # end the read (nothing was written) so the audit row starts a fresh transaction
        record_event(session, "exported", actor_id=user_id, detail=detail, ip_hash=ip_hash, now=now)
        session.commit()
        logger.info("user %s exported %s leads (%s)", user_id, count, filters.summary())
