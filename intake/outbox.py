"""Delivering OutboxMessage rows: claim, send over one SMTP connection, mark, retry.

Delivery is at least once and never twice on purpose: a batch of rows is
claimed atomically by one UPDATE ... RETURNING (PostgreSQL: its rows picked
FOR UPDATE SKIP LOCKED; SQLite: inside BEGIN IMMEDIATE) with a lease, so any
number of `outbox work` processes and the in-process deliverer can run
together. A worker that dies leaves a lease that expires, and the row is
claimed again. Unlike domain functions, these commit: each claim and each
outcome (one UPDATE by primary key) is its own short transaction.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import Connection, Integer, and_, bindparam, or_, select, update

from . import clock, mailer, notify
from .extensions import db
from .models import OutboxMessage

logger = logging.getLogger(__name__)

DUE_STATUSES = ("pending", "failed")
FIRST_BACKOFF = 60.0
MAX_BACKOFF = 3600.0
GIVE_UP_AFTER = timedelta(hours=24)
DEFAULT_LEASE = 300.0
DEFAULT_BATCH = 50


@dataclass
class Claimed:
    """What a worker needs of a claimed row, read once so later commits cost nothing."""

    id: int
    kind: str
    recipients: list[str]
    subject: str
    body_text: str
    body_html: str
    message_id: str
    attempts: int
    created_at: datetime


@dataclass
class Report:
    """Counts of outcomes from one ``deliver_due`` call."""

    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def worker_name() -> str:
    """Who holds a claim: host, process and a random tag (two threads never share one)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{random.getrandbits(24):06x}"


def backoff_seconds(attempts: int, rng: random.Random | None = None) -> float:
    """About a minute after the first failure, doubling, capped at an hour, with +-20% jitter."""
    base = min(FIRST_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)
    return min(base * (rng or random).uniform(0.8, 1.2), MAX_BACKOFF)


_T = OutboxMessage.__table__


def _due(now):
    """Rows that may be claimed: due pending/failed ones, and claims whose lease ran out."""
    return or_(
        and_(_T.c.status.in_(DUE_STATUSES), _T.c.next_attempt_at <= now),
        and_(_T.c.status == "sending", _T.c.claimed_until < now),
    )


@functools.cache
def _claim_statement():
    """One statement claims a batch and returns its rows, built once.

    The CTE picks the oldest due rows (PostgreSQL: locking them, skipping rows
    another worker holds); the UPDATE takes them. SQLite runs it inside BEGIN
    IMMEDIATE (see database.py), so no other writer can come between.
    """
    now = bindparam("now", type_=_T.c.next_attempt_at.type)
    due = (select(_T.c.id).where(_due(now)).order_by(_T.c.next_attempt_at, _T.c.id)
           .limit(bindparam("limit", type_=Integer)).with_for_update(skip_locked=True).cte("due"))
    return (update(_T).where(_T.c.id == due.c.id)
            .values(status="sending", attempts=_T.c.attempts + 1,
                    claimed_until=bindparam("until", type_=_T.c.claimed_until.type),
                    claimed_by=bindparam("worker", type_=_T.c.claimed_by.type))
            .returning(_T.c.id, _T.c.kind, _T.c.recipients, _T.c.subject, _T.c.body_text, _T.c.body_html,
                       _T.c.message_id, _T.c.attempts, _T.c.created_at))


def claim(worker: str, *, limit: int, lease: float) -> list[Claimed]:
    """Atomically take up to ``limit`` due rows for ``worker`` and commit the claim."""
    session = db.session
    now = clock.utcnow()
    try:
        rows = session.execute(_claim_statement(), {"now": now, "limit": limit, "worker": worker,
                                                    "until": now + timedelta(seconds=lease)}).all()
        session.commit()
    except Exception:
        session.rollback()
        raise
    return [Claimed(r.id, r.kind, [a for a in r.recipients.split(",") if a], r.subject, r.body_text,
                    r.body_html, r.message_id, r.attempts, r.created_at) for r in sorted(rows)]


@contextmanager
def outcome_connection() -> Iterator[Connection]:
    """A pooled connection (not the session) for recording outcomes, one short transaction each.

    On PostgreSQL it runs in autocommit: each outcome is a single UPDATE,
    atomic on its own, and this spares psycopg's BEGIN and COMMIT round trips.
    It also turns off synchronous_commit for this connection while it records
    outcomes: a commit no longer waits for the WAL flush (3 ms each here, the
    larger part of a message's time), yet it is visible at once and survives a
    worker crash, so a killed worker still re-sends at most the message in
    flight. Only a crash of the database server itself can lose the last
    fraction of a second of outcomes; those rows stay "sending" until their
    lease runs out and are sent again (at least once, as ever; the Message-ID
    lets receivers drop the copy). SQLite with WAL and synchronous=NORMAL
    (database.py) already makes that trade. The setting is reset before the
    connection goes back to the pool, so web requests never inherit it.
    Use this when the session holds no open transaction (``claim`` commits).
    """
    with db.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            yield conn
            return
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("SET synchronous_commit = off")
        conn.commit()  # ends SQLAlchemy's autobegun transaction; autocommit already applied the SET
        try:
            yield conn
        finally:
            try:
                conn.exec_driver_sql("RESET synchronous_commit")
            except Exception:  # never let a pooled connection keep the setting
                conn.invalidate()
                logger.warning("could not reset synchronous_commit; connection discarded")


@functools.cache
def _finish_statement(keys: tuple[str, ...]):
    """UPDATE one row by primary key, only while ``worker`` holds its claim; built once per set of columns."""
    values = {key: bindparam(f"set_{key}", type_=_T.c[key].type) for key in keys}
    return (update(_T).where(_T.c.id == bindparam("row_id"), _T.c.claimed_by == bindparam("worker"),
                             _T.c.status == "sending")
            .values(claimed_until=None, claimed_by=None, **values))


def _finish(msg: Claimed, worker: str, conn: Connection | None, **values) -> bool:
    """Record an outcome, only if this worker still holds the claim, and commit it."""
    if conn is None:
        with outcome_connection() as own:
            return _finish(msg, worker, own, **values)
    params = {f"set_{key}": value for key, value in values.items()}
    with conn.begin():
        result = conn.execute(_finish_statement(tuple(sorted(values))),
                              {"row_id": msg.id, "worker": worker, **params})
    return result.rowcount == 1


def _log(msg: Claimed, outcome: str, error: str | None = None) -> None:
    if error:
        logger.info("outbox message %s kind=%s attempt=%d outcome=%s error=%s",
                    msg.id, msg.kind, msg.attempts, outcome, error)
    else:
        logger.info("outbox message %s kind=%s attempt=%d outcome=%s", msg.id, msg.kind, msg.attempts, outcome)


def mark_sent(msg: Claimed, worker: str, status: str = "sent", error: str | None = None, *,
              conn: Connection | None = None) -> str:
    _finish(msg, worker, conn, status=status, sent_at=clock.utcnow(), last_error=error)
    _log(msg, status, error)
    return status


def mark_dead(msg: Claimed, worker: str, error: str, *, conn: Connection | None = None) -> str:
    _finish(msg, worker, conn, status="dead", last_error=error)
    _log(msg, "dead", error)
    return "dead"


def mark_failed(msg: Claimed, worker: str, error: str, *, conn: Connection | None = None, **values) -> str:
    """Schedule a retry with back-off, or give up once the message is a day old."""
    now = clock.utcnow()
    if now - msg.created_at >= GIVE_UP_AFTER:
        return mark_dead(msg, worker, f"{error}; gave up after 24 h", conn=conn)
    _finish(msg, worker, conn, status="failed", last_error=error,
            next_attempt_at=now + timedelta(seconds=backoff_seconds(msg.attempts)), **values)
    _log(msg, "failed", error)
    return "failed"


def release(msgs: list[Claimed], worker: str, *, conn: Connection | None = None) -> None:
    """Hand back claims not yet tried, due at once, without counting an attempt."""
    for msg in msgs:
        _finish(msg, worker, conn, status="pending", attempts=msg.attempts - 1, next_attempt_at=clock.utcnow())


def describe(exc: BaseException) -> str:
    """An SMTP code and a class name: enough to act on, never patient data."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _ in exc.recipients.values()})
        return f"{'/'.join(codes)} {name}"
    code = getattr(exc, "smtp_code", None)
    if code:
        return f"{code} {name}"
    if isinstance(exc, smtplib.SMTPServerDisconnected) and "timed out" in str(exc):
        return f"timeout {name}"
    return name


def _is_permanent(exc: BaseException) -> bool:
    """A 5xx aimed at this message or its recipients: retrying cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPDataError):
        return 500 <= exc.smtp_code < 600
    return False


def _connection_broken(exc: BaseException) -> bool:
    """True when the SMTP session cannot carry the next message (SMTPException is an OSError too)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _send_one(smtp: mailer.SafeConnection, msg: Claimed, worker: str, sender: str, conn: Connection) -> str:
    """Send one claimed message on an open SMTP connection and record the outcome on ``conn``."""
    if not msg.recipients:
        return mark_dead(msg, worker, "no recipients", conn=conn)
    try:
        email = mailer.build_message(sender=sender, recipients=msg.recipients, subject=msg.subject,
                                     body_text=msg.body_text, body_html=msg.body_html,
                                     message_id=msg.message_id, date=clock.utcnow())
    except ValueError as exc:
        return mark_dead(msg, worker, describe(exc), conn=conn)
    refused = smtp.send_raw(email, sender, msg.recipients)
    if not refused:
        return mark_sent(msg, worker, conn=conn)
    codes = "/".join(sorted({str(code) for code, _ in refused.values()}))
    retry = [addr for addr, (code, _) in refused.items() if not 500 <= code < 600]
    if retry:
        # The others have it: try again for the refused inboxes only.
        return mark_failed(msg, worker, f"{codes} partial refusal", conn=conn, recipients=",".join(retry))
    return mark_sent(msg, worker, error=f"{codes} for {len(refused)} of {len(msg.recipients)} recipients",
                     conn=conn)


def deliver_batch(batch: list[Claimed], worker: str, lease: float, report: Report) -> None:
    """Send a claimed batch over one SMTP connection; a broken connection fails the rest.

    Each outcome is committed as soon as the relay answers, so a crash re-sends
    at most the message in flight.
    """
    with outcome_connection() as conn:
        _deliver_batch(batch, worker, lease, report, conn)


def _deliver_batch(batch: list[Claimed], worker: str, lease: float, report: Report, conn: Connection) -> None:
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    if not mailer.mail_configured():
        for msg in batch:
            report.add(mark_sent(msg, worker, status="recorded", conn=conn))
        return
    started = time.monotonic()
    remaining = list(batch)
    try:
        with mailer.connect() as smtp:
            while remaining:
                if len(remaining) < len(batch) and time.monotonic() - started > lease / 2:
                    # Running long: hand back the rest before the lease could lapse.
                    release(remaining, worker, conn=conn)
                    report.add("released")
                    return
                msg = remaining.pop(0)
                try:
                    report.add(_send_one(smtp, msg, worker, sender, conn))
                except OSError as exc:
                    if _connection_broken(exc):
                        remaining.insert(0, msg)
                        raise
                    outcome = mark_dead(msg, worker, describe(exc), conn=conn) if _is_permanent(exc) else \
                        mark_failed(msg, worker, describe(exc), conn=conn)
                    report.add(outcome)
    except (smtplib.SMTPException, OSError, mailer.MailNotConfigured) as exc:
        error = describe(exc)
        if remaining:
            logger.warning("outbox connection failed (%s); %d message(s) will be retried", error, len(remaining))
        for msg in remaining:
            report.add(mark_failed(msg, worker, error, conn=conn))


def deliver_due(*, worker: str | None = None, batch_size: int = DEFAULT_BATCH, lease: float = DEFAULT_LEASE,
                max_batches: int | None = None) -> Report:
    """Claim and deliver batches until nothing is due (or ``max_batches`` ran); needs an app context."""
    worker = worker or worker_name()
    report = Report()
    batches = 0
    while max_batches is None or batches < max_batches:
        batch = claim(worker, limit=batch_size, lease=lease)
        if not batch:
            break
        report.claimed += len(batch)
        batches += 1
        deliver_batch(batch, worker, lease, report)
    db.session.remove()
    return report


def queue_sla_reminders() -> int:
    """Queue due SLA reminders and commit them; a clash with another worker is harmless."""
    try:
        queued = notify.queue_sla_reminders(db.session)
        db.session.commit()
        return queued
    except Exception:
        db.session.rollback()
        raise


def retry(message_id: int | None = None, *, dead: bool = False) -> int:
    """Put a failed or dead message (or every dead one) back to pending now; returns how many."""
    query = update(OutboxMessage).values(status="pending", next_attempt_at=clock.utcnow(),
                                         claimed_until=None, claimed_by=None)
    if dead:
        query = query.where(OutboxMessage.status == "dead")
    else:
        query = query.where(OutboxMessage.id == message_id, OutboxMessage.status.in_(("failed", "dead")))
    count = db.session.execute(query, execution_options={"synchronize_session": False}).rowcount
    db.session.commit()
    return count


# ---- the in-process deliverer ----------------------------------------------------

IDLE_WAKE_SECONDS = 30.0


class InProcessDeliverer:
    """One daemon thread per process that delivers whenever it is kicked, and every half minute."""

    def __init__(self, app: Flask):
        self.app = app
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = 0
        self.lock = threading.Lock()
        self.stopping = False

    def kick(self) -> None:
        with self.lock:
            # A fork (gunicorn) copies the object but not the thread: start one per process.
            if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
                self.pid = os.getpid()
                self.wake = threading.Event()
                self.thread = threading.Thread(target=self.run, name="intake-outbox", daemon=True)
                self.thread.start()
        self.wake.set()

    def run(self) -> None:
        worker = worker_name()
        last_sla = 0.0
        while not self.stopping:
            self.wake.wait(IDLE_WAKE_SECONDS)
            self.wake.clear()
            if self.stopping:
                return
            try:
                with self.app.app_context():
                    if time.monotonic() - last_sla > 60:
                        last_sla = time.monotonic()
                        queue_sla_reminders()
                    deliver_due(worker=worker)
            except Exception:  # the thread must outlive a database or relay hiccup
                logger.exception("in-process outbox delivery failed; will try again")

    def stop(self, timeout: float = 10.0) -> None:
        """Let the thread finish its current batch and end (tests, clean shutdown)."""
        self.stopping = True
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)


def kick(app: Flask) -> None:
    """Called by a view after its commit: deliver due messages outside the request
    when INTAKE_OUTBOX_INPROCESS is on. Never raises, never blocks the response."""
    try:
        if not app.config.get("INTAKE_OUTBOX_INPROCESS"):
            return
        deliverer = app.extensions.get("intake_outbox")
        if deliverer is None:
            deliverer = app.extensions.setdefault("intake_outbox", InProcessDeliverer(app))
        deliverer.kick()
    except Exception:
        logger.exception("could not wake the in-process outbox deliverer")
