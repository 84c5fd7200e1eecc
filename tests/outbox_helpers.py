"""Relays for the outbox tests: a real aiosmtpd with knobs, and a silent one that never speaks."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes, policy

from sqlalchemy import select

from intake import clock, leads
from intake.extensions import db
from intake.mailer import new_message_id
from intake.models import OutboxMessage
from tests.conftest import SMTPRecorder, free_port


class Relay(SMTPRecorder):
    """The conftest recorder plus per-address refusals and a pause per message."""

    def __init__(self):
        super().__init__()
        self.refuse: dict[str, str] = {}
        self.data_delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        return await super().handle_DATA(server, session, envelope)

    def message_ids(self) -> Counter:
        with self.lock:
            return Counter(m["message"]["Message-ID"] for m in self.messages)


@contextmanager
def run_relay(port: int | None = None, relay: Relay | None = None, **controller_args):
    """Serve ``relay`` on 127.0.0.1:``port`` until the block ends."""
    from aiosmtpd.controller import Controller

    relay = relay or Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=port or free_port(), **controller_args)
    controller.start()
    try:
        yield controller.port, relay
    finally:
        controller.stop()


@contextmanager
def silent_relay():
    """Accepts TCP connections and never says a word: a hung relay."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], held
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def parse(raw: bytes):
    return message_from_bytes(raw, policy=policy.default)


def decoded_parts(raw: bytes) -> str:
    """Every header and every MIME part of a raw message, decoded, as one string."""
    msg = parse(raw)
    chunks = [f"{k}: {v}" for k, v in msg.items()]
    for part in msg.walk():
        chunks.extend(f"{k}: {v}" for k, v in part.items())
        if not part.is_multipart():
            chunks.append(part.get_content())
    return "\n".join(chunks)


def submit(app, **fields):
    """A lead through the real submission path, committed; returns the lead's id."""
    data = {"token": f"t-{fields.get('email')}-{fields.get('first_name')}-{id(fields)}", "first_name": "Ada",
            "email": "ada@example.com", "zip_code": "20814", "consent_text": "I agree"}
    data.update(fields)
    with app.app_context():
        result = leads.submit_lead(db.session, leads.LeadSubmission(**data), now=clock.utcnow(),
                                   default_slug="washington-dc", min_fill_seconds=0)
        db.session.commit()
        return result.lead.id


def queue_plain(app, n: int, recipients: str = "bethesda-md@example.org", kind: str = "new_lead") -> list[str]:
    """Put ``n`` pending messages in the outbox in one commit; returns their Message-IDs."""
    with app.app_context():
        now = clock.utcnow()
        ids = []
        for i in range(n):
            mid = new_message_id(app.config["INTAKE_BASE_URL"])
            ids.append(mid)
            db.session.add(OutboxMessage(kind=kind, recipients=recipients, subject=f"Test {i}",
                                         body_text=f"Message {i}\n", body_html="", message_id=mid,
                                         status="pending", next_attempt_at=now, created_at=now))
        db.session.commit()
        return ids


def statuses(app) -> Counter:
    with app.app_context():
        found = Counter(db.session.scalars(select(OutboxMessage.status)))
        db.session.remove()
        return found


def outbox_rows(app, **where) -> list[OutboxMessage]:
    with app.app_context():
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        db.session.remove()
        return found


def after(row, **delta):
    return row.next_attempt_at + timedelta(**delta)
