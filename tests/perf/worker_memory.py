"""A gunicorn worker's memory: right after start, and after 10,000 mixed requests (target: RSS under 120 MB).

    /work/venv/bin/python tests/perf/worker_memory.py                     # fresh SQLite, 10,000 demo leads
    /work/venv/bin/python tests/perf/worker_memory.py --db postgresql     # database intake_bench_memory
    /work/venv/bin/python tests/perf/worker_memory.py --requests 20000 --contact 500

Starts Intake as in production (gunicorn.conf.py, INTAKE_CONFIG=production,
one worker so every request lands on it, max_requests off), then sends the
mixed load the benchmark sends (article, index, contact page, locations, the
staff queue, a lead page, a search), plus ``--contact`` patient form
submissions (each routed by ZIP) before it, and prints the worker's RSS and
PSS at each stage and in halves, so growth between the halves (a leak) shows.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.perf import bench  # noqa: E402


def sample(server: bench.Server) -> str:
    worker = server.workers()[0]
    return (f"RSS {bench.memory_kb(worker, 'VmRSS') / 1024:6.1f} MB, PSS {bench.pss_kb(worker) / 1024:6.1f} MB, "
            f"master RSS {bench.memory_kb(server.proc.pid, 'VmRSS') / 1024:5.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=10_000, help="mixed GETs, in two halves")
    parser.add_argument("--contact", type=int, default=200, help="patient form submissions first")
    args = parser.parse_args()

    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    log = bench.RESULTS / "worker-memory.log"
    url = bench.database_url(args.db, "intake_bench_memory" if args.db == "postgresql" else "bench-memory",
                             fresh=True)
    with bench.SmtpSink() as sink:
        env = bench.app_env(url, sink.port)
        bench.prepare(env, args.leads)
        with bench.Server("intake:create_app()", env, 1, "/healthz", log) as server:
            print(f"{args.db}, {bench.lead_count(url):,} leads, one gunicorn worker")
            print(f"  after start (create_app, one /healthz):      {sample(server)}")
            article = bench.first_article_path(server.port)
            if args.contact:
                result = bench.load(server.port, "contact", article, users=2, count=args.contact)
                print(f"  after {result['n']:,} form submissions ({result['errors']} errors): {sample(server)}")
            paths = [article, "/", "/contact", "/locations", *sum(bench.staff_paths(url).values(), [])]
            half = args.requests // 2
            for part in (1, 2):
                result = bench.load(server.port, "staff", paths, users=4, count=half, signed_in=True)
                print(f"  after {part * half:,} mixed requests ({result['errors']} errors): {sample(server)}")


if __name__ == "__main__":
    main()
