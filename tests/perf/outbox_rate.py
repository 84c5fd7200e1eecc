"""Outbox delivery rate: one worker, a local aiosmtpd sink, messages per second.

    /work/venv/bin/python tests/perf/outbox_rate.py                       # SQLite, 2000 messages
    /work/venv/bin/python tests/perf/outbox_rate.py --batch 1             # a new SMTP connection per message
    /work/venv/bin/python tests/perf/outbox_rate.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/intake_outbox_perf

It migrates a fresh database (a temporary SQLite file by default; a given
PostgreSQL database is emptied first), queues ``--messages`` office
notifications rendered from the real templates, starts aiosmtpd's Sink in its
own process on 127.0.0.1, and times ``outbox.deliver_due`` (the code `flask
outbox work` and `outbox send` run) with ``--batch`` messages per SMTP
connection. Every row must end "sent", or the run fails. It also prints the
worker's own CPU time per message, which a busy machine disturbs less than
the wall-clock rate. Not collected by
pytest (the name does not start with test_).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"aiosmtpd did not start on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50, help="messages per SMTP connection")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the delivery to FILE (pstats format)")
    args = parser.parse_args()

    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = tempfile.TemporaryDirectory()
    try:
        wait_for_port(port)
        url = args.database_url or f"sqlite:///{Path(tmp.name) / 'rate.db'}"
        os.environ.update(DATABASE_URL=url, INTAKE_CONFIG="testing", MAIL_SERVER="127.0.0.1",
                          MAIL_PORT=str(port), INTAKE_OUTBOX_INPROCESS="false")
        run(args, url)
    finally:
        sink.terminate()
        sink.wait(10)
        tmp.cleanup()


def run(args, url: str) -> None:
    import logging

    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from intake import clock, create_app, outbox
    from intake.extensions import db
    from intake.mailer import new_message_id
    from intake.models import OutboxMessage
    from intake.notify import eastern_time
    from intake.seed import seed_locations

    app = create_app("testing")
    logging.getLogger("intake.outbox").setLevel(logging.WARNING)  # one line per message would time the terminal
    with app.app_context():
        if url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        seed_locations(db.session)
        now = clock.utcnow()
        from flask import render_template

        context = {"reference": "7QXM-3K2P", "office": "Bethesda, MD", "urgent": False, "received": eastern_time(now),
                   "link": "http://127.0.0.1:5000/staff/leads/1", "sla_hours": 4}
        text_body = render_template("email/new_lead.txt", **context)
        html_body = render_template("email/new_lead.html", **context)
        db.session.add_all(OutboxMessage(
            kind="new_lead", recipients="bethesda-md@example.org", subject=f"New inquiry 7QXM-{i:04d} · Bethesda, MD",
            body_text=text_body, body_html=html_body, message_id=new_message_id(app.config["INTAKE_BASE_URL"]),
            status="pending", next_attempt_at=now, created_at=now) for i in range(args.messages))
        db.session.commit()

        started, cpu_started = time.perf_counter(), time.process_time()
        if args.profile:
            import cProfile

            profiler = cProfile.Profile(time.process_time)  # CPU time: a shared machine's waits drop out
            report = profiler.runcall(outbox.deliver_due, batch_size=args.batch)
            profiler.dump_stats(args.profile)
        else:
            report = outbox.deliver_due(batch_size=args.batch)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started

        sent = db.session.scalar(select(func.count()).where(OutboxMessage.status == "sent"))
        db.session.remove()
    if sent != args.messages:
        raise SystemExit(f"only {sent} of {args.messages} sent: {report.outcomes}")
    kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"{args.messages} messages, batch {args.batch} per connection, {kind}: "
          f"{elapsed:.2f} s, {args.messages / elapsed:.0f} messages/s; the worker used {cpu:.2f} CPU s "
          f"({cpu / args.messages * 1000:.1f} ms per message); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
