"""Gunicorn settings for Intake: `gunicorn -c gunicorn.conf.py 'intake:create_app()'`.

Every value can be changed from the environment, so one file serves a laptop,
the benchmark and a production machine:

    INTAKE_BIND        address to listen on            (default 127.0.0.1:8000; $PORT gives 0.0.0.0:$PORT)
    INTAKE_WORKERS     worker processes                (default 2 x CPU cores + 1, at most 9)
    INTAKE_THREADS     threads per worker (gthread)    (default 1)
    INTAKE_TIMEOUT     seconds before a stuck worker is restarted (default 30)
    INTAKE_ACCESS_LOG  file for the access log, "-" for stderr, "" for none (default "-")

The PostgreSQL pool is sized to match unless set: a worker serves INTAKE_THREADS
requests at once, plus the in-process outbox delivery thread, so each worker
keeps INTAKE_THREADS + 1 connections (INTAKE_DB_POOL_SIZE) and may open 2 more
for a burst (INTAKE_DB_MAX_OVERFLOW). Keep
instances x workers x (pool + overflow) + outbox workers under PostgreSQL's
max_connections (100 by default).

With several workers, set PROMETHEUS_MULTIPROC_DIR to a directory the workers
can write (tmpfs is best); it is emptied here at start so /metrics adds up
every worker, and a worker's files are retired when it exits.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


if os.environ.get("INTAKE_BIND"):
    bind = os.environ["INTAKE_BIND"]
elif os.environ.get("PORT"):
    bind = f"0.0.0.0:{os.environ['PORT']}"
else:
    bind = "127.0.0.1:8000"

workers = _int("INTAKE_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 9))
threads = _int("INTAKE_THREADS", 1)
# gthread even with one thread: a sync worker cannot tell the master it is alive
# while it streams one long response, so the CSV export of a million leads
# (a minute or more) was killed at `timeout` and the download cut short. A
# gthread worker's main loop keeps beating while a thread streams. The trade:
# `timeout` now restarts a worker whose loop stalls, not one whose single
# request runs long.
worker_class = "gthread"

# Read by config.py in each worker (preload is off, so workers build the app after this runs).
os.environ.setdefault("INTAKE_DB_POOL_SIZE", str(threads + 1))
os.environ.setdefault("INTAKE_DB_MAX_OVERFLOW", "2")

# Each worker builds its own app and database pool: no connection is shared
# across a fork, and a code reload needs no special care.
preload_app = False

timeout = _int("INTAKE_TIMEOUT", 30)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = _int("INTAKE_MAX_REQUESTS", 5000)
max_requests_jitter = max_requests // 10

# Heartbeat files in memory, not on a disk that may stall.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# The access log holds no query string (%(U)s is the path alone), no referrer
# and no client address: query strings and referrers can carry what a patient
# typed, and a clinic's visitor list is itself private.
accesslog = os.environ.get("INTAKE_ACCESS_LOG", "-") or None
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %(p)s'
errorlog = "-"
loglevel = os.environ.get("INTAKE_LOG_LEVEL", "info")
proc_name = "intake"

# Behind a load balancer, Intake's own ProxyFix (INTAKE_PROXY_HOPS) reads
# X-Forwarded-For; gunicorn need not trust it as well.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server) -> None:
    """Empty the metrics directory before any worker starts."""
    _empty_metrics_dir()


def post_worker_init(worker) -> None:
    """Build routing's ZIP table as the worker starts, so no patient's first inquiry waits for it.

    Not in the master before the fork: the table is small (under 1 MB, read
    from the zipcodes package in a child process, see intake/routing.py), and
    the master imports nothing of Intake, so a HUP still reloads all of it.
    """
    try:
        from intake import routing

        routing.zip_table()
    except Exception:  # routing builds it on first use if this fails
        worker.log.exception("could not build the ZIP table at start")


def _empty_metrics_dir() -> None:
    """Start every run with an empty metrics directory (stale files would add up forever)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def child_exit(server, worker) -> None:
    """Retire a dead worker's live gauges in prometheus-client's multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
