"""Report numbers for managers: counts, shares and response-time percentiles.

Nothing here reads leads one by one. Days before the last day or two come
from the rollup tables that intake/rollups.py keeps exact (a few rows per day
and office, so a year of a million leads reads in milliseconds); the days
whose SLA window is still open are counted from the lead table with the clock.

Definitions (shown on the page too):
- The period is whole UTC days, ``start`` to ``end`` inclusive, on created_at.
- Weeks start on Monday (UTC).
- Response time is counted in whole minutes (rounded down) from created_at to
  first_contact_at, over non-spam leads with a first contact attempt, and
  shown in hours. Percentiles are continuous with linear interpolation
  between the two nearest ranks, as PostgreSQL's percentile_cont, worked out
  from the count of leads at each minute.
- Consult and patient shares count a lead's *current* status over non-spam
  leads: "consult scheduled" includes leads that since became patients. A lead
  closed after a consult counts as closed.
- The SLA share is over non-spam leads whose SLA window has ended (or that
  were already contacted): contacted within INTAKE_SLA_HOURS of creation, in
  whole minutes (24 h 0 min 30 s counts as 24 h).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from collections import Counter
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import rollups
from .models import ReportDay, ReportResponse

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


def _day_rows_from_rollup(session: Session, f: ReportFilter, last: date):
    """(day, article, campaign, leads, spam, consult, patient, sla_due) for settled days, from report_day."""
    where = [ReportDay.day >= f.start, ReportDay.day <= last]
    if f.location_ids is not None:
        where.append(ReportDay.location_id.in_(f.location_ids))
    leads, spam = func.sum(ReportDay.leads), func.sum(ReportDay.spam)
    # Every lead of a settled day has its SLA window closed: all non-spam leads are due.
    return session.execute(
        select(ReportDay.day, ReportDay.source_article, ReportDay.utm_campaign, leads, spam,
               func.sum(ReportDay.consult), func.sum(ReportDay.patient), leads - spam)
        .where(*where).group_by(ReportDay.day, ReportDay.source_article, ReportDay.utm_campaign)
    ).all()


def _day_rows_from_leads(session: Session, f: ReportFilter, first: date, *, sla_hours: float, now: datetime):
    """The same rows for the days not yet settled, counted from the lead table with the clock (a day or two)."""
    query = rollups.day_counts_from_leads(session, first, f.end, f.location_ids,
                                          sla_closed_by=now - timedelta(hours=sla_hours))
    # Columns: day, office, article, campaign, leads, spam, consult, patient, due; the office is summed over.
    return [(row[0], *row[2:]) for row in session.execute(query)]


def _responses(session: Session, f: ReportFilter, settled: date) -> Counter:
    """Whole minutes to first contact -> non-spam leads, over the period."""
    hist: Counter = Counter()
    last_settled = min(f.end, settled - timedelta(days=1))
    if f.start <= last_settled:
        where = [ReportResponse.day >= f.start, ReportResponse.day <= last_settled]
        if f.location_ids is not None:
            where.append(ReportResponse.location_id.in_(f.location_ids))
        for minutes, n in session.execute(select(ReportResponse.minutes, func.sum(ReportResponse.leads))
                                          .where(*where).group_by(ReportResponse.minutes)):
            hist[int(minutes)] += int(n)
    first_live = max(f.start, settled)
    if first_live <= f.end:
        live = rollups.responses_from_leads(session, first_live, f.end, f.location_ids).subquery()
        c = list(live.c)
        for minutes, n in session.execute(select(c[2], func.sum(c[3])).group_by(c[2])):
            hist[int(minutes)] += int(n)
    return hist


def percentile(hist: Counter, p: float) -> float | None:
    """percentile_cont over the values a histogram holds: linear between ranks floor(p*(n-1)) and the next."""
    n = sum(hist.values())
    if not n:
        return None
    rank = p * (n - 1)
    low_rank = math.floor(rank)
    high_rank = min(low_rank + 1, n - 1)
    low = high = None
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if low is None and seen > low_rank:
            low = value
        if seen > high_rank:
            high = value
            break
    return low + (high - low) * (rank - low_rank)


def build(session: Session, f: ReportFilter, *, sla_hours: float, now: datetime) -> Report:
    """Every number the reports page shows.

    Settled days come from the rollup (intake/rollups.py), refreshed first;
    the days whose SLA window is still open come from the lead table.
    """
    settled = rollups.settled_before(now, sla_hours)
    rollups.refresh(session, settled)
    rows = []
    if f.start < settled:
        rows += _day_rows_from_rollup(session, f, min(f.end, settled - timedelta(days=1)))
    if max(f.start, settled) <= f.end:
        rows += _day_rows_from_leads(session, f, max(f.start, settled), sla_hours=sla_hours, now=now)

    totals = Summary()
    per_week: Counter = Counter()
    articles: Counter = Counter()
    campaigns: Counter = Counter()
    for day, article, campaign, leads, spam, consult, patient, due in rows:
        day = rollups.as_date(day)
        leads, spam = int(leads), int(spam)
        per_week[day - timedelta(days=day.weekday())] += leads
        articles[article] += leads - spam
        campaigns[campaign] += leads - spam
        totals.total += leads
        totals.spam += spam
        totals.consult += int(consult)
        totals.patient += int(patient)
        totals.sla_due += int(due)
    totals.genuine = totals.total - totals.spam

    hist = _responses(session, f, settled)
    totals.contacted = sum(hist.values())
    sla_minutes = math.floor(sla_hours * 60)
    totals.sla_met = sum(n for minutes, n in hist.items() if minutes <= sla_minutes)
    if totals.contacted:
        totals.median_hours = percentile(hist, 0.5) / 60
        totals.p90_hours = percentile(hist, 0.9) / 60
    return Report(filter=f, sla_hours=sla_hours, summary=totals, weekly=_every_week(f, per_week),
                  articles=_top(articles, NO_ARTICLE), campaigns=_top(campaigns, NO_CAMPAIGN))


def _top(counts: Counter, empty_label: str) -> list[tuple[str, int]]:
    """Non-spam leads by value, biggest first, the tail summed as "(other)"; values with no leads left out."""
    ranked = sorted(((value, n) for value, n in counts.items() if n), key=lambda item: (-item[1], item[0]))
    out = [(value or empty_label, n) for value, n in ranked[:TOP_SOURCES]]
    rest = sum(n for _, n in ranked[TOP_SOURCES:])
    if rest:
        out.append((OTHER, rest))
    return out


def _every_week(f: ReportFilter, counts: dict[date, int]) -> list[tuple[date, int]]:
    """Every week of the period in order, weeks without leads as 0."""
    monday = f.start - timedelta(days=f.start.weekday())
    out = []
    while monday <= f.end:
        out.append((monday, counts.get(monday, 0)))
        monday += timedelta(weeks=1)
    return out


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
