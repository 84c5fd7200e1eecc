"""Outbox delivery against a real aiosmtpd: content, retries, dead letters, claims, the CLI."""

from __future__ import annotations

import logging
import time
import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from intake import outbox
from intake.extensions import db
from intake.models import Location, OutboxMessage
from tests.conftest import free_port
from tests.outbox_helpers import (decoded_parts, outbox_rows, parse, queue_plain, run_relay, silent_relay,
                                  statuses, submit)

PATIENT = {"first_name": "Zebulon", "last_name": "Quartermaine", "email": "zeb.q@patient-mail.example",
           "phone": "+13015550199", "zip_code": "20814", "location_choice": "bethesda-md",
           "message": "Treatment-resistant depression since 2019, ask for Dr. Okonkwo"}
SECRETS = ["Zebulon", "Quartermaine", "zeb.q@patient-mail.example", "patient-mail", "3015550199", "555-0199",
           "20814", "Okonkwo", "depression", "Depression"]


@pytest.fixture
def relay():
    with run_relay() as (port, recorder):
        yield port, recorder


@pytest.fixture
def mail_app(make_app, relay):
    return make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=relay[0], INTAKE_SMTP_TIMEOUT="2")


def deliver(app, **kw):
    with app.app_context():
        return outbox.deliver_due(**kw)


def test_submission_delivers_office_message_and_acknowledgement(mail_app, relay):
    _, recorder = relay
    lead_id = submit(mail_app, **PATIENT)
    report = deliver(mail_app)
    assert report.outcomes == {"sent": 2}
    office_row, ack_row = outbox_rows(mail_app)
    assert (office_row.status, ack_row.status) == ("sent", "sent")
    assert office_row.attempts == 1 and office_row.sent_at is not None and office_row.claimed_by is None

    by_id = {m["message"]["Message-ID"]: m for m in recorder.messages}
    assert set(by_id) == {office_row.message_id, ack_row.message_id}
    office, ack = by_id[office_row.message_id], by_id[ack_row.message_id]

    assert office["to"] == ["bethesda-md@example.org"] and office["from"] == "intake@example.org"
    msg = office["message"]
    assert msg["To"] == "bethesda-md@example.org" and msg["From"] == "intake@example.org"
    assert re.fullmatch(r"New inquiry [2-9A-Z]{4}-[2-9A-Z]{4} · Bethesda, MD", msg["Subject"])
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    everything = decoded_parts(office["raw"])
    assert f"/staff/leads/{lead_id}" in everything
    for secret in SECRETS:
        assert secret not in everything, secret
    # The raw bytes too, before any decoding.
    for secret in SECRETS:
        assert secret.encode() not in office["raw"], secret

    assert ack["to"] == ["zeb.q@patient-mail.example"]
    assert ack["message"]["To"] == "zeb.q@patient-mail.example"  # bare: no display name
    assert ack["message"]["Subject"] == "We received your message · Bethesda, MD"
    ack_text = decoded_parts(ack["raw"])
    assert "988" in ack_text and "Okonkwo" not in ack_text and "Zebulon" not in ack_text


def test_without_mail_server_messages_are_recorded(app):
    submit(app, email="rec@example.com")
    report = deliver(app)
    assert report.outcomes == {"recorded": 2}
    assert statuses(app) == {"recorded": 2}


def test_server_down_keeps_lead_and_delivers_when_back(make_app, frozen_clock):
    port = free_port()
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, INTAKE_SMTP_TIMEOUT="2")
    submit(app, **PATIENT)
    report = deliver(app)
    assert report.outcomes == {"failed": 2}
    rows = outbox_rows(app)
    assert all(r.status == "failed" and r.attempts == 1 for r in rows)
    assert all(r.last_error == "ConnectionRefusedError" for r in rows)
    assert all(timedelta(seconds=48) <= r.next_attempt_at - frozen_clock.now <= timedelta(seconds=72) for r in rows)

    with run_relay(port) as (_, recorder):
        assert deliver(app).claimed == 0  # not due yet
        frozen_clock.advance(seconds=73)
        assert deliver(app).outcomes == {"sent": 2}
        assert len(recorder.messages) == 2
    assert statuses(app) == {"sent": 2}


def test_451_is_retried_and_550_is_dead(mail_app, relay, frozen_clock):
    _, recorder = relay
    recorder.rcpt_reply = "451 4.3.0 try again later"
    submit(mail_app, email="a@example.com")
    assert deliver(mail_app).outcomes == {"failed": 2}
    assert {r.last_error for r in outbox_rows(mail_app)} == {"451 SMTPRecipientsRefused"}

    recorder.rcpt_reply = "550 5.1.1 no such mailbox"
    frozen_clock.advance(minutes=5)
    assert deliver(mail_app).outcomes == {"dead": 2}
    rows = outbox_rows(mail_app)
    assert {(r.status, r.attempts, r.last_error) for r in rows} == {("dead", 2, "550 SMTPRecipientsRefused")}
    frozen_clock.advance(hours=2)
    assert deliver(mail_app).claimed == 0
    assert recorder.messages == []


def test_451_then_accepted(mail_app, relay, frozen_clock):
    _, recorder = relay
    recorder.rcpt_reply = "451 4.3.0 try again later"
    submit(mail_app, email="b@example.com")
    deliver(mail_app)
    recorder.rcpt_reply = None
    frozen_clock.advance(minutes=2)
    assert deliver(mail_app).outcomes == {"sent": 2}
    assert len(recorder.messages) == 2


def test_partial_refusal_retries_only_the_refused_inbox(make_app, relay, frozen_clock):
    port, recorder = relay
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    with app.app_context():
        from intake.models import LocationInbox

        loc = db.session.scalar(select(Location).where(Location.slug == "bethesda-md"))
        loc.inboxes.append(LocationInbox(email="second@example.org"))
        db.session.commit()
    recorder.refuse["second@example.org"] = "452 4.2.2 mailbox full"
    submit(app, email=None, phone="+12025550123")
    assert deliver(app).outcomes == {"failed": 1}
    row = outbox_rows(app)[0]
    assert row.recipients == "second@example.org" and row.last_error == "452 partial refusal"
    assert [m["to"] for m in recorder.messages] == [["bethesda-md@example.org"]]
    recorder.refuse.clear()
    frozen_clock.advance(minutes=2)
    assert deliver(app).outcomes == {"sent": 1}
    assert [m["to"] for m in recorder.messages] == [["bethesda-md@example.org"], ["second@example.org"]]
    # One message, two deliveries of the same Message-ID: one per inbox.
    assert len({m["message"]["Message-ID"] for m in recorder.messages}) == 1


def test_backoff_doubles_caps_and_gives_up_after_a_day(make_app, frozen_clock):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    queue_plain(app, 1)
    start = frozen_clock.now
    gaps = []
    while True:
        deliver(app)
        row = outbox_rows(app)[0]
        if row.status == "dead":
            break
        gaps.append((row.next_attempt_at - frozen_clock.now).total_seconds())
        frozen_clock.now = row.next_attempt_at
    assert 48 <= gaps[0] <= 72 and 96 <= gaps[1] <= 144 and 192 <= gaps[2] <= 288
    assert max(gaps) <= 3600 and gaps[-1] >= 2880
    assert frozen_clock.now - start >= timedelta(hours=24)
    assert row.last_error == "ConnectionRefusedError; gave up after 24 h"
    assert row.attempts == len(gaps) + 1


def test_silent_relay_times_out_and_is_retried(make_app, frozen_clock):
    with silent_relay() as (port, held):
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, INTAKE_SMTP_TIMEOUT="0.5")
        queue_plain(app, 2)
        assert deliver(app).outcomes == {"failed": 2}
        assert len(held) == 1  # one connection tried for the whole batch
    rows = outbox_rows(app)
    assert {(r.status, r.last_error) for r in rows} == {("failed", "timeout SMTPServerDisconnected")}
    with run_relay(port) as (_, recorder):
        frozen_clock.advance(minutes=2)
        assert deliver(app).outcomes == {"sent": 2}
        assert len(recorder.messages) == 2


def test_header_injection_adds_no_header(mail_app, relay):
    _, recorder = relay
    with mail_app.app_context():
        loc = db.session.scalar(select(Location).where(Location.slug == "bethesda-md"))
        loc.name = "Bethesda, MD\r\nBcc: office-trick@evil.example"  # even an admin typo cannot add one
        db.session.commit()
    submit(mail_app, first_name="Eve\r\nBcc: victim@evil.example",
           last_name="=?utf-8?q?=0D=0ABcc:_encoded@evil.example?=", email="eve@example.com",
           message="Hi\r\nBcc: body@evil.example\r\n\r\n=?utf-8?q?=0ASubject:_x?=", location_choice="bethesda-md")
    deliver(mail_app)
    assert len(recorder.messages) == 2
    for received in recorder.messages:
        assert received["to"] in (["bethesda-md@example.org"], ["eve@example.com"])
        headers = [name.lower() for name in parse(received["raw"]).keys()]
        assert sorted(headers) == sorted(["from", "to", "subject", "date", "message-id", "auto-submitted",
                                          "content-type", "mime-version"])
        header_block = received["raw"].split(b"\r\n\r\n", 1)[0]
        assert b"\nBcc" not in header_block and b"\nbcc" not in header_block


def test_one_log_line_per_attempt_without_patient_detail(mail_app, relay, caplog, frozen_clock):
    _, recorder = relay
    caplog.set_level(logging.INFO)
    submit(mail_app, **PATIENT)
    recorder.rcpt_reply = "451 4.3.0 later"
    deliver(mail_app)
    recorder.rcpt_reply = None
    frozen_clock.advance(minutes=3)
    deliver(mail_app)
    lines = [r.getMessage() for r in caplog.records if r.name == "intake.outbox"]
    attempts = [line for line in lines if line.startswith("outbox message ")]
    office, ack = outbox_rows(mail_app)
    assert attempts == [
        f"outbox message {office.id} kind=new_lead attempt=1 outcome=failed error=451 SMTPRecipientsRefused",
        f"outbox message {ack.id} kind=acknowledgement attempt=1 outcome=failed error=451 SMTPRecipientsRefused",
        f"outbox message {office.id} kind=new_lead attempt=2 outcome=sent",
        f"outbox message {ack.id} kind=acknowledgement attempt=2 outcome=sent",
    ]
    # Everything our own code logged (the test relay, aiosmtpd, logs recipients: it is not ours).
    everything = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("intake"))
    assert "lead " in everything
    for secret in SECRETS + ["bethesda-md@example.org", "New inquiry", "We received"]:
        assert secret not in everything, secret


def test_claims_are_exclusive_until_the_lease_runs_out(app, frozen_clock):
    queue_plain(app, 3)
    with app.app_context():
        first = outbox.claim("worker-a", limit=2, lease=60)
        second = outbox.claim("worker-b", limit=10, lease=60)
        assert len(first) == 2 and len(second) == 1
        assert {m.id for m in first}.isdisjoint({m.id for m in second})
        assert outbox.claim("worker-c", limit=10, lease=60) == []
        frozen_clock.advance(seconds=61)
        taken_over = outbox.claim("worker-c", limit=10, lease=60)
        assert sorted(m.id for m in taken_over) == sorted(m.id for m in first + second)
        assert {m.attempts for m in taken_over} == {2}
        # The first worker wakes up late: its outcome is not recorded over the new claim.
        assert outbox.mark_sent(first[0], "worker-a") == "sent"
        row = db.session.get(OutboxMessage, first[0].id)
        assert (row.status, row.claimed_by) == ("sending", "worker-c")


def test_message_without_recipients_goes_dead(mail_app, relay):
    queue_plain(mail_app, 1, recipients="")
    assert deliver(mail_app).outcomes == {"dead": 1}
    assert outbox_rows(mail_app)[0].last_error == "no recipients"


# ---- in-process delivery ------------------------------------------------------

def test_kick_delivers_in_a_background_thread(make_app, relay):
    port, recorder = relay
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, INTAKE_OUTBOX_INPROCESS="true")
    submit(app, email="kick@example.com")
    outbox.kick(app)
    try:
        recorder.wait_for(2)
        deliverer = app.extensions["intake_outbox"]
        assert deliverer.thread.daemon and deliverer.thread.is_alive()
        outbox.kick(app)
        assert app.extensions["intake_outbox"].thread is deliverer.thread  # one thread per process
    finally:
        app.extensions["intake_outbox"].stop()
    assert statuses(app) == {"sent": 2}


def test_kick_does_nothing_when_in_process_delivery_is_off(app):
    submit(app, email="off@example.com")
    outbox.kick(app)
    assert "intake_outbox" not in app.extensions
    assert statuses(app) == {"pending": 2}


def test_kick_never_raises(app):
    app.config["INTAKE_OUTBOX_INPROCESS"] = True
    app.extensions["intake_outbox"] = object()  # broken beyond use
    outbox.kick(app)


# ---- commands -------------------------------------------------------------------

def test_outbox_send_delivers_due_and_queues_reminders(mail_app, relay, frozen_clock):
    _, recorder = relay
    submit(mail_app, email=None, phone="+12025550123")
    frozen_clock.advance(hours=5)
    result = mail_app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "1 reminder(s) queued; 2 message(s) tried: 2 sent" in result.output
    kinds = sorted(r.kind for r in outbox_rows(mail_app, status="sent"))
    assert kinds == ["new_lead", "sla_reminder"]
    assert len(recorder.messages) == 2


def test_outbox_list_masks_patient_addresses(app):
    submit(app, email="hidden.patient@example.com")
    result = app.test_cli_runner().invoke(args=["outbox", "list"])
    assert result.exit_code == 0, result.output
    assert "bethesda-md@example.org" in result.output
    assert "(patient address)" in result.output and "hidden.patient" not in result.output
    assert "acknowledgement" in result.output and "pending" in result.output
    deliver(app)
    result = app.test_cli_runner().invoke(args=["outbox", "list", "--status", "recorded"])
    assert result.output.count("recorded") == 2


def test_outbox_retry_puts_dead_and_failed_back(mail_app, relay, frozen_clock):
    _, recorder = relay
    recorder.rcpt_reply = "550 5.1.1 no"
    queue_plain(mail_app, 2)
    deliver(mail_app)
    assert statuses(mail_app) == {"dead": 2}
    recorder.rcpt_reply = None
    runner = mail_app.test_cli_runner()
    first = outbox_rows(mail_app)[0]
    result = runner.invoke(args=["outbox", "retry", str(first.id)])
    assert result.exit_code == 0 and "1 message(s)" in result.output
    assert statuses(mail_app) == {"dead": 1, "pending": 1}
    result = runner.invoke(args=["outbox", "retry", "--dead"])
    assert "1 message(s)" in result.output
    deliver(mail_app)
    assert statuses(mail_app) == {"sent": 2}
    result = runner.invoke(args=["outbox", "retry", str(first.id)])
    assert result.exit_code == 1 and "not failed or dead" in result.output
    assert runner.invoke(args=["outbox", "retry"]).exit_code == 2


def test_public_form_answers_303_with_the_relay_down_and_mail_follows_later(make_app, frozen_clock):
    from tests.public_helpers import send

    port = free_port()
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, INTAKE_OUTBOX_INPROCESS="true")
    client = app.test_client()
    try:
        response = send(client, "/contact", email="down@example.com", location="bethesda-md")
        assert response.status_code == 303
        deadline = time.monotonic() + 20
        while statuses(app) != {"failed": 2}:  # the in-process deliverer tried, outside the request
            assert time.monotonic() < deadline, statuses(app)
            time.sleep(0.05)
        with run_relay(port) as (_, recorder):
            frozen_clock.advance(minutes=2)
            outbox.kick(app)
            received = recorder.wait_for(2)
        assert sorted(m["to"][0] for m in received) == ["bethesda-md@example.org", "down@example.com"]
    finally:
        app.extensions["intake_outbox"].stop()
    assert statuses(app) == {"sent": 2}


def test_a_slow_batch_hands_back_what_it_has_not_tried(mail_app, relay):
    port, recorder = relay
    queued = queue_plain(mail_app, 3)
    with mail_app.app_context():
        batch = outbox.claim("slow-worker", limit=10, lease=1e-9)  # every message outlives this lease
        report = outbox.Report()
        outbox.deliver_batch(batch, "slow-worker", 1e-9, report)
    assert report.outcomes == {"sent": 1, "released": 1}
    rows = outbox_rows(mail_app)
    assert [(r.status, r.attempts, r.claimed_by) for r in rows] == [("sent", 1, None), ("pending", 0, None),
                                                                    ("pending", 0, None)]
    assert [m["message"]["Message-ID"] for m in recorder.messages] == queued[:1]


# ---- the cost of a message ------------------------------------------------------

def test_one_update_per_message_and_one_statement_per_claim(mail_app, relay):
    """Round trips are most of a message's cost: the claim is one statement per batch (plus the one
    that finds nothing), each outcome one UPDATE by primary key, and nothing else per message."""
    queue_plain(mail_app, 7)
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split())[:40].upper())

    with mail_app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            report = outbox.deliver_due(batch_size=5)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert report.outcomes == {"sent": 7}
    work = [s for s in seen if not s.startswith(("BEGIN", "SET ", "RESET ", "COMMIT"))]
    assert sum(s.startswith("WITH DUE AS") for s in work) == 3
    assert sum(s.startswith("UPDATE OUTBOX_MESSAGE SET") for s in work) == 7
    assert len(work) == 10, work
    settings = [s for s in seen if s not in work]
    if db_kind(mail_app) == "postgresql":  # autocommit: no BEGIN/COMMIT round trips; one SET/RESET per batch
        assert settings == ["SET SYNCHRONOUS_COMMIT = OFF", "RESET SYNCHRONOUS_COMMIT"] * 2
    else:  # in-process, no round trip: one BEGIN IMMEDIATE per transaction
        assert settings == ["BEGIN IMMEDIATE"] * 10


def db_kind(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def test_outcome_settings_never_reach_the_pool(app):
    """PostgreSQL outcomes commit without waiting for the WAL flush; web requests must never inherit that."""
    with app.app_context():
        engine = db.engine
        with outbox.outcome_connection() as conn:
            raw = conn.connection.dbapi_connection
            if engine.dialect.name == "postgresql":
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
            else:  # WAL with synchronous=NORMAL (1): the same trade, made for every SQLite connection
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
        held = []
        try:
            for _ in range(engine.pool.size() + 1):  # check out the pool until the same connection comes back
                held.append(engine.connect())
                if held[-1].connection.dbapi_connection is raw:
                    break
            conn = held[-1]
            assert conn.connection.dbapi_connection is raw
            assert conn.get_isolation_level() != "AUTOCOMMIT"
            if engine.dialect.name == "postgresql":
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        finally:
            for c in held:
                c.close()
