"""`flask demo`: fake leads that look like the app made them."""

import re

from sqlalchemy import func, select

from intake.extensions import db
from intake.models import OPEN_STATUSES, AuditEvent, Lead


def test_demo_writes_consistent_leads_and_events(app, runner):
    result = runner.invoke(args=["demo", "--leads", "300"])
    assert result.exit_code == 0, result.output
    assert "300 demo leads added." in result.output
    with app.app_context():
        leads = list(db.session.scalars(select(Lead)))
        assert len(leads) == 300
        assert len({lead.reference for lead in leads}) == 300
        assert all(re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", lead.reference) for lead in leads)
        assert len({lead.location_id for lead in leads}) == 6
        assert {lead.status for lead in leads} >= {"new", "contacting", "became_patient", "closed"}
        assert {lead.source_article is None for lead in leads} == {True, False}
        assert any(lead.spam for lead in leads) and any(lead.utm_campaign for lead in leads)
        for lead in leads:
            assert lead.is_open == (lead.status in OPEN_STATUSES)
            assert (lead.closed_at is None) == lead.is_open
            assert (lead.close_reason is not None) == (lead.status == "closed")
            assert (lead.first_contact_at is not None) == (lead.status != "new")
            assert lead.email or lead.phone
            assert lead.phone is None or re.fullmatch(r"\+1\d{10}", lead.phone)
        created = db.session.scalar(select(func.count()).where(AuditEvent.action == "created"))
        attempts = db.session.scalar(select(func.count()).where(AuditEvent.action == "contact_attempt"))
        assert created == 300
        assert attempts == sum(1 for lead in leads if lead.first_contact_at)


def test_same_seed_same_leads_and_a_second_run_adds_more(app, runner):
    assert runner.invoke(args=["demo", "--leads", "20", "--seed", "7"]).exit_code == 0
    with app.app_context():
        first = db.session.scalars(select(Lead.first_name).order_by(Lead.id)).all()
    assert runner.invoke(args=["demo", "--leads", "20", "--seed", "7"]).exit_code == 0
    with app.app_context():
        names = db.session.scalars(select(Lead.first_name).order_by(Lead.id)).all()
        assert len(names) == 40 and names[20:] == first
        assert db.session.scalar(select(func.count(func.distinct(Lead.reference)))) == 40


def test_demo_refuses_production(app_env, database_url):
    from intake import create_app

    app_env.setenv("INTAKE_CONFIG", "production")
    app_env.setenv("SECRET_KEY", "k" * 40)
    prod = create_app("production")
    result = prod.test_cli_runner().invoke(args=["demo", "--leads", "5"])
    assert result.exit_code != 0 and "production" in result.output
    with prod.app_context():
        db.engine.dispose()
