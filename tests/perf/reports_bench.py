"""How long the reports page's numbers take at a million leads, on SQLite and PostgreSQL.

    .venv/bin/python tests/perf/reports_bench.py --db sqlite
    .venv/bin/python tests/perf/reports_bench.py --db postgresql \
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/intake_admin_bench

Builds (or reuses, when it already holds ``--leads`` rows) a migrated database
of leads spread evenly over two years across the six offices, inserted in the
order they arrived (as production rows are), with realistic
shares of spam, first contacts, statuses, articles and campaigns, then times
``reports.build`` (every query the page runs) for: the default 12 weeks for
all offices (an admin), 12 weeks for one office (front desk), and the whole
two years for all offices (the worst a manager can ask). Each case runs
``--repeat`` times after one warm-up; the best and the median wall time are
printed, and the best CPU time of this process (for SQLite that is the query
work itself, a fair figure when other jobs load the machine).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

ARTICLES = ["ketamine-for-ptsd", "what-an-infusion-visit-is-like", "how-ketamine-differs", "cost-and-insurance",
            None, None]
CAMPAIGNS = ["spring-depression", "ptsd-veterans", "retargeting", "newsletter", None, None, None]
STATUSES = ["new", "contacting", "consult_scheduled", "became_patient", "closed", "closed"]
END = datetime(2026, 11, 27, tzinfo=timezone.utc)

# The same mix as the Python filler below, in one statement: PostgreSQL builds it in seconds.
PG_FILL = """
INSERT INTO lead (reference, location_id, status, is_open, urgent, spam, priority, first_name, last_name,
    contact_method, help_with, message, sms_consent, consent_text, consent_version, source_path, routing_reason,
    has_duplicate, repeat_count, failed_attempts, version, created_at, updated_at, last_inquiry_at,
    first_contact_at, source_article, utm_campaign)
SELECT lpad(g::text, 9, '0'), (:ids)[1 + floor(random() * cardinality(CAST(:ids AS int[])))::int],
    st, st IN ('new', 'contacting', 'consult_scheduled'), false, spam, 2, 'Demo', '', 'phone', '', '', false,
    '', '', '/contact', '', false, 0, 0, 1, created, created, created,
    CASE WHEN contacted THEN created + make_interval(secs => -ln(1 - random()) * 5 * 3600) END,
    (ARRAY['ketamine-for-ptsd', 'what-an-infusion-visit-is-like', 'how-ketamine-differs',
           'cost-and-insurance', NULL, NULL])[1 + floor(random() * 6)::int],
    (ARRAY['spring-depression', 'ptsd-veterans', 'retargeting', 'newsletter', NULL, NULL, NULL])
        [1 + floor(random() * 7)::int]
FROM (
    SELECT g, created, spam, contacted,
        CASE WHEN contacted THEN (ARRAY['new', 'contacting', 'consult_scheduled', 'became_patient', 'closed',
            'closed'])[1 + floor(random() * 6)::int] ELSE 'new' END AS st
    FROM (
        SELECT g, created, spam, NOT spam AND random() < 0.85 AS contacted
        FROM (SELECT g, CAST(:end AS timestamptz) - make_interval(secs => random() * 2 * 365 * 86400) AS created,
                     random() < 0.06 AS spam
              FROM generate_series(:have + 1, :n) AS g) AS a
    ) AS b
) AS c
ORDER BY created
"""


def build_app(url: str):
    os.environ["DATABASE_URL"] = url
    os.environ["INTAKE_CONFIG"] = "development"
    from intake import create_app

    return create_app()


def fill(app, n: int) -> float:
    """Insert ``n`` leads in batches; returns seconds taken."""
    from flask_migrate import upgrade

    from intake.extensions import db
    from intake.models import Lead, Location
    from intake.seed import seed_locations

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        seed_locations(db.session)
        db.session.commit()
        have = db.session.scalar(select(func.count(Lead.id)))
        if have >= n:
            return 0.0
        ids = list(db.session.scalars(select(Location.id)))
        if db.engine.dialect.name == "postgresql":
            started = time.perf_counter()
            db.session.execute(text(PG_FILL), {"have": have, "n": n, "end": END, "ids": ids})
            db.session.commit()
            db.session.execute(text("ANALYZE lead"))
            db.session.commit()
            return time.perf_counter() - started
        rng = random.Random(7)
        span = 2 * 365 * 24 * 3600
        started = time.perf_counter()
        batch = []
        # Leads arrive in time order, so rows of one period sit together on disk, as in production.
        offsets = sorted((rng.random() * span for _ in range(n - have)), reverse=True)
        for i, offset in zip(range(have, n), offsets):
            created = END - timedelta(seconds=offset)
            spam = rng.random() < 0.06
            contacted = not spam and rng.random() < 0.85
            status = rng.choice(STATUSES) if contacted else "new"
            batch.append({
                "reference": f"{i:09d}"[-9:], "location_id": rng.choice(ids), "status": status,
                "is_open": status in ("new", "contacting", "consult_scheduled"), "spam": spam, "first_name": "Demo",
                "created_at": created, "updated_at": created, "last_inquiry_at": created,
                "first_contact_at": created + timedelta(hours=rng.expovariate(1 / 5)) if contacted else None,
                "source_article": rng.choice(ARTICLES), "utm_campaign": rng.choice(CAMPAIGNS),
            })
            if len(batch) == 20000:
                db.session.execute(insert(Lead), batch)
                db.session.commit()
                batch = []
        if batch:
            db.session.execute(insert(Lead), batch)
            db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE lead"))
        else:
            db.session.execute(text("ANALYZE"))
        db.session.commit()
        return time.perf_counter() - started


def build_rollup(app) -> float:
    """Count the rollup from the lead table; returns seconds taken."""
    from intake import rollups
    from intake.extensions import db

    with app.app_context():
        started = time.perf_counter()
        rollups.rebuild(db.session)
        db.session.commit()
        return time.perf_counter() - started


def change_one_lead(app) -> None:
    """Move a lead of 30 days ago to another status through the ORM, as a staff action does."""
    from intake.extensions import db
    from intake.models import Lead

    with app.app_context():
        lead = db.session.scalar(select(Lead).where(Lead.created_at >= END - timedelta(days=30)).limit(1))
        lead.status = "became_patient" if lead.status != "became_patient" else "closed"
        db.session.commit()


def measure(app, repeat: int) -> list[tuple[str, float, float]]:
    from intake import reports
    from intake.extensions import db
    from intake.models import Location

    with app.app_context():
        one = db.session.scalar(select(Location.id).where(Location.slug == "bethesda-md"))
        # The page passes every office's id for "all offices", so the (location_id, created_at) index applies.
        every = list(db.session.scalars(select(Location.id)))
        today = END.date()
        start, end = reports.default_period(today)
        cases = [
            ("12 weeks, all offices", reports.ReportFilter(start, end, every)),
            ("12 weeks, one office", reports.ReportFilter(start, end, [one])),
            ("2 years, all offices", reports.ReportFilter(today - timedelta(days=730), today, every)),
        ]
        out = []
        for name, f in cases:
            reports.build(db.session, f, sla_hours=4, now=END)  # warm-up
            times, cpu = [], []
            for _ in range(repeat):
                t, c = time.perf_counter(), time.process_time()
                report = reports.build(db.session, f, sla_hours=4, now=END)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            out.append((f"{name} ({report.summary.total:,} leads)", min(times), statistics.median(times), min(cpu)))
        f = cases[-1][1]
        times, cpu = [], []
        for _ in range(repeat):
            db.session.commit()
            change_one_lead(app)
            t, c = time.perf_counter(), time.process_time()
            reports.build(db.session, f, sla_hours=4, now=END)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        out.append(("2 years, all offices, after one lead changed", min(times), statistics.median(times), min(cpu)))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/intake_admin_bench")
    parser.add_argument("--sqlite-path", default=str(ROOT / "tests" / "perf" / "results" / "reports-1m.sqlite"))
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = args.pg_url if args.db == "postgresql" else f"sqlite:///{args.sqlite_path}"
    Path(args.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
    app = build_app(url)
    seconds = fill(app, args.leads)
    print(f"{args.db}: {args.leads:,} leads ({'built in %.0f s' % seconds if seconds else 'reused'}); "
          f"reports.build, best and median of {args.repeat}, {date.today()}")
    print(f"  rollup counted from scratch in {build_rollup(app):.1f} s")
    print(f"  load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    for name, best, median, cpu in measure(app, args.repeat):
        print(f"  {name:45} best {best * 1000:7.0f} ms   median {median * 1000:7.0f} ms   "
              f"this process's CPU {cpu * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
