"""Peak memory while exporting every demo lead as CSV: it should stay flat, under 150 MB at a million rows.

    DATABASE_URL=sqlite:////tmp/intake-1m.db flask --app intake setup
    DATABASE_URL=sqlite:////tmp/intake-1m.db flask --app intake demo --leads 1000000
    DATABASE_URL=sqlite:////tmp/intake-1m.db /work/venv/bin/python tests/perf/export_memory.py
    DATABASE_URL=sqlite:////tmp/intake-1m.db /work/venv/bin/python tests/perf/export_memory.py --gunicorn

An admin signs in through the real form and downloads
/staff/leads/export.csv?status=all&spam=include (every lead) through Flask's
test client without buffering; the body is read piece by piece and thrown
away, as a socket would. Prints rows, megabytes, seconds and the process's
RSS at the start, the peak during the export (VmHWM, reset just before it),
and the peak before it (ru_maxrss: start-up and sign-in). Not collected by pytest.

With --gunicorn the same download is served by one gunicorn worker started
with gunicorn.conf.py (INTAKE_CONFIG=production), and the worker's memory is
read from /proc: its VmHWM is reset after sign-in, so the export's own peak is
told apart from the worker's lifetime peak (argon2 takes 64 MiB per sign-in).
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import sys
import time
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from argon2 import PasswordHasher  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from intake import create_app  # noqa: E402
from intake.extensions import db  # noqa: E402
from intake.models import Lead, StaffUser  # noqa: E402
from tests.helpers import csrf_token  # noqa: E402

EMAIL, PASSWORD = "export-memory@example.org", "export memory password 2026"


def peak_mb() -> float:
    """The process's lifetime peak RSS (includes argon2's 64 MiB while signing in)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak() -> None:
    """Start VmHWM afresh (Linux 4.0+), so the export's own peak can be read apart from sign-in's."""
    Path("/proc/self/clear_refs").write_text("5")


def add_admin(app) -> tuple[str, int]:
    """The export admin (created once), the database's dialect and its lead count."""
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(Lead))
        if not db.session.scalar(select(StaffUser).where(StaffUser.email == EMAIL)):
            db.session.add(StaffUser(email=EMAIL, name="Export", role="admin",
                                     password_hash=PasswordHasher().hash(PASSWORD)))
            db.session.commit()
        dialect = db.engine.dialect.name
        db.session.remove()
    return dialect, total


def in_gunicorn() -> None:
    """The export served by one gunicorn worker, its memory read from /proc."""
    from tests.perf import bench

    dialect, total = add_admin(create_app())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "RATELIMIT_", "MAIL_"))}
    env.update(INTAKE_CONFIG="production", SECRET_KEY=secrets.token_hex(32), RATELIMIT_ENABLED="false",
               INTAKE_OUTBOX_INPROCESS="false")
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    with bench.Server("intake:create_app()", env, 1, "/healthz", bench.RESULTS / "export-memory.log") as server:
        browser = bench.Browser(server.port)
        fields = bench.form_fields(browser.go("GET", "/staff/login")[2])
        fields.update(email=EMAIL, password=PASSWORD)
        assert browser.go("POST", "/staff/login", fields)[0] in (302, 303)
        worker = server.workers()[0]
        lifetime = bench.memory_kb(worker, "VmHWM") / 1024
        Path(f"/proc/{worker}/clear_refs").write_text("5")
        at_start = bench.memory_kb(worker, "VmRSS") / 1024
        start = time.perf_counter()
        conn = HTTPConnection("127.0.0.1", server.port, timeout=1800)
        conn.request("GET", "/staff/leads/export.csv?status=all&spam=include",
                     headers={"Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())})
        response = conn.getresponse()
        size = lines = 0
        while piece := response.read(1 << 16):  # read and thrown away, as a download would
            size += len(piece)
            lines += piece.count(b"\n")  # one per row (a "\r\n" can straddle two reads)
        conn.close()
        seconds = time.perf_counter() - start
        peak = bench.memory_kb(worker, "VmHWM") / 1024
        browser.close()
    print(f"{dialect}: {total:,} leads in the database; one gunicorn worker")
    print(f"HTTP {response.status}: {lines - 1:,} rows, {size / 1e6:.1f} MB of CSV in {seconds:.1f} s")
    print(f"worker RSS when the export began: {at_start:.1f} MB; peak RSS during the export: {peak:.1f} MB")
    print(f"worker peak before the export (start-up and sign-in, argon2 takes 64 MiB): {lifetime:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gunicorn", action="store_true", help="serve the export from one gunicorn worker")
    if parser.parse_args().gunicorn:
        return in_gunicorn()
    os.environ.setdefault("RATELIMIT_ENABLED", "false")
    app = create_app()
    dialect, total = add_admin(app)
    client = app.test_client()
    page = client.get("/staff/login")
    signed = client.post("/staff/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_token(page)})
    assert signed.status_code in (302, 303)
    before = peak_mb()
    reset_peak()
    at_start = status_mb("VmRSS")
    start = time.perf_counter()
    response = client.get("/staff/leads/export.csv?status=all&spam=include", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    size = lines = 0
    for piece in response.response:
        data = piece if isinstance(piece, bytes) else piece.encode()
        size += len(data)
        lines += data.count(b"\r\n")
    response.close()
    seconds = time.perf_counter() - start
    print(f"{dialect}: {total:,} leads in the database")
    print(f"exported {lines - 1:,} rows, {size / 1e6:.1f} MB of CSV in {seconds:.1f} s")
    print(f"RSS when the export began: {at_start:.1f} MB; peak RSS during the export: {status_mb('VmHWM'):.1f} MB")
    print(f"peak before the export (start-up and sign-in, argon2 takes 64 MiB): {before:.1f} MB")


if __name__ == "__main__":
    main()
