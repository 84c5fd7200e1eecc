"""Triage actions: each changes the lead, bumps its version and adds a timeline event; stale versions are refused."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import clock, triage
from intake.extensions import db
from intake.models import (
    PRIORITY_NORMAL,
    PRIORITY_REPEAT,
    PRIORITY_URGENT,
    AuditEvent,
    Lead,
    OutboxMessage,
    StaffUser,
)


@pytest.fixture
def world(app, make_staff, make_lead):
    """A Bethesda lead, two Bethesda staff, one Fairfax staff member."""
    lead = make_lead(location_choice="bethesda-md")
    return {
        "lead": lead["id"],
        "amy": make_staff(name="Amy", locations=["bethesda-md"]).id,
        "ben": make_staff(name="Ben", locations=["bethesda-md"]).id,
        "far": make_staff(name="Far", locations=["fairfax-va"]).id,
    }


def actor(user_id):
    return triage.Actor(db.session.get(StaffUser, user_id), clock.utcnow())


def events(lead_id):
    return [(e.action, e.detail) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.lead_id == lead_id).order_by(AuditEvent.id))]


def test_claim_assigns_to_me_and_records_it(app, world):
    with app.app_context():
        lead = db.session.get(Lead, world["lead"])
        triage.claim(db.session, lead, actor(world["amy"]), version=lead.version)
        db.session.commit()
        lead = db.session.get(Lead, world["lead"])
        assert lead.assignee_id == world["amy"]
        assert lead.version == 2
        assert events(lead.id)[-1] == ("assigned", "claimed by Amy")


def test_assign_only_to_a_colleague_of_that_office(app, world):
    with app.app_context():
        lead = db.session.get(Lead, world["lead"])
        with pytest.raises(triage.TriageError):
            triage.assign(db.session, lead, actor(world["amy"]), world["far"], version=1)
        assert lead.version == 1
        triage.assign(db.session, lead, actor(world["amy"]), world["ben"], version=1)
        db.session.commit()
        assert db.session.get(Lead, world["lead"]).assignee_id == world["ben"]
        assert events(lead.id)[-1] == ("assigned", "assigned to Ben")
        triage.assign(db.session, lead, actor(world["amy"]), None, version=2)
        assert lead.assignee_id is None
        assert events(lead.id)[-1] == ("assigned", "unassigned")


def test_status_changes_keep_is_open_and_closed_at_in_step(app, world, frozen_clock):
    with app.app_context():
        lead = db.session.get(Lead, world["lead"])
        amy = actor(world["amy"])
        triage.set_status(db.session, lead, amy, "consult_scheduled", version=1)
        assert (lead.status, lead.is_open, lead.closed_at) == ("consult_scheduled", True, None)
        with pytest.raises(triage.TriageError, match="why"):
            triage.set_status(db.session, lead, amy, "closed", version=2)
        triage.close(db.session, lead, amy, "not_a_fit", version=2)
        assert (lead.status, lead.is_open, lead.close_reason, lead.closed_at) == \
            ("closed", False, "not_a_fit", frozen_clock.now)
        db.session.commit()
        assert [a for a, _ in events(lead.id)][-2:] == ["status_changed", "status_changed"]
        assert events(lead.id)[-1][1] == "consult_scheduled -> closed (not_a_fit)"


def test_became_patient_closes_the_lead_without_a_reason(app, world):
    with app.app_context():
        lead = db.session.get(Lead, world["lead"])
        triage.set_status(db.session, lead, actor(world["amy"]), "became_patient", version=1)
        assert (lead.is_open, lead.close_reason) == (False, None)
        assert lead.closed_at is not None


def test_reopen_puts_a_closed_lead_back(app, world):
    with app.app_context():
        lead = db.session.get(Lead, world["lead"])
        amy = actor(world["amy"])
        with pytest.raises(triage.TriageError):
            triage.reopen(db.session, lead, amy, version=1)
        triage.close(db.session, lead, amy, "duplicate", version=1)
        triage.reopen(db.session, lead, amy, version=2)
        assert (lead.status, lead.is_open, lead.closed_at, lead.close_reason) == ("new", True, None, None)
        assert events(lead.id)[-1] == ("reopened", "closed -> new")


def test_spam_and_not_spam(app, world):
    with app.app_context():
        lead = db.session.get(Lead, world["lead"])
        amy = actor(world["amy"])
        triage.mark_spam(db.session, lead, amy, version=1)
        assert lead.spam
        with pytest.raises(triage.TriageError):
            triage.mark_spam(db.session, lead, amy, version=2)
        triage.mark_not_spam(db.session, lead, amy, version=2)
        assert not lead.spam and lead.spam_reason is None
        assert [a for a, _ in events(lead.id)][-2:] == ["spam_marked", "spam_cleared"]


def test_contact_attempts_count_failures_and_offer_unreachable_after_three(app, world, frozen_clock):
    with app.app_context():
        lead = db.session.get(Lead, world["lead"])
        amy = actor(world["amy"])
        first = frozen_clock.now
        triage.log_contact_attempt(db.session, lead, amy, "call", "voicemail", "left callback number", version=1)
        assert (lead.status, lead.first_contact_at, lead.failed_attempts) == ("contacting", first, 1)
        assert events(lead.id)[-1] == ("contact_attempt", "call: voicemail - left callback number")
        with pytest.raises(triage.TriageError, match="3 failed"):
            triage.close(db.session, lead, amy, "unreachable", version=2)
        frozen_clock.advance(hours=1)
        triage.log_contact_attempt(db.session, lead, triage.Actor(amy.user, frozen_clock.now), "text", "no_answer",
                                   version=2)
        triage.log_contact_attempt(db.session, lead, amy, "call", "reached", version=3)
        assert lead.failed_attempts == 2
        triage.log_contact_attempt(db.session, lead, amy, "email", "wrong_number", version=4)
        assert lead.failed_attempts == 3
        assert lead.first_contact_at == first  # only the first attempt sets it
        triage.close(db.session, lead, amy, "unreachable", version=5)
        assert lead.close_reason == "unreachable"
        with pytest.raises(triage.TriageError):
            triage.log_contact_attempt(db.session, lead, amy, "pigeon", "reached", version=6)


def test_note_keeps_the_staff_words(app, world):
    with app.app_context():
        lead = db.session.get(Lead, world["lead"])
        with pytest.raises(triage.TriageError):
            triage.add_note(db.session, lead, actor(world["amy"]), "   ", version=1)
        triage.add_note(db.session, lead, actor(world["amy"]), "Prefers mornings <b>", version=1)
        db.session.commit()
        assert events(lead.id)[-1] == ("note", "Prefers mornings <b>")


def test_move_changes_office_clears_assignee_and_tells_the_new_office(app, world):
    with app.app_context():
        lead = db.session.get(Lead, world["lead"])
        amy = actor(world["amy"])
        triage.claim(db.session, lead, amy, version=1)
        with pytest.raises(triage.TriageError):
            triage.move_lead(db.session, lead, amy, "bethesda-md", "same", version=2)
        with pytest.raises(triage.TriageError):
            triage.move_lead(db.session, lead, amy, "fairfax-va", "  ", version=2)
        triage.move_lead(db.session, lead, amy, "fairfax-va", "patient moved to Fairfax", version=2)
        db.session.commit()
        lead = db.session.get(Lead, world["lead"])
        assert lead.location.slug == "fairfax-va" and lead.assignee_id is None
        assert events(lead.id)[-1] == ("moved", "bethesda-md -> fairfax-va: patient moved to Fairfax")
        notices = db.session.scalars(select(OutboxMessage).where(OutboxMessage.lead_id == lead.id,
                                                                 OutboxMessage.kind == "reassigned")).all()
        assert [m.recipients for m in notices] == ["fairfax-va@example.org"]
        assert "patient moved" not in notices[0].body_text  # the staff reason stays on the timeline


def test_any_action_clears_the_repeat_lift_but_not_urgency(app, make_lead, make_staff):
    amy = make_staff(name="Amy", locations=["bethesda-md"]).id
    first = make_lead(location_choice="bethesda-md", email="same@example.com")
    make_lead(location_choice="bethesda-md", email="same@example.com")
    urgent = make_lead(location_choice="bethesda-md", message="I have thoughts of suicide")
    with app.app_context():
        lead = db.session.get(Lead, first["id"])
        assert lead.priority == PRIORITY_REPEAT
        triage.add_note(db.session, lead, actor(amy), "called back", version=lead.version)
        assert lead.priority == PRIORITY_NORMAL
        lead = db.session.get(Lead, urgent["id"])
        if lead.urgent:  # crisis detection belongs to another module; only check it when it flagged
            triage.claim(db.session, lead, actor(amy), version=lead.version)
            assert lead.priority == PRIORITY_URGENT


def test_a_stale_version_is_refused_and_says_what_changed(app, world):
    with app.app_context():
        lead = db.session.get(Lead, world["lead"])
        seen = triage.last_event_id(db.session, lead)
        version = lead.version
        # Ben acts first ...
        triage.log_contact_attempt(db.session, lead, actor(world["ben"]), "call", "voicemail", version=version,
                                   seen=seen)
        db.session.commit()
        # ... then Amy presses a button on the page she opened before that.
        db.session.expire_all()
        lead = db.session.get(Lead, world["lead"])
        with pytest.raises(triage.StaleLead) as refused:
            triage.set_status(db.session, lead, actor(world["amy"]), "closed", "not_a_fit", version=version,
                              seen=seen)
        db.session.rollback()
        assert [(e.action, e.detail) for e in refused.value.changes] == [("contact_attempt", "call: voicemail")]
        lead = db.session.get(Lead, world["lead"])
        assert (lead.status, lead.version) == ("contacting", version + 1)  # nothing overwritten


def test_compare_and_swap_refuses_a_concurrent_writer(app, world):
    """Two sessions load the same version; only one of them may take the next."""
    with app.app_context():
        mine = db.session.get(Lead, world["lead"])
        assert mine.version == 1
        db.session.commit()  # end the read: SQLite outside a request holds the write lock from BEGIN
        with Session(db.engine) as second:
            theirs = second.get(Lead, world["lead"])
            triage.claim(second, theirs, triage.Actor(second.get(StaffUser, world["ben"]), clock.utcnow()),
                         version=theirs.version)
            second.commit()
        with pytest.raises(triage.StaleLead):
            triage.claim(db.session, mine, actor(world["amy"]), version=1)
        db.session.rollback()
        assert db.session.get(Lead, world["lead"]).assignee_id == world["ben"]


def kinds_for(lead_id):
    return sorted(db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.lead_id == lead_id)))


def test_rescuing_a_lead_flagged_at_submission_tells_office_and_patient_once(app, make_lead, make_staff):
    lead_id = make_lead(location_choice="bethesda-md", honeypot="filled by a bot")["id"]
    amy = make_staff(name="Amy", locations=["bethesda-md"]).id
    with app.app_context():
        assert kinds_for(lead_id) == []  # spam sends nothing
        lead = db.session.get(Lead, lead_id)
        triage.mark_not_spam(db.session, lead, actor(amy), version=lead.version)
        db.session.commit()
        assert kinds_for(lead_id) == ["acknowledgement", "new_lead"]


def test_lead_marked_spam_by_staff_is_not_announced_twice(app, world):
    with app.app_context():
        assert kinds_for(world["lead"]) == ["acknowledgement", "new_lead"]
        lead = db.session.get(Lead, world["lead"])
        amy = actor(world["amy"])
        triage.mark_spam(db.session, lead, amy, version=1)
        triage.mark_not_spam(db.session, lead, amy, version=2)
        db.session.commit()
        assert kinds_for(world["lead"]) == ["acknowledgement", "new_lead"]
