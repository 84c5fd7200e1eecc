"""Two Intake instances and two outbox workers on one PostgreSQL and one Redis.

This is the deployment shape in the README: stateless web instances behind a
load balancer (here: the test picks an instance per request), a shared
SECRET_KEY, PostgreSQL, Redis for the rate limits, and several `outbox work`
processes. It runs when TEST_DATABASE_URL is PostgreSQL and Redis answers on
127.0.0.1:6379; otherwise it skips and says why.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_URL
from tests.perf.bench import BIN, ROOT, Browser, Server, form_fields, stop

pytestmark = pytest.mark.slow

REDIS = ("127.0.0.1", 6379)
REDIS_DB = 7


def redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


if not PG_URL.startswith("postgresql"):
    pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL (SQLite is one machine by design)",
                allow_module_level=True)
if not redis_answers():
    pytest.skip("needs Redis on 127.0.0.1:6379 for the shared rate limit", allow_module_level=True)


@pytest.fixture
def cluster(app, smtp_server, tmp_path):
    """Two gunicorn instances (two workers each) and two outbox workers; everything stopped afterwards."""
    host, port, recorder = smtp_server
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "RATELIMIT_", "MAIL_", "PROMETHEUS"))}
    env.update(
        INTAKE_CONFIG="production", SECRET_KEY=secrets.token_hex(32), DATABASE_URL=PG_URL,
        RATELIMIT_ENABLED="true", RATELIMIT_STORAGE_URI=f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}",
        RATELIMIT_KEY_PREFIX=f"intake-test-{secrets.token_hex(6)}", INTAKE_MIN_FILL_SECONDS="0",
        INTAKE_OUTBOX_INPROCESS="false", MAIL_SERVER=host, MAIL_PORT=str(port), MAIL_USE_TLS="false",
        MAIL_USE_SSL="false", INTAKE_BASE_URL="http://127.0.0.1", INTAKE_DB_POOL_SIZE="2",
        INTAKE_DB_MAX_OVERFLOW="1",
    )
    log = tmp_path / "servers.log"
    servers, workers = [], []
    worker_log = open(tmp_path / "workers.log", "ab")
    try:
        for _ in range(2):
            servers.append(Server("intake:create_app()", env, 2, "/healthz", log).__enter__())
        for _ in range(2):
            workers.append(subprocess.Popen([str(BIN / "flask"), "--app", "intake", "outbox", "work", "--idle", "0.2"],
                                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=worker_log))
        yield [s.port for s in servers], recorder
    finally:
        for proc in workers:
            stop(proc)
        for server in servers:
            server.__exit__(None, None, None)
        worker_log.close()


def send_form(get_port: int, post_port: int, client_ip: str, email: str, resend: bool = False):
    """GET the form from one instance and POST it to another, as a load balancer may."""
    reader = Browser(get_port, headers={"X-Forwarded-For": client_ip})
    status, _, html = reader.go("GET", "/contact")
    assert status == 200
    fields = form_fields(html)
    fields.update(first_name="Multi", last_name="Instance", email=email, zip_code="22030", location="",
                  contact_method="email", message="Two machines, one lead.", consent="y", website="")
    writer = Browser(post_port, headers={"X-Forwarded-For": client_ip})
    writer.cookies = dict(reader.cookies)
    status, headers, _ = writer.go("POST", "/contact", fields)
    statuses = [(status, headers.get("location"))]
    if resend:  # the back button and Send again, landing on the first instance this time
        again = Browser(get_port, headers={"X-Forwarded-For": client_ip})
        again.cookies = dict(reader.cookies)
        status, headers, _ = again.go("POST", "/contact", fields)
        statuses.append((status, headers.get("location")))
        again.close()
    reader.close()
    writer.close()
    return statuses


def leads_by_email(prefix: str) -> dict[str, int]:
    engine = create_engine(PG_URL)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT email, count(*) FROM lead WHERE email LIKE :p GROUP BY email"),
                            {"p": f"{prefix}%"}).all()
    engine.dispose()
    return dict(rows)


def outbox_rows() -> dict[str, int]:
    engine = create_engine(PG_URL)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM outbox_message GROUP BY status")).all()
    engine.dispose()
    return dict(rows)


def test_two_instances_share_one_database_one_limit_and_send_each_message_once(cluster):
    (first, second), recorder = cluster

    # Twelve people, each from their own address, each reading from one instance
    # and sending to the other; four of them press Send twice.
    emails = [f"multi-{i}-{secrets.token_hex(3)}@example.com" for i in range(12)]
    for i, email in enumerate(emails):
        a, b = (first, second) if i % 2 else (second, first)
        answers = send_form(a, b, f"198.51.100.{i + 1}", email, resend=i < 4)
        assert all(status == 303 for status, _ in answers), answers
        # A resend lands on the same lead's thank-you page. The link is signed with the time, so two
        # answers either side of a second differ after the payload: compare the signed reference only.
        assert len({where.rsplit("/", 1)[1].split(".")[0] for _, where in answers}) == 1, answers
    stored = leads_by_email("multi-")
    assert stored == {email: 1 for email in emails}

    # One client switching instances: the shared per-IP budget (5 per minute) still runs out.
    limited = []
    for i in range(7):
        a, b = (first, second) if i % 2 else (second, first)
        status, _ = send_form(a, b, "203.0.113.50", f"limited-{i}-{secrets.token_hex(3)}@example.com")[0]
        limited.append(status)
    assert limited[:5] == [303] * 5
    assert limited[5:] == [429, 429]
    assert len(leads_by_email("limited-")) == 5

    # Two workers, every message sent exactly once.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = outbox_rows()
        if not any(states.get(s) for s in ("pending", "sending", "failed")):
            break
        time.sleep(0.2)
    states = outbox_rows()
    assert states.get("pending", 0) == states.get("sending", 0) == states.get("failed", 0) == 0, states
    sent = states.get("sent", 0)
    # 17 leads: an office notice and a patient acknowledgement each.
    assert sent == 34
    recorder.wait_for(sent, timeout=30)
    time.sleep(0.5)  # a duplicate, if any, would arrive now
    ids = [m["message"]["Message-ID"] for m in recorder.messages]
    assert len(ids) == len(set(ids)) == sent
