"""Report numbers for managers, each one a SQL aggregate over the chosen leads.

Nothing here loads leads into Python: every function asks the database for
counts, groups or a few ranked picks, filtered on (location_id, created_at)
so ix_lead_location_created does the work. The page costs four passes over
the period's leads: counts by week (the summary is their sum), articles,
campaigns, and the response-time percentiles.

Definitions (shown on the page too):
- The period is whole UTC days, ``start`` to ``end`` inclusive, on created_at.
- Weeks start on Monday (UTC).
- Response time is hours from created_at to first_contact_at, over non-spam
  leads with a first contact attempt. Percentiles are continuous with linear
  interpolation between the two nearest ranks, as PostgreSQL's
  percentile_cont: on SQLite the same formula is applied to the rows ranked
  floor(p*(n-1)) and the next, numbered by row_number() over one sort.
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


COUNTS = ("total", "spam", "genuine", "consult", "patient", "sla_due", "sla_met", "contacted")


def counts_by_week(session: Session, f: ReportFilter, *, sla_hours: float, now: datetime) -> tuple[Summary, list]:
    """One pass over the period: every count, per week; the summary is their sum (a few dozen rows)."""
    genuine = Lead.spam.is_(False)
    contacted = and_(genuine, Lead.first_contact_at.is_not(None))
    hours = _hours(session)
    window_closed = Lead.created_at <= now - timedelta(hours=sla_hours)

    def count_if(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    week = _week_start(session).label("week")
    rows = session.execute(
        select(
            week,
            func.count(Lead.id),
            count_if(Lead.spam.is_(True)),
            count_if(genuine),
            count_if(and_(genuine, Lead.status.in_(("consult_scheduled", "became_patient")))),
            count_if(and_(genuine, Lead.status == "became_patient")),
            count_if(and_(genuine, (Lead.first_contact_at.is_not(None)) | window_closed)),
            count_if(and_(contacted, hours <= sla_hours)),
            count_if(contacted),
        ).where(_where(f)).group_by(week)
    ).all()
    totals = Summary()
    per_week = {}
    for row in rows:
        monday = row[0] if isinstance(row[0], date) else date.fromisoformat(row[0])
        per_week[monday] = int(row[1])
        for name, value in zip(COUNTS, row[1:]):
            setattr(totals, name, getattr(totals, name) + int(value))
    if totals.contacted:
        totals.median_hours, totals.p90_hours = _percentiles(session, and_(_where(f), contacted), hours,
                                                             totals.contacted)
    return totals, _every_week(f, per_week)


def summary(session: Session, f: ReportFilter, *, sla_hours: float, now: datetime) -> Summary:
    """Counts, shares and response-time percentiles of the period."""
    return counts_by_week(session, f, sla_hours=sla_hours, now=now)[0]


def _percentiles(session: Session, where, hours, n: int) -> tuple[float, float]:
    """Median and 90th percentile of ``hours`` over the rows ``where`` picks (``n`` of them)."""
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(
            select(
                func.percentile_cont(0.5).within_group(hours),
                func.percentile_cont(0.9).within_group(hours),
            ).where(where)
        ).one()
        return float(row[0]), float(row[1])
    # SQLite: percentile_cont by hand. The value at fraction p lies between the rows ranked
    # floor(p*(n-1)) and the next one; one sort numbers the rows and we keep just those four.
    ranks = {p: p * (n - 1) for p in (0.5, 0.9)}
    wanted = sorted({r for rank in ranks.values() for r in (math.floor(rank), min(math.floor(rank) + 1, n - 1))})
    # Hours are worked out once per row in an inner query, then numbered in order.
    values_q = select(cast(hours, Float).label("v")).where(where).subquery()
    numbered = select(values_q.c.v, (func.row_number().over(order_by=values_q.c.v) - 1).label("rn")).subquery()
    values = dict(session.execute(select(numbered.c.rn, numbered.c.v).where(numbered.c.rn.in_(wanted))).all())
    out = []
    for rank in ranks.values():
        low = math.floor(rank)
        high = min(low + 1, n - 1)
        out.append(float(values[low] + (values[high] - values[low]) * (rank - low)))
    return out[0], out[1]


def _week_start(session: Session):
    """SQL for the Monday (UTC) of a lead's created_at, as a date."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("week", func.timezone("UTC", Lead.created_at)), Date)
    # SQLite stores naive UTC text; 'weekday 1' moves forward to Monday, so step back six days first.
    return func.date(Lead.created_at, "-6 days", "weekday 1")


def _every_week(f: ReportFilter, counts: dict[date, int]) -> list[tuple[date, int]]:
    """Every week of the period in order, weeks without leads as 0."""
    monday = f.start - timedelta(days=f.start.weekday())
    out = []
    while monday <= f.end:
        out.append((monday, counts.get(monday, 0)))
        monday += timedelta(weeks=1)
    return out


def weekly(session: Session, f: ReportFilter) -> list[tuple[date, int]]:
    """Leads (spam included) per week, every week of the period present, empty ones as 0."""
    week = _week_start(session).label("week")
    rows = session.execute(select(week, func.count(Lead.id)).where(_where(f)).group_by(week)).all()
    return _every_week(f, {(r[0] if isinstance(r[0], date) else date.fromisoformat(r[0])): int(r[1]) for r in rows})


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
    """Every number the reports page shows, in four passes over the period's leads."""
    totals, per_week = counts_by_week(session, f, sla_hours=sla_hours, now=now)
    return Report(filter=f, sla_hours=sla_hours, summary=totals, weekly=per_week,
                  articles=by_article(session, f), campaigns=by_campaign(session, f))


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
