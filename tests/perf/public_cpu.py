"""CPU per public request, in-process, against the bare reference app: the issue #6 ratios without gunicorn.

    .venv/bin/python tests/perf/public_cpu.py            # 300 rounds
    .venv/bin/python tests/perf/public_cpu.py 500 --profile article   # also print a cProfile of one step

Not collected by pytest (the name does not start with ``test_``). Builds a fresh
SQLite file with ``flask setup`` in a temp folder, runs Intake as the benchmark
does (INTAKE_CONFIG=production, RATELIMIT_ENABLED=false,
INTAKE_MIN_FILL_SECONDS=0, outbox left to a worker) through the test client
over http, and the bare app (tests/perf/bare_app.py) on its own SQLite file
with a page padded to the article's size. It reports CPU milliseconds
(time.process_time, the quickest of many batches) per:

- article GET, and the bare GET /page;
- contact pair (GET the article, POST its form with its tokens: 303), and the
  bare GET /form + POST /rows pair;

and the ratios bare/Intake, which are what the benchmark's requests/s ratios
approach when the CPU is the limit (targets: article >= 0.8, pair >= 0.6).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BATCH = 20


def cpu_ms_per_call(fns: dict, rounds: int) -> dict:
    """The least CPU ms per call of each function over batches of BATCH calls.

    The functions take turns batch by batch, so a slow spell of the machine
    weighs on all of them alike. Other processes only ever add to a batch's
    CPU time (shared caches, a busy sibling core), so the quickest batch is
    the truest cost, as timeit's documentation recommends.
    """
    per_batch: dict = {name: [] for name in fns}
    for _ in range(max(1, rounds // BATCH)):
        for name, fn in fns.items():
            start = time.process_time()
            for _ in range(BATCH):
                fn()
            per_batch[name].append((time.process_time() - start) * 1000 / BATCH)
    return {name: min(values) for name, values in per_batch.items()}


def intake_client(tmp: str):
    os.environ.update(
        INTAKE_CONFIG="production", DATABASE_URL=f"sqlite:///{tmp}/intake.db", SECRET_KEY="b" * 48,
        RATELIMIT_ENABLED="false", INTAKE_MIN_FILL_SECONDS="0", INTAKE_OUTBOX_INPROCESS="false",
    )
    import logging

    from intake import create_app

    app = create_app()
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["setup"])
    assert result.exit_code == 0, result.output
    # Plain http as in the benchmark; the test client sends the Secure cookies back regardless.
    client = app.test_client()
    return app, client


def bare_client(tmp: str, page_bytes: int):
    os.environ["DATABASE_URL"] = url = f"sqlite:///{tmp}/bare.db"
    os.environ["BARE_PAGE_BYTES"] = str(page_bytes)
    from tests.perf import bare_app

    bare_app.create_table(url)
    return bare_app.create_app().test_client()


def form_fields(html: str) -> dict:
    from tests.perf.bench import form_fields as fields

    return fields(html)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("rounds", nargs="?", type=int, default=300)
    parser.add_argument("--profile", choices=["article", "pair"], help="print a cProfile of this step instead")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key for --profile (cumulative, tottime)")
    parser.add_argument("--lines", type=int, default=45, help="rows of --profile to print")
    parser.add_argument("--only", default="", help="regex: print only profile rows whose function matches")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp()
    app, client = intake_client(tmp)
    index = client.get("/").get_data(as_text=True)
    article = re.search(r'href="(/articles/[^"]+)"', index)[1]
    size = len(client.get(article).get_data())
    counter = iter(range(10**9))

    def intake_get():
        response = client.get(article)
        assert response.status_code == 200, response.status_code

    def intake_pair():
        client._cookies.clear()  # each pair is a new visitor, as in the benchmark
        page = client.get(article)
        fields = form_fields(page.get_data(as_text=True))
        fields.update(first_name="Bench", last_name="Patient", email=f"cpu-{next(counter)}@example.com", phone="",
                      zip_code="20814", location="", contact_method="email",
                      message="A benchmark inquiry, nothing more.", consent="y", website="")
        sent = client.post(article, data=fields)
        assert sent.status_code == 303, sent.status_code

    bare = bare_client(tmp, size)

    def bare_get():
        assert bare.get("/page").status_code == 200

    def bare_pair():
        html = bare.get("/form").get_data(as_text=True)
        token = re.search(r'name="token" value="([^"]+)"', html)[1]
        sent = bare.post("/rows", data={"token": token, "first_name": "Bench",
                                        "email": f"bare-{next(counter)}@example.com", "message": "bare"})
        assert sent.status_code == 303

    for fn in (intake_get, intake_pair, bare_get, bare_pair):  # warm caches and pools
        for _ in range(BATCH):
            fn()

    if args.profile:
        fn = {"article": intake_get, "pair": intake_pair}[args.profile]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.rounds):
            fn()
        profiler.disable()
        restrictions = [args.only, args.lines] if args.only else [args.lines]
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(*restrictions)
        return

    results = cpu_ms_per_call({"article GET": intake_get, "bare GET /page": bare_get,
                               "contact pair": intake_pair, "bare pair": bare_pair}, args.rounds)
    print(f"{args.rounds} rounds, SQLite, in-process test client, CPU ms per request (article page {size} bytes)")
    for name, value in results.items():
        print(f"  {name:<16} {value:7.2f} ms")
    print(f"  article ratio    {results['bare GET /page'] / results['article GET']:.2f}  (target >= 0.8)")
    print(f"  pair ratio       {results['bare pair'] / results['contact pair']:.2f}  (target >= 0.6)")


if __name__ == "__main__":
    main()
