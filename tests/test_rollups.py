"""The reports' rollup stays exactly what a full count of the lead table gives.

Every test here compares against the lead table itself: either the rollup
rows against a recount from scratch, or the report's numbers against the same
numbers worked out in Python from the leads.
"""

import math
import random
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from intake import reports, rollups, triage
from intake.extensions import db
from intake.models import Lead, Location, ReportDay, ReportDirty, ReportResponse, StaffUser
from tests.report_fixtures import add_lead, location_id

FAR = date(2100, 1, 1)  # refresh(before=FAR): every marked day counts as settled
DAY0 = datetime(2026, 9, 1, tzinfo=timezone.utc)
SLUGS = ["washington-dc", "bethesda-md", "arlington-va"]
STATUSES = ["new", "contacting", "consult_scheduled", "became_patient", "closed"]


def rollup_rows(session):
    days = {(r.day, r.location_id, r.source_article, r.utm_campaign): (r.leads, r.spam, r.consult, r.patient)
            for r in session.scalars(select(ReportDay))}
    responses = {(r.day, r.location_id, r.minutes): r.leads for r in session.scalars(select(ReportResponse))}
    return days, responses


def recounted_rows(session):
    """What the rollup should hold: the same rows, counted now from every lead."""
    first, last = session.execute(select(func.min(Lead.created_at), func.max(Lead.created_at))).one()
    days = {(rollups.as_date(r[0]), r[1], r[2], r[3]): tuple(int(v) for v in r[4:8])
            for r in session.execute(rollups.day_counts_from_leads(session, first.date(), last.date(), None))}
    responses = {(rollups.as_date(r[0]), r[1], int(r[2])): int(r[3])
                 for r in session.execute(rollups.responses_from_leads(session, first.date(), last.date(), None))}
    return days, responses


def marks(session):
    return {(rollups.as_date(d), loc) for d, loc in session.execute(select(ReportDirty.day, ReportDirty.location_id))}


def test_a_new_lead_marks_its_day_and_office_in_its_own_transaction(app):
    with app.app_context():
        dc = location_id(db.session, "washington-dc")
        add_lead(db.session, "washington-dc", DAY0 + timedelta(hours=23, minutes=59))
        db.session.rollback()
        assert marks(db.session) == set()  # rolled back with the lead
        add_lead(db.session, "washington-dc", DAY0 + timedelta(hours=23, minutes=59))
        db.session.commit()
        assert marks(db.session) == {(date(2026, 9, 1), dc)}


def test_refresh_counts_marked_days_and_removes_only_settled_marks(app):
    with app.app_context():
        dc = location_id(db.session, "washington-dc")
        add_lead(db.session, "washington-dc", DAY0, contact_hours=2, status="contacting")
        add_lead(db.session, "washington-dc", DAY0 + timedelta(days=5))
        db.session.commit()
        assert rollups.refresh(db.session, before=date(2026, 9, 3)) == 1
        db.session.commit()
        assert marks(db.session) == {(date(2026, 9, 6), dc)}  # not settled yet: left for later
        days, responses = rollup_rows(db.session)
        assert days == {(date(2026, 9, 1), dc, "", ""): (1, 0, 0, 0)}
        assert responses == {(date(2026, 9, 1), dc, 120): 1}
        assert rollups.refresh(db.session, before=FAR) == 1
        assert marks(db.session) == set()


def test_staff_actions_keep_the_rollup_exact(app, make_staff):
    make_staff(email="boss@example.org", role="admin")
    with app.app_context():
        user_id = db.session.scalar(select(StaffUser.id).where(StaffUser.email == "boss@example.org"))
        lead = add_lead(db.session, "washington-dc", DAY0 + timedelta(hours=9))
        other = add_lead(db.session, "washington-dc", DAY0 + timedelta(hours=10), contact_hours=1,
                         status="contacting")
        db.session.commit()
        rollups.refresh(db.session, FAR)
        db.session.commit()

        def act(fn, target, *args, minutes=0):
            actor = triage.Actor(db.session.get(StaffUser, user_id), DAY0 + timedelta(hours=9, minutes=minutes))
            fn(db.session, target, actor, *args, version=target.version)
            db.session.commit()
            assert marks(db.session), f"{fn.__name__} left no mark"
            rollups.refresh(db.session, FAR)
            db.session.commit()
            assert rollup_rows(db.session) == recounted_rows(db.session), fn.__name__

        act(triage.log_contact_attempt, lead, "call", "no_answer", minutes=95)
        act(triage.set_status, lead, "consult_scheduled")
        act(triage.set_status, lead, "became_patient")
        act(triage.mark_spam, other)
        act(triage.mark_not_spam, other)
        act(triage.move_lead, lead, "bethesda-md", "closer to home")
        days, responses = rollup_rows(db.session)
        bethesda = location_id(db.session, "bethesda-md")
        assert days[(date(2026, 9, 1), bethesda, "", "")] == (1, 0, 1, 1)
        assert responses[(date(2026, 9, 1), bethesda, 95)] == 1


def test_random_changes_never_leave_the_rollup_behind(app):
    rng = random.Random(7)
    with app.app_context():
        offices = {slug: location_id(db.session, slug) for slug in SLUGS}
        for _ in range(4):
            for _ in range(25):
                created = DAY0 + timedelta(days=rng.randrange(20), seconds=rng.randrange(86400))
                add_lead(db.session, rng.choice(SLUGS), created, status=rng.choice(STATUSES),
                         spam=rng.random() < 0.2, article=rng.choice([None, "ptsd", "cost"]),
                         campaign=rng.choice([None, "fall", "radio"]),
                         contact_hours=rng.choice([None, rng.uniform(0, 60)]))
            db.session.commit()
            for lead in db.session.scalars(select(Lead)).all():
                change = rng.randrange(6)
                if change == 0:
                    lead.status = rng.choice(STATUSES)
                elif change == 1:
                    lead.spam = not lead.spam
                elif change == 2:
                    lead.first_contact_at = lead.created_at + timedelta(seconds=rng.randrange(200000))
                elif change == 3:
                    lead.location_id = offices[rng.choice(SLUGS)]
                elif change == 4:
                    lead.utm_campaign = rng.choice([None, "winter"])
            db.session.commit()
            rollups.refresh(db.session, FAR)
            db.session.commit()
            assert rollup_rows(db.session) == recounted_rows(db.session)
        rollups.rebuild(db.session)
        assert rollup_rows(db.session) == recounted_rows(db.session)


def expected_report(leads: list[Lead], start: date, end: date, sla_hours: float, now: datetime) -> dict:
    """The report's numbers worked out in Python, lead by lead, from the definitions in intake/reports.py."""
    chosen = [lead for lead in leads if start <= lead.created_at.date() <= end]
    genuine = [lead for lead in chosen if not lead.spam]
    contacted = [lead for lead in genuine if lead.first_contact_at is not None]
    minutes = sorted(max(0, int((lead.first_contact_at - lead.created_at).total_seconds()) // 60)
                     for lead in contacted)

    def pct(p):
        if not minutes:
            return None
        rank = p * (len(minutes) - 1)
        low = math.floor(rank)
        high = min(low + 1, len(minutes) - 1)
        return (minutes[low] + (minutes[high] - minutes[low]) * (rank - low)) / 60

    due = [lead for lead in genuine
           if lead.first_contact_at is not None or lead.created_at <= now - timedelta(hours=sla_hours)]
    weeks = Counter(lead.created_at.date() - timedelta(days=lead.created_at.weekday()) for lead in chosen)
    return {
        "total": len(chosen), "spam": len(chosen) - len(genuine), "genuine": len(genuine),
        "consult": sum(lead.status in ("consult_scheduled", "became_patient") for lead in genuine),
        "patient": sum(lead.status == "became_patient" for lead in genuine),
        "contacted": len(contacted), "sla_due": len(due),
        "sla_met": sum(m <= sla_hours * 60 for m in minutes),
        "median": pct(0.5), "p90": pct(0.9), "weeks": weeks,
        "articles": Counter(lead.source_article or reports.NO_ARTICLE for lead in genuine),
        "campaigns": Counter(lead.utm_campaign or reports.NO_CAMPAIGN for lead in genuine),
    }


@pytest.mark.parametrize("start, end", [(date(2026, 9, 1), date(2026, 9, 30)),   # settled and live days
                                        (date(2026, 9, 3), date(2026, 9, 17)),   # settled days only
                                        (date(2026, 9, 29), date(2026, 9, 30))])  # live days only
def test_report_matches_a_count_of_the_leads(app, start, end):
    rng = random.Random(start.toordinal())
    now = datetime(2026, 9, 30, 15, 0, tzinfo=timezone.utc)
    with app.app_context():
        ids = [location_id(db.session, slug) for slug in SLUGS[:2]]
        for _ in range(300):
            created = DAY0 + timedelta(seconds=rng.randrange(int((now - DAY0).total_seconds())))
            contact = rng.choice([None, rng.expovariate(1 / 20)])
            if contact is not None and created + timedelta(hours=contact) > now:
                contact = None
            add_lead(db.session, rng.choice(SLUGS), created, contact_hours=contact, status=rng.choice(STATUSES),
                     spam=rng.random() < 0.15, article=rng.choice([None, "ptsd", "cost", "visit"]),
                     campaign=rng.choice([None, "fall", "radio"]))
        db.session.commit()
        leads = [lead for lead in db.session.scalars(select(Lead)) if lead.location_id in ids]
        want = expected_report(leads, start, end, 24, now)
        got = reports.build(db.session, reports.ReportFilter(start, end, ids), sla_hours=24, now=now)
    s = got.summary
    assert (s.total, s.spam, s.genuine, s.consult, s.patient) == (
        want["total"], want["spam"], want["genuine"], want["consult"], want["patient"])
    assert (s.contacted, s.sla_due, s.sla_met) == (want["contacted"], want["sla_due"], want["sla_met"])
    assert s.median_hours == pytest.approx(want["median"], abs=1e-9)
    assert s.p90_hours == pytest.approx(want["p90"], abs=1e-9)
    assert {d: n for d, n in got.weekly if n} == dict(want["weeks"])
    assert dict(got.articles) == dict(want["articles"])
    assert dict(got.campaigns) == dict(want["campaigns"])


def test_reports_page_counts_a_change_made_after_the_last_report(client, login_as, make_staff, frozen_clock):
    login_as(client, make_staff(role="admin"))
    with client.application.app_context():
        lead = add_lead(db.session, "washington-dc", frozen_clock() - timedelta(days=3), contact_hours=1)
        db.session.commit()
        lead_id = lead.id
    summary = client.get("/staff/reports/summary.csv").get_data(as_text=True)
    assert "Became a patient,0.0%,0 of 1 leads" in summary
    with client.application.app_context():
        db.session.get(Lead, lead_id).status = "became_patient"
        db.session.commit()
    summary = client.get("/staff/reports/summary.csv").get_data(as_text=True)
    assert "Became a patient,100.0%,1 of 1 leads" in summary
    with client.application.app_context():
        assert marks(db.session) == set()  # the page's refresh was committed
        assert db.session.scalar(select(func.sum(ReportDay.patient))) == 1


def test_migration_marks_existing_leads(app):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        add_lead(db.session, "washington-dc", DAY0)
        add_lead(db.session, "bethesda-md", DAY0 + timedelta(days=1))
        db.session.commit()
        downgrade(revision="be5059787341")
        upgrade()
        assert marks(db.session) == {(date(2026, 9, 1), location_id(db.session, "washington-dc")),
                                     (date(2026, 9, 2), location_id(db.session, "bethesda-md"))}
        assert db.session.scalar(select(func.count()).select_from(Location)) == 6


def test_outbox_send_counts_changed_days_so_marks_do_not_pile_up(app):
    with app.app_context():
        add_lead(db.session, "washington-dc", DAY0, contact_hours=3)
        add_lead(db.session, "washington-dc", datetime.now(timezone.utc))  # today: not settled, stays marked
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        dc = location_id(db.session, "washington-dc")
        assert marks(db.session) == {(datetime.now(timezone.utc).date(), dc)}
        assert rollup_rows(db.session)[1] == {(date(2026, 9, 1), dc, 180): 1}


def test_a_read_page_refreshes_in_a_transaction_that_takes_the_write_lock_first(app):
    """On SQLite a GET begins deferred; the refresh asks for BEGIN IMMEDIATE (see intake/database.py)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's transaction modes; PostgreSQL serialises refreshes with an advisory lock")
    from sqlalchemy import event

    begins = []
    with app.test_request_context("/staff/reports", method="GET"):
        add_lead(db.session, "washington-dc", DAY0)
        db.session.commit()
        listener = lambda conn, cursor, statement, *rest: begins.append(statement)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            db.session.scalar(select(func.count(Lead.id)))  # a read: deferred BEGIN
            assert rollups.refresh_and_commit(db.session, FAR) == 1
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
    assert [s for s in begins if s.startswith("BEGIN")] == ["BEGIN", "BEGIN IMMEDIATE"]
