"""Outbox delivery rate: one worker, a local aiosmtpd sink, messages per second.

    /work/venv/bin/python tests/perf/outbox_rate.py                       # SQLite, 2000 messages
    /work/venv/bin/python tests/perf/outbox_rate.py --batch 1             # a new SMTP connection per message
    /work/venv/bin/python tests/perf/outbox_rate.py --worker              # a real `flask outbox work` process
    /work/venv/bin/python tests/perf/outbox_rate.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/intake_outbox_perf

It migrates a fresh database (a temporary SQLite file by default; a given
PostgreSQL database is emptied first), queues ``--messages`` office
notifications rendered from the real templates, starts aiosmtpd's Sink in its
own process on 127.0.0.1, and times ``outbox.deliver_due`` (the code `flask
outbox work` and `outbox send` run) with ``--batch`` messages per SMTP
connection; with --worker, a real `flask --app intake outbox work` process
(logging its line per message to a file) is started first and timed from the
commit of the messages until the last is marked sent. Every row must end
"sent", or the run fails. It also prints the worker's and the sink's CPU time
per message, which a busy machine disturbs less than the wall-clock rate
(the sink's share tells how much of a 2-core machine the relay side takes).
Not collected by pytest (the name does not start with test_).
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
    parser.add_argument("--worker", action="store_true",
                        help="time a real `flask --app intake outbox work` process instead of deliver_due in-process")
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
        run(args, url, sink.pid)
    finally:
        sink.terminate()
        sink.wait(10)
        tmp.cleanup()


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_worker(batch: int, log) -> subprocess.Popen:
    """`flask outbox work` as operators run it, logging one line per message to ``log``; returns once it polls."""
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "intake", "outbox", "work", "--batch",
                               str(batch), "--idle", "0.05"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while b" started" not in Path(log.name).read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the outbox worker did not start:\n" + Path(log.name).read_text())
        time.sleep(0.05)
    return worker


def run(args, url: str, sink_pid: int) -> None:
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
        rows = [OutboxMessage(
            kind="new_lead", recipients="bethesda-md@example.org", subject=f"New inquiry 7QXM-{i:04d} · Bethesda, MD",
            body_text=text_body, body_html=html_body, message_id=new_message_id(app.config["INTAKE_BASE_URL"]),
            status="pending", next_attempt_at=now, created_at=now) for i in range(args.messages)]
        worker = None
        if args.worker:
            log = tempfile.NamedTemporaryFile(prefix="outbox-worker-", suffix=".log")
            worker = start_worker(args.batch, log)
        db.session.add_all(rows)
        db.session.commit()
        db.session.remove()

        sink_started = cpu_seconds(sink_pid)
        started, cpu_started = time.perf_counter(), time.process_time()
        if worker is not None:
            # The clock starts when the messages are committed; the worker finds them at its next poll.
            cpu_started = cpu_seconds(worker.pid)
            sent_query = select(func.count()).where(OutboxMessage.status == "sent")
            while (sent := db.session.scalar(sent_query)) < args.messages:
                db.session.remove()
                if worker.poll() is not None or time.perf_counter() - started > 600:
                    break
                time.sleep(0.02)
            elapsed, cpu = time.perf_counter() - started, cpu_seconds(worker.pid) - cpu_started
            report = None
            worker.terminate()
            worker.wait(30)
            lines = sum(1 for line in Path(log.name).read_bytes().splitlines() if b"outcome=sent" in line)
            log.close()
            if lines != args.messages:
                raise SystemExit(f"the worker logged {lines} sent messages, not {args.messages}")
        elif args.profile:
            import cProfile

            profiler = cProfile.Profile(time.process_time)  # CPU time: a shared machine's waits drop out
            report = profiler.runcall(outbox.deliver_due, batch_size=args.batch)
            profiler.dump_stats(args.profile)
        else:
            report = outbox.deliver_due(batch_size=args.batch)
        if worker is None:
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        sink_cpu = cpu_seconds(sink_pid) - sink_started

        sent = db.session.scalar(select(func.count()).where(OutboxMessage.status == "sent"))
        db.session.remove()
    if sent != args.messages:
        raise SystemExit(f"only {sent} of {args.messages} sent: {report.outcomes if report else ''}")
    kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    how = "`flask outbox work`" if args.worker else "deliver_due"
    print(f"{args.messages} messages, batch {args.batch} per connection, {kind}, {how}: "
          f"{elapsed:.2f} s, {args.messages / elapsed:.0f} messages/s; the worker used {cpu:.2f} CPU s "
          f"({cpu / args.messages * 1000:.1f} ms per message), the sink {sink_cpu / args.messages * 1000:.1f} ms "
          f"per message; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
