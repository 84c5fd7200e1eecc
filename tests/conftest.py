"""Shared fixtures.

The schema always comes from running the migrations: once per test session
into a template, then each test gets a fresh copy (SQLite) or freshly emptied
tables (PostgreSQL, when TEST_DATABASE_URL is set).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from itertools import count

import pytest
from sqlalchemy import create_engine, text

from intake import clock, create_app
from intake import models  # noqa: F401  (registers every table on db.metadata)
from intake.extensions import db
from intake.seed import seed_articles, seed_locations

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
# Every table the models define, so a new table is emptied between tests without anyone remembering to.
TABLES = sorted(db.metadata.tables)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    """Run the migrations once and return how to get a fresh database per test."""
    if PG_URL:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        _build(PG_URL)
        return {"kind": "postgresql", "url": PG_URL}
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.db"
    _build(f"sqlite:///{path}")
    return {"kind": "sqlite", "path": path}


def _build(url: str) -> None:
    from flask_migrate import upgrade

    old = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        app = create_app("testing")
    finally:
        if old is None:
            os.environ.pop("DATABASE_URL")
        else:
            os.environ["DATABASE_URL"] = old
    with app.app_context():
        upgrade()
        if not url.startswith("postgresql"):
            seed_locations(db.session)
            seed_articles(db.session)
            db.session.commit()
        db.engine.dispose()


@pytest.fixture
def database_url(database_template, tmp_path):
    """A migrated, seeded database of this test's own."""
    if database_template["kind"] == "sqlite":
        path = tmp_path / "intake.db"
        shutil.copy(database_template["path"], path)
        return f"sqlite:///{path}"
    url = database_template["url"]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def app_env(monkeypatch, database_url):
    """Environment for building test apps; tests may add variables before calling ``make_app``."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("INTAKE_CONFIG", "testing")
    for name in ("MAIL_SERVER", "RATELIMIT_ENABLED", "INTAKE_MIN_FILL_SECONDS", "INTAKE_OUTBOX_INPROCESS",
                 "RATELIMIT_STORAGE_URI", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def make_app(app_env):
    """Build an app with extra environment variables: ``make_app(MAIL_SERVER="127.0.0.1")``."""
    built = []

    def factory(**env):
        for key, value in env.items():
            app_env.setenv(key, str(value))
        app = create_app("testing")
        with app.app_context():
            if PG_URL and not built:
                seed_locations(db.session)
                seed_articles(db.session)
                db.session.commit()
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Clock:
    """A controllable stand-in for intake.clock.utcnow."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def frozen_clock(monkeypatch):
    fake = Clock(datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc))
    monkeypatch.setattr(clock, "utcnow", fake)
    return fake


# ---- factories ---------------------------------------------------------------

STRONG_PASSWORD = "correct horse battery staple 42"
_serial = count(1)


@pytest.fixture
def make_staff(app):
    """Create a staff user: ``make_staff(role="staff", locations=["bethesda-md"])``."""
    from sqlalchemy import select

    from intake.models import Location, StaffUser

    def factory(email=None, role="staff", locations=(), password=STRONG_PASSWORD, name="Test User"):
        from argon2 import PasswordHasher

        with app.app_context():
            user = StaffUser(email=email or f"user{next(_serial)}@example.org", name=name, role=role,
                             password_hash=PasswordHasher().hash(password))
            for slug in locations:
                user.locations.append(db.session.scalar(select(Location).where(Location.slug == slug)))
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return factory


@pytest.fixture
def make_lead(app):
    """Create a lead through the real submission path; returns its id and reference."""
    from intake import leads

    def factory(now=None, **fields):
        data = {"token": f"tok-{next(_serial)}-{time.monotonic_ns()}", "first_name": "Ada", "last_name": "Lovelace",
                "email": f"ada{next(_serial)}@example.com", "phone": None, "zip_code": "20036",
                "consent_text": "I agree", "consent_version": "test"}
        data.update(fields)
        with app.app_context():
            result = leads.submit_lead(
                db.session, leads.LeadSubmission(**data), now=now or clock.utcnow(),
                default_slug=app.config["INTAKE_DEFAULT_LOCATION"], min_fill_seconds=0,
            )
            db.session.commit()
            return {"id": result.lead.id, "reference": result.lead.reference,
                    "location": result.lead.location.slug, "created": result.created}

    return factory


@pytest.fixture
def login_as(app):
    """Sign ``user`` in on ``client`` through the real sign-in form."""

    def do(client, user, password=STRONG_PASSWORD):
        from tests.helpers import csrf_token

        page = client.get("/staff/login")
        response = client.post("/staff/login", data={"email": user.email, "password": password,
                                                      "csrf_token": csrf_token(page)})
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
        return response

    return do


# ---- a real SMTP server --------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SMTPRecorder:
    """aiosmtpd handler that keeps every message it accepts, and can refuse on demand."""

    def __init__(self):
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.rcpt_reply: str | None = None  # e.g. "451 4.3.0 try later" or "550 5.1.1 no such user"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                  "raw": envelope.original_content or envelope.content,
                                  "message": message_from_bytes(envelope.original_content or envelope.content,
                                                                policy=policy.default)})
        return "250 Message accepted"

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= n:
                return self.messages
            time.sleep(0.02)
        raise AssertionError(f"expected {n} messages, got {len(self.messages)}")


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1; yields (host, port, recorder)."""
    from aiosmtpd.controller import Controller

    recorder = SMTPRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield "127.0.0.1", port, recorder
    finally:
        controller.stop()
