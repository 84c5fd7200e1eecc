"""Peak memory while exporting every demo lead as CSV: it should stay flat, under 150 MB at a million rows.

    DATABASE_URL=sqlite:////tmp/intake-1m.db flask --app intake setup
    DATABASE_URL=sqlite:////tmp/intake-1m.db flask --app intake demo --leads 1000000
    DATABASE_URL=sqlite:////tmp/intake-1m.db /work/venv/bin/python tests/perf/export_memory.py

An admin signs in through the real form and downloads
/staff/leads/export.csv?status=all&spam=include (every lead) through Flask's
test client without buffering; the body is read piece by piece and thrown
away, as a socket would. Prints rows, megabytes, seconds and the process's
RSS at the start, the peak during the export (VmHWM, reset just before it),
and the peak before it (ru_maxrss: start-up and sign-in). Not collected by pytest.
"""

from __future__ import annotations

import os
import resource
import sys
import time
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


def main() -> None:
    os.environ.setdefault("RATELIMIT_ENABLED", "false")
    app = create_app()
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(Lead))
        if not db.session.scalar(select(StaffUser).where(StaffUser.email == EMAIL)):
            db.session.add(StaffUser(email=EMAIL, name="Export", role="admin",
                                     password_hash=PasswordHasher().hash(PASSWORD)))
            db.session.commit()
        dialect = db.engine.dialect.name
        db.session.remove()
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
