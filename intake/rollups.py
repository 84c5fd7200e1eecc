"""The reports' rollup: lead counts per UTC day and office, kept exact from the lead table.

A report over a year of a million leads cannot read every lead in under a
second, so it reads two small tables instead: ``report_day`` (counts per day,
office, article and campaign) and ``report_response`` (how many leads were
first contacted after so many whole minutes, per day and office). The lead
table stays the truth; these tables are a cache of it, and this module is the
only place that writes them.

How they stay exact:
- Any flush that creates a lead or changes a column the reports count
  (office, status, spam, first contact, article, campaign) also writes a
  ``report_dirty`` row for the lead's (day, office), in the same transaction.
  That happens in one SQLAlchemy ``after_flush`` hook, so no code path that
  goes through the ORM can forget it. Bulk inserts that bypass the ORM
  (``flask demo``) call :func:`rebuild` afterwards.
- Before a report reads the rollup, :func:`refresh` counts the marked
  (day, office) pairs again from the lead table and deletes exactly the marks
  it read; a mark written meanwhile stays for the next refresh. On
  PostgreSQL an advisory lock keeps two refreshes from writing the same rows.
- Days whose SLA window is still open for some lead are never read from the
  rollup (see :func:`settled_before`): reports count those few days from the
  lead table, with the clock.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Date, Integer, and_, case, cast, delete, event, func, insert, inspect, select, text
from sqlalchemy.orm import Session

from .models import Lead, ReportDay, ReportDirty, ReportResponse

# Columns whose change alters a report number (created_at never changes).
COUNTED = ("location_id", "status", "spam", "first_contact_at", "source_article", "utm_campaign")
CONSULT = ("consult_scheduled", "became_patient")
# More marked pairs than this are recounted in one pass over their whole day range.
BULK_PAIRS = 40
LOCK_KEY = 7_410_019  # pg_advisory_xact_lock key for refreshes: any constant unused elsewhere
DELETE_CHUNK = 500


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def settled_before(now: datetime, sla_hours: float) -> date:
    """The first day still read from leads: every lead of an earlier day has its SLA window closed by ``now``."""
    return (now - timedelta(hours=sla_hours)).date()


# ---- SQL for a lead's day and response minutes ---------------------------------------

def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lead_day(session: Session):
    """SQL for the UTC date of a lead's created_at."""
    if _postgres(session):
        return cast(func.timezone("UTC", Lead.created_at), Date)
    return func.date(Lead.created_at)  # SQLite keeps naive UTC text


def response_minutes(session: Session):
    """SQL for whole minutes from created_at to first_contact_at, rounded down, never below 0."""
    if _postgres(session):
        seconds = func.extract("epoch", Lead.first_contact_at - Lead.created_at)
        return func.greatest(cast(func.floor(seconds / 60), Integer), 0)
    # strftime('%s') gives whole seconds as text: integer arithmetic, no float rounding at minute edges.
    seconds = cast(func.strftime("%s", Lead.first_contact_at), Integer) - cast(func.strftime("%s", Lead.created_at),
                                                                             Integer)
    return func.max(seconds // 60, 0)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _lead_range(first: date, last: date, location_ids: list[int] | None):
    where = [Lead.created_at >= start_of(first), Lead.created_at < start_of(last + timedelta(days=1))]
    if location_ids is not None:
        where.append(Lead.location_id.in_(location_ids))
    return and_(*where)


def day_counts_from_leads(session: Session, first: date, last: date, location_ids: list[int] | None,
                          sla_closed_by: datetime | None = None):
    """SELECT of report_day's columns, counted from the leads of ``first``..``last``.

    With ``sla_closed_by``, one more column: non-spam leads already contacted
    or created by then (their SLA window has closed), for days not yet settled.
    """
    day = lead_day(session)
    genuine = Lead.spam.is_(False)
    article, campaign = func.coalesce(Lead.source_article, ""), func.coalesce(Lead.utm_campaign, "")
    columns = [day, Lead.location_id, article, campaign, func.count(Lead.id), _count_if(Lead.spam.is_(True)),
               _count_if(and_(genuine, Lead.status.in_(CONSULT))),
               _count_if(and_(genuine, Lead.status == "became_patient"))]
    if sla_closed_by is not None:
        columns.append(_count_if(and_(genuine, Lead.first_contact_at.is_not(None)
                                      | (Lead.created_at <= sla_closed_by))))
    return (select(*columns).where(_lead_range(first, last, location_ids))
            .group_by(day, Lead.location_id, article, campaign))


def responses_from_leads(session: Session, first: date, last: date, location_ids: list[int] | None):
    """SELECT of report_response's columns, counted from the leads of ``first``..``last``."""
    day, minutes = lead_day(session), response_minutes(session)
    return (
        select(day, Lead.location_id, minutes, func.count(Lead.id))
        .where(_lead_range(first, last, location_ids), Lead.spam.is_(False), Lead.first_contact_at.is_not(None))
        .group_by(day, Lead.location_id, minutes)
    )


# ---- writing the rollup -----------------------------------------------------------------

def recount(session: Session, first: date, last: date, location_ids: list[int] | None = None) -> None:
    """Replace the rollup rows of days ``first``..``last`` (and these offices) with fresh counts."""
    for model in (ReportDay, ReportResponse):
        where = [model.day >= first, model.day <= last]
        if location_ids is not None:
            where.append(model.location_id.in_(location_ids))
        session.execute(delete(model).where(*where), execution_options={"synchronize_session": False})
    session.execute(insert(ReportDay).from_select(
        ["day", "location_id", "source_article", "utm_campaign", "leads", "spam", "consult", "patient"],
        day_counts_from_leads(session, first, last, location_ids)))
    session.execute(insert(ReportResponse).from_select(
        ["day", "location_id", "minutes", "leads"], responses_from_leads(session, first, last, location_ids)))


def _lock(session: Session) -> None:
    if _postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def pending(session: Session, before: date) -> bool:
    """Whether some (day, office) before ``before`` waits to be counted again."""
    return session.scalar(select(ReportDirty.id).where(ReportDirty.day < before).limit(1)) is not None


def refresh(session: Session, before: date) -> int:
    """Count again every marked (day, office) before ``before``; returns how many pairs. Does not commit."""
    if not pending(session, before):
        return 0
    _lock(session)
    marks = session.execute(
        select(ReportDirty.id, ReportDirty.day, ReportDirty.location_id).where(ReportDirty.day < before)).all()
    pairs = {(as_date(day), location_id) for _, day, location_id in marks}
    if len(pairs) > BULK_PAIRS:
        recount(session, min(d for d, _ in pairs), max(d for d, _ in pairs))
        _analyze(session)
    else:
        for day, location_id in sorted(pairs):
            recount(session, day, day, [location_id])
    ids = [mark_id for mark_id, _, _ in marks]
    for i in range(0, len(ids), DELETE_CHUNK):
        session.execute(delete(ReportDirty).where(ReportDirty.id.in_(ids[i:i + DELETE_CHUNK])),
                        execution_options={"synchronize_session": False})
    return len(pairs)


def refresh_and_commit(session: Session, before: date) -> int:
    """For a page that only reads: end its read transaction, refresh in a write transaction, commit.

    On SQLite a read transaction cannot take the write lock once another
    connection has committed, so the refresh starts a transaction of its own
    that takes the lock first (BEGIN IMMEDIATE, see intake/database.py).
    """
    if not pending(session, before):
        return 0
    session.commit()
    session.connection(execution_options={"intake_write": True})
    pairs = refresh(session, before)
    session.commit()
    return pairs


def refresh_settled(session: Session, now: datetime, sla_hours: float) -> int:
    """What the outbox worker runs now and then, so marks never pile up between reports. Commits."""
    return refresh_and_commit(session, settled_before(now, sla_hours))


def rebuild(session: Session) -> None:
    """Count the whole rollup again from the lead table (after bulk inserts). Does not commit."""
    _lock(session)
    session.execute(delete(ReportDirty))
    first, last = session.execute(select(func.min(Lead.created_at), func.max(Lead.created_at))).one()
    for model in (ReportDay, ReportResponse):
        session.execute(delete(model))
    if first is not None:
        recount(session, first.date(), last.date())
    _analyze(session)


def _analyze(session: Session) -> None:
    """Fresh planner statistics after a big recount: without them PostgreSQL sorts on disk."""
    for table in ("report_day", "report_response"):
        session.execute(text(f"ANALYZE {table}"))


def as_date(value) -> date:
    """A day as read back: a date, or ISO text where SQLite computed it in SQL (date(created_at))."""
    return value if isinstance(value, date) else date.fromisoformat(value)


# ---- marking changed leads ---------------------------------------------------------------

def _marks_for(lead: Lead, is_new: bool) -> set[tuple[date, int]]:
    state = inspect(lead)
    if lead.created_at is None or lead.location_id is None:
        return set()
    day = lead.created_at.astimezone(timezone.utc).date()
    if is_new or state.deleted or state.was_deleted:
        return {(day, lead.location_id)}
    marks = set()
    for name in COUNTED:
        history = state.attrs[name].history
        if history.has_changes():
            marks.add((day, lead.location_id))
            if name == "location_id":
                marks.update((day, old) for old in history.deleted if old is not None)
    return marks


def _mark_changed_leads(session: Session, _flush_context) -> None:
    """after_flush: one report_dirty row per (day, office) this flush changed, in the same transaction."""
    marks: set[tuple[date, int]] = set()
    for obj in session.new:
        if isinstance(obj, Lead):
            marks |= _marks_for(obj, True)
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Lead):
            marks |= _marks_for(obj, obj in session.deleted)
    if marks:
        session.connection().execute(insert(ReportDirty),
                                     [{"day": day, "location_id": loc} for day, loc in sorted(marks)])


def init_app(_app=None) -> None:
    """Install the after_flush hook once per process (every Session, every app)."""
    if not event.contains(Session, "after_flush", _mark_changed_leads):
        event.listen(Session, "after_flush", _mark_changed_leads)
