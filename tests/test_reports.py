"""Report numbers against leads whose every fact is known (see tests/report_fixtures.py)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from intake import charts, reports
from intake.extensions import db
from tests.report_fixtures import END, NOW, START, add_known_leads, add_lead, at, location_id


@pytest.fixture
def known(app):
    with app.app_context():
        add_known_leads(db.session)
        db.session.commit()
        yield db.session


def build(session, slugs=None):
    ids = None if slugs is None else [location_id(session, s) for s in slugs]
    return reports.build(session, reports.ReportFilter(START, END, ids), sla_hours=4, now=NOW)


def test_one_office_numbers(known):
    report = build(known, ["washington-dc"])
    s = report.summary
    assert (s.total, s.spam, s.genuine, s.consult, s.patient) == (7, 1, 6, 2, 1)
    assert (s.contacted, s.sla_due, s.sla_met) == (5, 5, 4)
    assert s.median_hours == pytest.approx(3.0, abs=1e-6)
    assert s.p90_hours == pytest.approx(7.6, abs=1e-6)  # rank 3.6 between 4 h and 10 h
    assert s.spam_share == pytest.approx(1 / 7)
    assert s.sla_share == pytest.approx(4 / 5)
    assert s.consult_share == pytest.approx(2 / 6)
    assert s.patient_share == pytest.approx(1 / 6)


def test_all_offices_numbers(known):
    report = build(known)
    s = report.summary
    assert (s.total, s.spam, s.genuine, s.consult, s.patient) == (8, 1, 7, 3, 2)
    assert (s.contacted, s.sla_due, s.sla_met) == (6, 6, 4)
    assert s.median_hours == pytest.approx(3.5, abs=1e-6)
    assert s.p90_hours == pytest.approx(15.0, abs=1e-6)  # rank 4.5 between 10 h and 20 h


def test_single_contacted_lead_is_its_own_percentiles(known):
    s = build(known, ["bethesda-md"]).summary
    assert s.total == 1
    assert s.median_hours == pytest.approx(20.0, abs=1e-6)
    assert s.p90_hours == pytest.approx(20.0, abs=1e-6)


@pytest.mark.parametrize("hours, median, p90", [
    ([2, 4], 3.0, 3.8),              # ranks 0.5 and 0.9
    ([5, 1, 3, 2], 2.5, 4.4),        # sorted 1 2 3 5: ranks 1.5 and 2.7
    ([1, 1, 1, 9, 9], 1.0, 9.0),     # ranks 2 and 3.6 between equal values
])
def test_percentiles_interpolate_like_percentile_cont(app, hours, median, p90):
    with app.app_context():
        for h in hours:
            add_lead(db.session, "arlington-va", at(11, 2), contact_hours=h)
        db.session.commit()
        s = build(db.session, ["arlington-va"]).summary
    assert s.median_hours == pytest.approx(median, abs=1e-6)
    assert s.p90_hours == pytest.approx(p90, abs=1e-6)


def test_empty_selection_has_no_shares(known):
    s = build(known, []).summary
    assert s.total == 0
    assert s.median_hours is None and s.p90_hours is None and s.sla_share is None and s.spam_share is None


def test_weeks_start_on_monday_and_empty_weeks_show_zero(known):
    assert build(known, ["washington-dc"]).weekly == [
        (date(2026, 10, 19), 3), (date(2026, 10, 26), 0), (date(2026, 11, 2), 4)]
    assert [n for _, n in build(known).weekly] == [3, 0, 5]


def test_sources_biggest_first_without_spam(known):
    report = build(known, ["washington-dc"])
    assert report.articles == [("(contact page)", 3), ("ketamine-basics", 2), ("ptsd", 1)]
    assert report.campaigns == [("(no campaign)", 3), ("fall", 2), ('=HYPERLINK("x")', 1)]


def test_long_tail_is_summed_as_other(app):
    with app.app_context():
        for i in range(reports.TOP_SOURCES + 3):
            add_lead(db.session, "washington-dc", at(11, 2), article=f"article-{i:02d}")
        add_lead(db.session, "washington-dc", at(11, 2), article="article-00")
        db.session.commit()
        articles = build(db.session).articles
    assert articles[0] == ("article-00", 2)
    assert len(articles) == reports.TOP_SOURCES + 1
    assert articles[-1] == ("(other)", 3)
    assert sum(n for _, n in articles) == reports.TOP_SOURCES + 4


def test_purged_leads_still_count(known):
    from sqlalchemy import select

    from intake.models import Lead

    for lead in known.scalars(select(Lead)):
        lead.first_name, lead.email, lead.purged_at = "", None, NOW
    known.commit()
    assert build(known).summary.total == 8


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("fall", "fall"), (3, "3"), (None, ""),
])
def test_csv_cells_cannot_start_a_formula(value, cell):
    assert reports.csv_cell(value) == cell


def test_default_period_is_twelve_weeks_from_a_monday():
    start, end = reports.default_period(date(2026, 11, 27))  # a Friday
    assert end == date(2026, 11, 27)
    assert start.weekday() == 0
    assert start == date(2026, 9, 7)


# ---- charts ----------------------------------------------------------------------

@pytest.mark.parametrize("top, step", [(0, 1), (1, 1), (4, 1), (5, 2), (8, 2), (9, 5), (20, 5), (21, 10),
                                       (333, 100), (4000, 1000), (4001, 2000)])
def test_axis_steps_are_whole_and_round(top, step):
    assert charts.nice_step(top) == step
    assert charts.nice_step(top) * 4 >= top


def test_bar_chart_is_an_accessible_image_and_escapes_labels():
    svg = str(charts.bar_chart("c1", "Leads by campaign", "Bars", [("<script>alert(1)</script>", 3), ("fall", 1)]))
    assert svg.startswith('<svg class="chart" id="c1" role="img" aria-labelledby="c1-title c1-desc"')
    assert '<title id="c1-title">Leads by campaign</title><desc id="c1-desc">Bars</desc>' in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<rect") == 2 and "style=" not in svg
    # The biggest bar takes the whole plot width; the other is a third of it.
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths[1] == pytest.approx(widths[0] / 3, abs=0.1)


def test_column_chart_draws_one_column_per_week():
    svg = str(charts.column_chart("c2", "Leads per week", "Columns", [("Oct 19", 3), ("Oct 26", 0), ("Nov 2", 5)]))
    assert svg.count("<rect") == 3
    assert ">Nov 2</text>" in svg
    assert [t for t in re.findall(r'text-anchor="end"[^>]*>([\d.]+)</text>', svg)] == ["0", "2", "4", "6", "8"]


def test_empty_bar_chart_says_so():
    assert "No leads in this period." in str(charts.bar_chart("c3", "T", "D", []))
