"""submit_lead: one lead per token, repeat inquiries, duplicates, spam, urgency."""

import re

from sqlalchemy import func, select

from intake import clock
from intake.extensions import db
from intake.leads import LeadSubmission, submit_lead
from intake.models import AuditEvent, Inquiry, Lead, Submission


def submit(app, **fields):
    data = {"token": "t-1", "first_name": "Maya", "email": "maya@example.com", "zip_code": "20814"}
    data.update(fields)
    return submit_lead(db.session, LeadSubmission(**data), now=clock.utcnow(), default_slug="washington-dc",
                       min_fill_seconds=app.config["INTAKE_MIN_FILL_SECONDS"])


def test_new_lead_is_routed_referenced_and_recorded(app):
    with app.app_context():
        result = submit(app, location_choice="", zip_code="22180")
        db.session.commit()
        lead = result.lead
        assert result.created
        assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", lead.reference)
        assert lead.location.slug == "fairfax-va"
        assert lead.routing_reason == "nearest to ZIP 22180, 5.0 mi"
        assert lead.created_at.tzinfo is not None
        events = db.session.scalars(select(AuditEvent.action).where(AuditEvent.lead_id == lead.id)).all()
        assert events == ["created"]


def test_same_token_twice_makes_one_lead(app):
    with app.app_context():
        first = submit(app, token="same")
        db.session.commit()
        again = submit(app, token="same", message="changed my mind")
        db.session.commit()
        assert again.lead.id == first.lead.id
        assert not again.created
        assert db.session.scalar(select(func.count(Lead.id))) == 1
        assert db.session.scalar(select(func.count(Inquiry.id))) == 0


def test_repeat_inquiry_at_same_office_joins_open_lead(app):
    with app.app_context():
        first = submit(app, token="a", message="first words")
        db.session.commit()
        second = submit(app, token="b", email="MAYA@example.com", message="second words")
        db.session.commit()
        assert second.repeat and second.lead.id == first.lead.id
        lead = db.session.get(Lead, first.lead.id)
        assert lead.repeat_count == 1
        assert lead.priority == 1
        assert [i.message for i in lead.inquiries] == ["second words"]
        assert lead.message == "first words"
        assert db.session.scalar(select(func.count(Lead.id))) == 1
        assert db.session.scalar(select(func.count(Submission.token))) == 2


def test_match_at_other_office_opens_linked_lead(app):
    with app.app_context():
        first = submit(app, token="a", phone="+12025550101", email=None, zip_code="20814")
        db.session.commit()
        second = submit(app, token="b", phone="+12025550101", email=None, zip_code="22030")
        db.session.commit()
        assert second.created and second.lead.id != first.lead.id
        assert second.lead.duplicate_of_id == first.lead.id
        assert db.session.get(Lead, first.lead.id).has_duplicate


def test_closed_lead_at_same_office_gets_a_new_lead(app):
    with app.app_context():
        first = submit(app, token="a")
        first.lead.is_open = False
        first.lead.status = "closed"
        db.session.commit()
        second = submit(app, token="b")
        db.session.commit()
        assert second.created and second.lead.duplicate_of_id == first.lead.id


def test_honeypot_stores_flagged_lead(app):
    with app.app_context():
        result = submit(app, honeypot="http://spam.example")
        db.session.commit()
        assert result.created and result.lead.spam
        assert result.lead.spam_reason == "honeypot field filled"


def test_spam_never_joins_a_real_lead(app):
    with app.app_context():
        real = submit(app, token="a")
        db.session.commit()
        bot = submit(app, token="b", honeypot="x")
        db.session.commit()
        assert bot.lead.id != real.lead.id and bot.lead.spam


def test_crisis_message_marks_urgent_and_first_in_queue(app):
    with app.app_context():
        result = submit(app, message="Some days I want to die.")
        db.session.commit()
        assert result.lead.urgent and result.lead.priority == 0


def test_repeat_with_crisis_words_makes_open_lead_urgent(app):
    with app.app_context():
        submit(app, token="a", message="hello")
        db.session.commit()
        result = submit(app, token="b", message="I have been thinking about suicide")
        db.session.commit()
        assert result.repeat and result.lead.urgent and result.lead.priority == 0
