"""How long the public pages and one contact-form round trip take in-process (no HTTP server).

    /work/venv/bin/python tests/perf/public_form_bench.py            # SQLite file in a temp folder
    DATABASE_URL=postgresql+psycopg://... /work/venv/bin/python tests/perf/public_form_bench.py

Builds a fresh database with `flask setup` (SQLite) or uses DATABASE_URL as given
(it must be migrated and seeded), then times N rounds of: GET / , GET an article,
GET /contact + POST /contact (303) + GET the thank-you page. Prints the median and
95th percentile per step. Rate limit and time trap are off; CSRF stays on.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(rounds: int = 300) -> None:
    tmp = tempfile.mkdtemp()
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.db")
    os.environ.update(INTAKE_CONFIG="testing", RATELIMIT_ENABLED="false", INTAKE_MIN_FILL_SECONDS="0",
                      INTAKE_OUTBOX_INPROCESS="false")
    import logging

    from intake import create_app
    from tests.helpers import field_value

    app = create_app()
    logging.getLogger().setLevel(logging.WARNING)
    if os.environ["DATABASE_URL"].startswith(f"sqlite:///{tmp}"):
        with app.app_context():
            result = app.test_cli_runner().invoke(args=["setup"])
            assert result.exit_code == 0, result.output
    client = app.test_client()
    slug = client.get("/").get_data(as_text=True).split('href="/articles/', 1)[1].split('"', 1)[0]
    steps: dict[str, list[float]] = {"GET /": [], "GET article": [], "GET /contact": [], "POST /contact": [],
                                     "GET thanks": []}

    def timed(name, fn):
        start = time.perf_counter()
        response = fn()
        steps[name].append((time.perf_counter() - start) * 1000)
        return response

    for n in range(rounds):
        timed("GET /", lambda: client.get("/"))
        timed("GET article", lambda: client.get(f"/articles/{slug}"))
        page = timed("GET /contact", lambda: client.get("/contact"))
        data = {"csrf_token": field_value(page, "csrf_token"), "form_token": field_value(page, "form_token"),
                "first_name": "Bench", "email": f"bench{n}@example.com", "zip_code": "20814", "consent": "y",
                "message": "Timing the form."}
        sent = timed("POST /contact", lambda: client.post("/contact", data=data))
        assert sent.status_code == 303, sent.status_code
        timed("GET thanks", lambda: client.get(sent.headers["Location"]))

    db = os.environ["DATABASE_URL"].split(":", 1)[0]
    print(f"{rounds} rounds, {db}, in-process test client (ms)")
    for name, values in steps.items():
        values.sort()
        p95 = values[int(len(values) * 0.95) - 1]
        print(f"  {name:<14} median {statistics.median(values):6.2f}   p95 {p95:6.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
