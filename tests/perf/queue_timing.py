"""How long the queue, a lead page and a search take on a database full of demo leads.

    DATABASE_URL=sqlite:////tmp/intake-1m.db flask --app intake setup
    DATABASE_URL=sqlite:////tmp/intake-1m.db flask --app intake demo --leads 1000000
    DATABASE_URL=sqlite:////tmp/intake-1m.db /work/venv/bin/python tests/perf/queue_timing.py

It signs in through the real form (an admin who sees every office, and a
front-desk user of one office), then times each request in-process with
Flask's test client: the server's work without a network, median of
``--runs`` after one warm-up. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from argon2 import PasswordHasher  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from intake import create_app  # noqa: E402
from intake.extensions import db  # noqa: E402
from intake.models import Lead, Location, StaffUser  # noqa: E402
from tests.helpers import csrf_token  # noqa: E402

PASSWORD = "queue timing password 2026"


def ensure_user(email: str, role: str, office: str | None) -> None:
    if db.session.scalar(select(StaffUser).where(StaffUser.email == email)):
        return
    user = StaffUser(email=email, name=email.split("@")[0], role=role, password_hash=PasswordHasher().hash(PASSWORD))
    if office:
        user.locations.append(db.session.scalar(select(Location).where(Location.slug == office)))
    db.session.add(user)
    db.session.commit()


def timed(client, method: str, url: str, runs: int, **kw) -> tuple[float, int]:
    """Median milliseconds over ``runs`` after one warm-up, and the last status code."""
    getattr(client, method)(url, **kw)
    samples, status = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        response = getattr(client, method)(url, **kw)
        response.get_data()
        samples.append((time.perf_counter() - start) * 1000)
        status = response.status_code
    return statistics.median(samples), status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--office", default="bethesda-md")
    args = parser.parse_args()
    os.environ.setdefault("RATELIMIT_ENABLED", "false")
    app = create_app()
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(Lead))
        ensure_user("timing-admin@example.org", "admin", None)
        ensure_user("timing-desk@example.org", "staff", args.office)
        office_id = db.session.scalar(select(Location.id).where(Location.slug == args.office))
        sample = db.session.execute(select(Lead.id, Lead.reference, Lead.phone, Lead.last_name)
                                    .where(Lead.location_id == office_id, Lead.phone.is_not(None))
                                    .order_by(Lead.id.desc()).limit(1)).one()
        dialect = db.engine.dialect.name
    print(f"{dialect}: {total:,} leads; median of {args.runs} runs, milliseconds")
    phone = sample.phone  # +1AAA555NNNN, searched as (AAA) 555-NNNN
    spoken = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    for email in ("timing-admin@example.org", "timing-desk@example.org"):
        client = app.test_client()
        page = client.get("/staff/login")
        response = client.post("/staff/login", data={"email": email, "password": PASSWORD,
                                                     "csrf_token": csrf_token(page)})
        assert response.status_code in (302, 303), response.status_code
        queue_html = client.get("/staff/leads").get_data(as_text=True)
        token = csrf_token(queue_html)
        next_url = re.search(r'href="([^"]+)" rel="next"', queue_html)
        rows = [
            ("queue, first page", "get", "/staff/leads", {}),
            ("queue, next page", "get", next_url.group(1).replace("&amp;", "&") if next_url else "/staff/leads", {}),
            ("queue, status=contacting", "get", "/staff/leads?status=contacting", {}),
            ("queue, closed, one source", "get", "/staff/leads?status=closed&source=contact", {}),
            ("lead page", "get", f"/staff/leads/{sample.id}", {}),
        ]
        print(f"\n{email.split('@')[0]}")
        for label, method, url, kw in rows:
            ms, status = timed(client, method, url, args.runs, **kw)
            print(f"  {label:<34} {ms:8.1f}  ({status})")
        for label, text in [("search: reference", sample.reference.lower()), ("search: phone", spoken),
                            ("search: last name", sample.last_name[:5])]:
            client.post("/staff/leads/search", data={"q": text, "csrf_token": token})
            ms, status = timed(client, "get", "/staff/leads", args.runs)
            print(f"  {label:<34} {ms:8.1f}  ({status})")
        client.post("/staff/leads/search", data={"clear": "1", "csrf_token": token})


if __name__ == "__main__":
    main()
