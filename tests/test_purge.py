"""Retention purge: what it clears, what it keeps, and that a dry run changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from intake import purge as retention
from intake.extensions import db
from intake.models import AuditEvent, Inquiry, Lead, OutboxMessage
from tests.report_fixtures import add_lead

NOW = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=10)


def personal(**extra):
    fields = dict(last_name="Lovelace", email="Ada@Example.com", email_lower="ada@example.com",
                  phone="+12025550123", zip_code="22180", message="I have had depression for years",
                  referrer="https://search.example/?q=ketamine", ip_hash="abc123",
                  routing_reason="nearest to ZIP 22180, 5.0 mi", utm_source="news", utm_medium="email",
                  help_with="depression")
    fields.update(extra)
    return fields


@pytest.fixture
def leads(app):
    """Six leads: one per case the purge must tell apart."""
    with app.app_context():
        s = db.session
        made = {
            "closed_old": add_lead(s, "fairfax-va", OLD, 2, "closed", False, "ptsd", "fall", **personal(closed_at=OLD)),
            "spam_old": add_lead(s, "washington-dc", OLD, None, "new", True, None, None, **personal()),
            "patient_old": add_lead(s, "bethesda-md", OLD, 1, "became_patient", False, None, None, **personal()),
            "open_old": add_lead(s, "washington-dc", OLD, None, "contacting", False, None, None, **personal()),
            "closed_recent": add_lead(s, "washington-dc", OLD, 3, "closed", False, None, None,
                                      **personal(closed_at=RECENT)),
        }
        made["closed_recent"].updated_at = RECENT
        lead = made["closed_old"]
        s.add(Inquiry(lead_id=lead.id, first_name="Ada", last_name="L", email="ada@example.com",
                      phone="+12025550123", zip_code="22180", message="second message", created_at=OLD))
        s.add(OutboxMessage(kind="acknowledgement", lead_id=lead.id, recipients="ada@example.com",
                            recipient_key="k" * 40, subject="We received your message",
                            body_text="Dear Ada", body_html="<p>Dear Ada</p>", message_id="<ack@x>",
                            status="sent"))
        s.add(OutboxMessage(kind="new_lead", lead_id=lead.id, recipients="fairfax-va@example.org",
                            subject="New lead T-1", body_text="Lead at Fairfax", message_id="<office@x>",
                            status="sent"))
        s.add(AuditEvent(action="created", lead_id=lead.id, detail="routed to fairfax-va: nearest to ZIP 22180"))
        s.add(AuditEvent(action="note", lead_id=lead.id, detail="called Ada at 202-555-0123"))
        s.add(AuditEvent(action="contact_attempt", lead_id=lead.id, detail="phone: reached - Ada prefers mornings"))
        s.add(AuditEvent(action="moved", lead_id=lead.id, detail="washington-dc -> fairfax-va: Ada lives in Vienna"))
        s.add(AuditEvent(action="status_changed", lead_id=lead.id, detail="contacting -> closed (not_a_fit)"))
        ids = {name: lead.id for name, lead in made.items()}
        s.commit()
    return ids


def snapshot(session):
    rows = session.execute(select(Lead).order_by(Lead.id)).scalars()
    leads = [(l.id, l.first_name, l.email, l.phone, l.zip_code, l.message, l.purged_at) for l in rows]
    messages = [(m.id, m.recipients, m.body_text) for m in session.scalars(select(OutboxMessage))]
    inquiries = [(i.id, i.email, i.message) for i in session.scalars(select(Inquiry))]
    events = session.scalar(select(func.count(AuditEvent.id)))
    return leads, messages, inquiries, events


def test_purge_picks_closed_and_spam_leads_past_retention(app, leads):
    with app.app_context():
        result = retention.purge(db.session, older_than_days=365, now=NOW)
        db.session.commit()
        assert sorted(result.lead_ids) == sorted([leads["closed_old"], leads["spam_old"], leads["patient_old"]])
        purged = {l.id for l in db.session.scalars(select(Lead).where(Lead.purged_at.is_not(None)))}
        assert purged == set(result.lead_ids)
        untouched = db.session.get(Lead, leads["open_old"])
        assert (untouched.email, untouched.message) == ("Ada@Example.com", "I have had depression for years")


def test_purge_clears_personal_fields_and_keeps_report_fields(app, leads):
    with app.app_context():
        retention.purge(db.session, older_than_days=365, now=NOW)
        db.session.commit()
        lead = db.session.get(Lead, leads["closed_old"])
        assert (lead.first_name, lead.last_name, lead.message) == ("", "", "")
        assert (lead.email, lead.email_lower, lead.phone, lead.zip_code, lead.referrer, lead.ip_hash) == (None,) * 6
        assert "22180" not in lead.routing_reason
        assert lead.purged_at == NOW
        # What reports count stays.
        assert lead.location.slug == "fairfax-va"
        assert (lead.status, lead.spam, lead.source_article, lead.utm_campaign) == ("closed", False, "ptsd", "fall")
        assert (lead.created_at, lead.first_contact_at) == (OLD, OLD + timedelta(hours=2))

        inquiry = db.session.scalar(select(Inquiry).where(Inquiry.lead_id == lead.id))
        assert (inquiry.first_name, inquiry.last_name, inquiry.email, inquiry.phone, inquiry.zip_code,
                inquiry.message) == ("", "", None, None, None, "")
        ack = db.session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == "<ack@x>"))
        assert (ack.recipients, ack.recipient_key, ack.body_text, ack.body_html) == ("", None, "", "")
        office = db.session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == "<office@x>"))
        assert (office.recipients, office.body_text) == ("fairfax-va@example.org", "Lead at Fairfax")

        details = {e.action: e.detail for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.lead_id == lead.id))}
        assert "22180" not in details["created"] and details["created"].startswith("routed to fairfax-va")
        assert details["note"] == "(note removed by retention purge)"
        assert details["contact_attempt"] == "phone: reached - (note removed by retention purge)"
        assert details["moved"] == "washington-dc -> fairfax-va: (note removed by retention purge)"
        assert details["status_changed"] == "contacting -> closed (not_a_fit)"


def test_purge_is_audited_once_with_the_count(app, leads):
    with app.app_context():
        retention.purge(db.session, older_than_days=365, now=NOW)
        db.session.commit()
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "purged")))
        assert len(events) == 1
        assert events[0].detail.startswith("3 leads anonymised")
        assert events[0].lead_id is None


def test_purge_twice_finds_nothing_new(app, leads):
    with app.app_context():
        retention.purge(db.session, older_than_days=365, now=NOW)
        db.session.commit()
        again = retention.purge(db.session, older_than_days=365, now=NOW + timedelta(days=1))
        db.session.commit()
        assert again.count == 0
        assert db.session.scalar(select(func.count()).where(AuditEvent.action == "purged")) == 1


def test_recently_closed_lead_waits(app, leads):
    with app.app_context():
        result = retention.purge(db.session, older_than_days=5, now=NOW)
        db.session.commit()
    assert leads["closed_recent"] in result.lead_ids
    assert leads["open_old"] not in result.lead_ids


def test_dry_run_changes_nothing(app, leads):
    with app.app_context():
        before = snapshot(db.session)
        result = retention.purge(db.session, older_than_days=365, now=NOW, dry_run=True)
        db.session.commit()
        assert result.count == 3
        assert snapshot(db.session) == before


def test_cli_dry_run_lists_references_without_personal_data(app, runner, leads, frozen_clock):
    frozen_clock.now = NOW
    with app.app_context():
        before = snapshot(db.session)
        refs = [db.session.get(Lead, leads[k]).reference for k in ("closed_old", "spam_old", "patient_old")]
    out = runner.invoke(args=["purge", "--older-than", "365", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "3 leads would be anonymised" in out.output
    assert all(ref in out.output for ref in refs)
    assert "example.com" not in out.output and "Lovelace" not in out.output
    with app.app_context():
        assert snapshot(db.session) == before


def test_cli_purges_and_reports_the_count(app, runner, leads, frozen_clock):
    frozen_clock.now = NOW
    out = runner.invoke(args=["purge", "--older-than", "365"])
    assert out.exit_code == 0, out.output
    assert "Anonymised 3 leads" in out.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Lead.purged_at.is_not(None))) == 3


def test_cli_refuses_zero_days(runner):
    out = runner.invoke(args=["purge", "--older-than", "0"])
    assert out.exit_code != 0
    assert "0" in out.output
