"""Report numbers for managers, each one a SQL aggregate over the chosen leads.

Nothing here loads leads into Python: every function asks the database for
counts, groups or a couple of ordered picks, filtered on (location_id,
created_at) so ix_lead_location_created does the work.

Definitions (shown on the page too):
- The period is whole UTC days, ``start`` to ``end`` inclusive, on created_at.
- Weeks start on Monday (UTC).
- Response time is hours from created_at to first_contact_at, over non-spam
  leads with a first contact attempt. Percentiles are continuous with linear
  interpolation between the two nearest ranks, as PostgreSQL's
  percentile_cont: on SQLite the same formula is applied to two rows picked by
  ORDER BY ... LIMIT/OFFSET.
- Consult and patient shares count a lead's *current* status over non-spam
  leads: "consult scheduled" includes leads that since became patients. A lead
  closed after a consult counts as closed.
- The SLA share is over non-spam leads whose SLA window has ended (or that
  were already contacted): contacted within INTAKE_SLA_HOURS of creation.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Date, Float, and_, case, cast, func, select
from sqlalchemy.orm import Session

from .models import Lead

TOP_SOURCES = 15  # rows in the article and campaign breakdowns; the rest sum into "Other"
NO_ARTICLE = "(contact page)"
NO_CAMPAIGN = "(no campaign)"
OTHER = "(other)"


@dataclass(frozen=True)
class ReportFilter:
    """What a report covers: whole UTC days and a set of offices (None: all)."""

    start: date
    end: date
    location_ids: list[int] | None

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=timezone.utc)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=timezone.utc)


@dataclass
class Summary:
    total: int = 0
    spam: int = 0
    genuine: int = 0
    consult: int = 0
    patient: int = 0
    sla_due: int = 0
    sla_met: int = 0
    contacted: int = 0
    median_hours: float | None = None
    p90_hours: float | None = None

    @staticmethod
    def share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def spam_share(self) -> float | None:
        return self.share(self.spam, self.total)

    @property
    def consult_share(self) -> float | None:
        return self.share(self.consult, self.genuine)

    @property
    def patient_share(self) -> float | None:
        return self.share(self.patient, self.genuine)

    @property
    def sla_share(self) -> float | None:
        return self.share(self.sla_met, self.sla_due)


@dataclass
class Report:
    filter: ReportFilter
    sla_hours: float
    summary: Summary
    weekly: list[tuple[date, int]] = field(default_factory=list)
    articles: list[tuple[str, int]] = field(default_factory=list)
    campaigns: list[tuple[str, int]] = field(default_factory=list)


def default_period(today: date, weeks: int = 12) -> tuple[date, date]:
    """The last ``weeks`` whole weeks up to today, starting on a Monday."""
    start = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    return start, today


def _where(f: ReportFilter):
    conditions = [Lead.created_at >= f.since, Lead.created_at < f.until]
    if f.location_ids is not None:
        conditions.append(Lead.location_id.in_(f.location_ids))
    return and_(*conditions)


def _hours(session: Session):
    """SQL for hours from created_at to first_contact_at, on this database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Lead.first_contact_at - Lead.created_at) / 3600.0
    return (func.julianday(Lead.first_contact_at) - func.julianday(Lead.created_at)) * 24.0


def summary(session: Session, f: ReportFilter, *, sla_hours: float, now: datetime) -> Summary:
    """Counts, shares and response-time percentiles in two or three queries."""
    genuine = Lead.spam.is_(False)
    contacted = and_(genuine, Lead.first_contact_at.is_not(None))
    hours = _hours(session)
    window_closed = Lead.created_at <= now - timedelta(hours=sla_hours)

    def count_if(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            func.count(Lead.id),
            count_if(Lead.spam.is_(True)),
            count_if(genuine),
            count_if(and_(genuine, Lead.status.in_(("consult_scheduled", "became_patient")))),
            count_if(and_(genuine, Lead.status == "became_patient")),
            count_if(and_(genuine, (Lead.first_contact_at.is_not(None)) | window_closed)),
            count_if(and_(contacted, hours <= sla_hours)),
            count_if(contacted),
        ).where(_where(f))
    ).one()
    result = Summary(*(int(v) for v in row))
    if result.contacted:
        result.median_hours, result.p90_hours = _percentiles(session, f, hours, contacted, result.contacted)
    return result


def _percentiles(session: Session, f: ReportFilter, hours, contacted, n: int) -> tuple[float, float]:
    where = and_(_where(f), contacted)
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(
            select(
                func.percentile_cont(0.5).within_group(hours),
                func.percentile_cont(0.9).within_group(hours),
            ).where(where)
        ).one()
        return float(row[0]), float(row[1])
    return _pick(session, where, hours, n, 0.5), _pick(session, where, hours, n, 0.9)


def _pick(session: Session, where, hours, n: int, fraction: float) -> float:
    """percentile_cont by hand: interpolate between the rows at floor and ceil of fraction*(n-1)."""
    rank = fraction * (n - 1)
    low = math.floor(rank)
    values = list(session.scalars(
        select(cast(hours, Float)).where(where).order_by(hours).limit(2).offset(low)
    ))
    if len(values) == 1 or rank == low:
        return float(values[0])
    return float(values[0] + (values[1] - values[0]) * (rank - low))


def _week_start(session: Session):
    """SQL for the Monday (UTC) of a lead's created_at, as a date."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("week", func.timezone("UTC", Lead.created_at)), Date)
    # SQLite stores naive UTC text; 'weekday 0' moves forward to Sunday, so step back six days first.
    return func.date(Lead.created_at, "-6 days", "weekday 1")


def weekly(session: Session, f: ReportFilter) -> list[tuple[date, int]]:
    """Leads (spam included) per week, every week of the period present, empty ones as 0."""
    week = _week_start(session).label("week")
    rows = session.execute(select(week, func.count(Lead.id)).where(_where(f)).group_by(week)).all()
    counts = {(r[0] if isinstance(r[0], date) else date.fromisoformat(r[0])): int(r[1]) for r in rows}
    monday = f.start - timedelta(days=f.start.weekday())
    out = []
    while monday <= f.end:
        out.append((monday, counts.get(monday, 0)))
        monday += timedelta(weeks=1)
    return out


def _breakdown(session: Session, f: ReportFilter, column, empty_label: str) -> list[tuple[str, int]]:
    """Non-spam leads grouped by ``column``, biggest first, the tail summed as "(other)"."""
    n = func.count(Lead.id).label("n")
    rows = session.execute(
        select(column, n).where(_where(f), Lead.spam.is_(False)).group_by(column).order_by(n.desc(), column)
    ).all()
    out = [(value or empty_label, int(count)) for value, count in rows[:TOP_SOURCES]]
    rest = sum(int(count) for _, count in rows[TOP_SOURCES:])
    if rest:
        out.append((OTHER, rest))
    return out


def by_article(session: Session, f: ReportFilter) -> list[tuple[str, int]]:
    return _breakdown(session, f, Lead.source_article, NO_ARTICLE)


def by_campaign(session: Session, f: ReportFilter) -> list[tuple[str, int]]:
    return _breakdown(session, f, Lead.utm_campaign, NO_CAMPAIGN)


def build(session: Session, f: ReportFilter, *, sla_hours: float, now: datetime) -> Report:
    """Every number the reports page shows."""
    return Report(
        filter=f, sla_hours=sla_hours,
        summary=summary(session, f, sla_hours=sla_hours, now=now),
        weekly=weekly(session, f), articles=by_article(session, f), campaigns=by_campaign(session, f),
    )


# ---- CSV ---------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A cell a spreadsheet will show as text: a leading = + - @ tab or CR gets a quote mark."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(header: list[str], rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue()


def fmt_hours(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def fmt_share(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def summary_rows(report: Report) -> list[tuple[str, str, str]]:
    """(measure, value, out of) rows: the summary table and its CSV."""
    s = report.summary
    return [
        ("Leads", str(s.total), ""),
        ("Spam share", fmt_share(s.spam_share), f"{s.spam} of {s.total} leads"),
        ("Median hours to first contact attempt", fmt_hours(s.median_hours), f"{s.contacted} contacted leads"),
        ("90th percentile hours to first contact attempt", fmt_hours(s.p90_hours), f"{s.contacted} contacted leads"),
        (f"Contacted within {report.sla_hours:g} hours", fmt_share(s.sla_share),
         f"{s.sla_met} of {s.sla_due} leads"),
        ("Reached consult scheduled", fmt_share(s.consult_share), f"{s.consult} of {s.genuine} leads"),
        ("Became a patient", fmt_share(s.patient_share), f"{s.patient} of {s.genuine} leads"),
    ]


def csv_tables(report: Report) -> dict[str, tuple[list[str], list]]:
    """The downloadable tables by name: header and rows, as on the page."""
    return {
        "weekly": (["Week starting", "Leads"], [(d.isoformat(), n) for d, n in report.weekly]),
        "articles": (["Source article", "Leads"], report.articles),
        "campaigns": (["Campaign", "Leads"], report.campaigns),
        "summary": (["Measure", "Value", "Out of"], summary_rows(report)),
    }
