"""notify: which outbox rows a lead event makes, to whom, and that office rows hold no patient detail."""

from __future__ import annotations

from sqlalchemy import select

from intake import notify
from intake.extensions import db
from intake.models import Lead, Location, OutboxMessage

PATIENT = {"first_name": "Zebulon", "last_name": "Quartermaine", "email": "zeb.q@patient-mail.example",
           "phone": "+13015550199", "zip_code": "20814",
           "message": "Treatment-resistant depression since 2019, ask for Dr. Okonkwo"}


def rows(app, **where):
    with app.app_context():
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def assert_no_patient_detail(row):
    everything = " ".join([row.subject, row.body_text, row.body_html, row.recipients])
    for key in ("first_name", "last_name", "email", "phone", "zip_code"):
        assert PATIENT[key] not in everything, key
    assert "3015550199" not in everything and "555-0199" not in everything
    assert "Okonkwo" not in everything and "depression" not in everything.lower()
    assert "Depression" not in everything


def test_new_lead_queues_office_message_and_acknowledgement(app, make_lead):
    lead = make_lead(location_choice="bethesda-md", help_with=["depression"], source_article="ketamine-basics",
                     utm_campaign="fall-campaign", **PATIENT)
    office, ack = rows(app)
    assert office.kind == "new_lead" and ack.kind == "acknowledgement"
    assert office.recipients == "bethesda-md@example.org"
    assert office.subject == f"New inquiry {lead['reference']} · Bethesda, MD"
    assert office.status == "pending" and office.lead_id == lead["id"]
    assert f"http://127.0.0.1:5000/staff/leads/{lead['id']}" in office.body_text
    assert f"http://127.0.0.1:5000/staff/leads/{lead['id']}" in office.body_html
    assert "Eastern" in office.body_text and lead["reference"] in office.body_html
    assert_no_patient_detail(office)
    for word in ("ketamine-basics", "fall-campaign"):
        assert word not in office.body_text + office.body_html
    assert office.message_id.startswith("<") and office.message_id.endswith("@127.0.0.1>")
    assert office.message_id != ack.message_id

    assert ack.recipients == PATIENT["email"]
    assert ack.subject == "We received your message · Bethesda, MD"
    for text in (ack.body_text, ack.body_html):
        assert "988" in text and "911" in text and "(301) 555-0162" in text and "Mon-Fri 8am-5pm" in text
        assert "one business day" in text
        assert "Okonkwo" not in text and "epression" not in text and PATIENT["first_name"] not in text


def test_office_time_is_eastern_and_labelled(app, make_lead, frozen_clock):
    make_lead(location_choice="bethesda-md")  # 14:00 UTC on 2 Nov 2026 is 9:00 AM EST
    office = rows(app, kind="new_lead")[0]
    assert "Mon 2 Nov 2026, 9:00 AM Eastern (EST)" in office.body_text


def test_inboxes_of_the_location_all_receive(app, make_lead):
    with app.app_context():
        from intake.models import LocationInbox

        loc = db.session.scalar(select(Location).where(Location.slug == "fairfax-va"))
        loc.inboxes.append(LocationInbox(email="frontdesk-fairfax@example.org"))
        db.session.commit()
    make_lead(location_choice="fairfax-va")
    office = rows(app, kind="new_lead")[0]
    assert office.recipients == "fairfax-va@example.org,frontdesk-fairfax@example.org"


def test_urgent_lead_subject_starts_with_urgent(app, make_lead):
    lead = make_lead(location_choice="columbia-md", message="I keep thinking about suicide")
    office = rows(app, kind="new_lead")[0]
    assert office.subject == f"URGENT · New inquiry {lead['reference']} · Columbia, MD"
    assert "URGENT" in office.body_text and "suicide" not in office.body_text
    assert "crisis" not in (office.body_text + office.body_html).lower()


def test_urgent_acknowledgement_opens_with_the_988_line(app, make_lead):
    make_lead(location_choice="columbia-md", message="I keep thinking about suicide", email="u@example.com")
    make_lead(location_choice="columbia-md", email="calm@example.com")
    urgent, calm = rows(app, kind="acknowledgement")
    assert urgent.body_text.startswith("If you are in crisis")
    assert calm.body_text.startswith("Thank you for reaching out.")
    for ack in (urgent, calm):
        assert ack.body_text.count("call or text 988") == 1 and ack.body_html.count("call or text") == 1
        assert "suicide" not in ack.subject


def test_spam_sends_nothing(app, make_lead):
    make_lead(honeypot="http://spam.example", **PATIENT)
    assert rows(app) == []


def test_no_email_no_acknowledgement(app, make_lead):
    make_lead(email=None, phone="+12025550123")
    assert [r.kind for r in rows(app)] == ["new_lead"]


def test_contact_method_is_named_in_acknowledgement(app, make_lead):
    make_lead(contact_method="text", phone="+12025550123", email="t1@example.com")
    make_lead(contact_method="email", email="t2@example.com")
    text_ack, email_ack = rows(app, kind="acknowledgement")
    assert "by text message to the number you gave" in text_ack.body_text
    assert "by email at this address" in email_ack.body_text
    assert "+12025550123" not in text_ack.body_text


def test_one_acknowledgement_per_address_per_day(app, make_lead, frozen_clock):
    make_lead(location_choice="bethesda-md", email="Same.Person@example.com")
    # Another office, other case: a new lead and a new office message, but no second acknowledgement.
    make_lead(location_choice="fairfax-va", email="same.person@EXAMPLE.com")
    frozen_clock.advance(hours=23)
    make_lead(location_choice="annapolis-md", email="same.person@example.com")
    assert len(rows(app, kind="new_lead")) == 3
    assert len(rows(app, kind="acknowledgement")) == 1
    frozen_clock.advance(hours=1, minutes=1)
    make_lead(location_choice="arlington-va", email="same.person@example.com")
    acks = rows(app, kind="acknowledgement")
    assert len(acks) == 2
    assert acks[0].recipient_key == acks[1].recipient_key
    assert "example.com" not in acks[0].recipient_key


def test_repeat_inquiry_tells_office_only(app, make_lead):
    first = make_lead(location_choice="bethesda-md", email="again@example.com")
    again = make_lead(location_choice="bethesda-md", email="again@example.com", first_name="Agatha",
                      message="Calling again about my PTSD", phone="+13015550111")
    assert again["id"] == first["id"] and not again["created"]
    kinds = [r.kind for r in rows(app)]
    assert kinds == ["new_lead", "acknowledgement", "repeat"]
    repeat = rows(app, kind="repeat")[0]
    assert repeat.subject == f"Repeat inquiry {first['reference']} · Bethesda, MD"
    assert repeat.recipients == "bethesda-md@example.org"
    for text in (repeat.subject, repeat.body_text, repeat.body_html):
        assert "Agatha" not in text and "PTSD" not in text and "again@example.com" not in text


def test_lead_moved_tells_the_new_office(app, make_lead):
    lead = make_lead(location_choice="bethesda-md", **PATIENT)
    with app.app_context():
        row = db.session.get(Lead, lead["id"])
        row.location_id = db.session.scalar(select(Location.id).where(Location.slug == "arlington-va"))
        db.session.flush()
        db.session.expire(row, ["location"])
        notify.lead_moved(db.session, row, "bethesda-md")
        db.session.commit()
    moved = rows(app, kind="reassigned")
    assert len(moved) == 1
    assert moved[0].recipients == "arlington-va@example.org"
    assert moved[0].subject == f"Inquiry moved to you {lead['reference']} · Arlington, VA"
    assert "Bethesda, MD" in moved[0].body_text
    assert_no_patient_detail(moved[0])


def test_sla_reminder_once_per_lead_still_new(app, make_lead, frozen_clock):
    waiting = make_lead(location_choice="bethesda-md")
    handled = make_lead(location_choice="bethesda-md")
    make_lead(location_choice="bethesda-md", honeypot="x")  # spam: never reminded
    with app.app_context():
        db.session.get(Lead, handled["id"]).status = "contacting"
        db.session.commit()
        frozen_clock.advance(hours=3, minutes=59)
        assert notify.queue_sla_reminders(db.session) == 0
        frozen_clock.advance(minutes=2)
        assert notify.queue_sla_reminders(db.session) == 1
        db.session.commit()
        assert notify.queue_sla_reminders(db.session) == 0
        db.session.commit()
        assert db.session.get(Lead, waiting["id"]).sla_reminded_at == frozen_clock.now
    reminders = rows(app, kind="sla_reminder")
    assert [r.dedupe_key for r in reminders] == [f"sla:{waiting['id']}"]
    assert reminders[0].subject == f"Still waiting {waiting['reference']} · Bethesda, MD"
    assert "more than 4 hours" in reminders[0].body_text


def test_sla_reminder_dedupe_survives_a_cleared_mark(app, make_lead, frozen_clock):
    lead = make_lead(location_choice="bethesda-md")
    frozen_clock.advance(hours=5)
    with app.app_context():
        assert notify.queue_sla_reminders(db.session) == 1
        db.session.commit()
        # Another worker that read the lead before our commit would try again: the key stops it.
        db.session.get(Lead, lead["id"]).sla_reminded_at = None
        db.session.commit()
        assert notify.queue_sla_reminders(db.session) == 0
        db.session.commit()
    assert len(rows(app, kind="sla_reminder")) == 1


def test_a_taken_dedupe_key_adds_nothing_and_keeps_the_transaction(app, make_lead):
    lead = make_lead(location_choice="bethesda-md")
    with app.app_context():
        row = db.session.get(Lead, lead["id"])
        context = {"reference": row.reference, "office": "Bethesda, MD", "urgent": False, "received": "now",
                   "link": "http://x/staff/leads/1", "sla_hours": 4}
        first = notify._queue(db.session, kind="sla_reminder", lead=row, recipients=["a@example.org"],
                              subject="s", template="sla_reminder", context=context, dedupe_key="test:once")
        again = notify._queue(db.session, kind="sla_reminder", lead=row, recipients=["a@example.org"],
                              subject="s", template="sla_reminder", context=context, dedupe_key="test:once")
        assert first is not None and first.id is not None and again is None
        first_id = first.id
        row.repeat_count = 7  # the lead's own change, in the same transaction, must still commit
        db.session.commit()
    assert [r.id for r in rows(app, dedupe_key="test:once")] == [first_id]
    with app.app_context():
        assert db.session.get(Lead, lead["id"]).repeat_count == 7
