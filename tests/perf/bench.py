"""Intake's benchmark: Intake under gunicorn as in production, against a bare Flask app.

    /work/venv/bin/python tests/perf/bench.py --db both         # or sqlite / postgresql
    /work/venv/bin/python tests/perf/bench.py --db sqlite --big 200000 --seconds 5   # a quicker look

Everything runs on 127.0.0.1. For each database it:

1. builds a fresh database of ``--small`` (10,000) demo leads, starts Intake
   (INTAKE_CONFIG=production, RATELIMIT_ENABLED=false, INTAKE_MIN_FILL_SECONDS=0,
   INTAKE_OUTBOX_INPROCESS=false, one ``flask outbox work`` process and a local
   aiosmtpd sink) and the bare app (tests/perf/bare_app.py), both with
   gunicorn.conf.py and the same worker count;
2. measures article GETs against the bare page, contact-form GET+POST pairs
   (each virtual user with its own cookies and tokens; afterwards every 303
   must have left exactly one lead) against the bare GET+insert pair, the
   queue / a lead page / a search against the bare "50 rows and a count",
   10,000 mixed requests and the workers' RSS after them, and the outbox
   delivering to the sink with one worker;
3. builds (or reuses: tests/perf/results/bench-1m.sqlite, database
   intake_bench_1m) a database of ``--big`` (1,000,000) leads with
   ``flask demo``, timed, and measures the queue, lead page and search there,
   and the CSV export of every lead (seconds, the worker's peak RSS).

It prints one table and writes it (Markdown, with the date and the machine)
to tests/perf/results/bench-<date>.md plus the raw numbers as JSON.

The load client is plain Python (processes x threads, http.client). It keeps
cookies itself and ignores the Secure flag that production sets, since the
benchmark speaks http to 127.0.0.1; nothing in Intake is loosened for it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from html import unescape
from http.client import HTTPConnection, HTTPException
from http.cookies import SimpleCookie
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.perf.bare_app import create_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "perf" / "results"
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ADMIN_EMAIL = "bench-admin@example.org"
ADMIN_PASSWORD = "bench password that is long enough 42"


# ---- processes ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def flask(env: dict, *args: str, stdin: str | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "flask"), "--app", "intake", *args], env=env, cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


class Server:
    """A gunicorn master with gunicorn.conf.py, stopped on exit."""

    def __init__(self, app_spec: str, env: dict, workers: int, health: str, log: Path):
        self.port = free_port()
        self.env = dict(env, INTAKE_BIND=f"127.0.0.1:{self.port}", INTAKE_WORKERS=str(workers),
                        INTAKE_MAX_REQUESTS="0", INTAKE_ACCESS_LOG="")
        self.app_spec, self.health, self.log = app_spec, health, log

    def __enter__(self):
        self.logfile = open(self.log, "ab")
        self.proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", self.app_spec], env=self.env,
                                     cwd=ROOT, stdout=self.logfile, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app_spec} exited; see {self.log}")
            try:
                status, _, _ = request("GET", self.port, self.health)
                if status == 200 and len(self.workers()) >= int(self.env["INTAKE_WORKERS"]):
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn {self.app_spec} did not answer; see {self.log}")

    def workers(self) -> list[int]:
        return children(self.proc.pid)

    def __exit__(self, *exc):
        stop(self.proc)
        self.logfile.close()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (the ZIP table loaded before the fork) split among sharers."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class SmtpSink:
    """aiosmtpd on a free port, counting what it accepts."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
        self.port = free_port()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
        return "250 OK"

    def __enter__(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


# ---- HTTP ------------------------------------------------------------------------

def request(method: str, port: int, path: str, body: bytes | None = None, headers: dict | None = None,
            conn: HTTPConnection | None = None):
    """One request; returns (status, headers as a list, body)."""
    own = conn is None
    conn = conn or HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, response.getheaders(), data
    finally:
        if own:
            conn.close()


class Browser:
    """One virtual user: its own cookies (Secure or not), one connection."""

    def __init__(self, port: int, headers: dict | None = None):
        self.port = port
        self.headers = headers or {}
        self.cookies: dict[str, str] = {}
        self.conn = HTTPConnection("127.0.0.1", port, timeout=120)

    def go(self, method: str, path: str, form: dict | None = None):
        headers = dict(self.headers)
        body = None
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body = urllib.parse.urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            status, head, data = request(method, self.port, path, body, headers, self.conn)
        except (OSError, HTTPException):  # the server closed the connection: reconnect once
            self.conn.close()
            self.conn = HTTPConnection("127.0.0.1", self.port, timeout=120)
            status, head, data = request(method, self.port, path, body, headers, self.conn)
        for name, value in head:
            if name.lower() == "set-cookie":
                for key, morsel in SimpleCookie(value).items():
                    if morsel["max-age"] == "0" or (morsel["expires"] and "1970" in morsel["expires"]):
                        self.cookies.pop(key, None)
                    else:
                        self.cookies[key] = morsel.value
        return status, dict((k.lower(), v) for k, v in head), data.decode("utf-8", "replace")

    def close(self):
        self.conn.close()


def form_fields(html: str, marker: str = "csrf_token") -> dict:
    """Every named control of the form that holds ``marker``, with its current value."""
    for form in re.findall(r"<form\b.*?</form>", html, re.S):
        if marker in form:
            fields = {}
            for tag in re.findall(r"<input\b[^>]*>", form):
                name = re.search(r'\bname="([^"]+)"', tag)
                if not name:
                    continue
                kind = (re.search(r'\btype="([^"]+)"', tag) or [None, "text"])[1]
                value = re.search(r'\bvalue="([^"]*)"', tag)
                if kind in ("checkbox", "radio", "submit"):
                    continue
                fields[name[1]] = unescape(value[1]) if value else ""
            return fields
    raise AssertionError(f"no form holding {marker} on the page")


def login(browser: Browser) -> None:
    status, _, html = browser.go("GET", "/staff/login")
    fields = form_fields(html)
    fields.update(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    status, _, _ = browser.go("POST", "/staff/login", fields)
    if status not in (302, 303):
        raise RuntimeError(f"benchmark admin could not sign in ({status})")


# ---- load ------------------------------------------------------------------------
# A task is a function (browser, n) -> (ok, note) run repeatedly by every virtual user.

def task_get(browser: Browser, n: int, path: str):
    status, _, _ = browser.go("GET", path)
    return status == 200, None


def task_contact(browser: Browser, n: int, arg):
    """A patient: GET the page with the form, fill it in, POST it; a 303 names the email used."""
    path, prefix = arg if isinstance(arg, tuple) else (arg, "bench")
    browser.cookies.clear()
    status, _, html = browser.go("GET", path)
    if status != 200:
        return False, None
    fields = form_fields(html)
    email = f"{prefix}-{os.getpid()}-{threading.get_ident()}-{n}-{secrets.token_hex(3)}@example.com"
    fields.update(first_name="Bench", last_name="Patient", email=email, phone="", zip_code="20814",
                  location="", contact_method="email", message="A benchmark inquiry, nothing more.",
                  consent="y", website="")
    status, headers, _ = browser.go("POST", path, fields)
    return status == 303, email if status == 303 else None


def task_bare_pair(browser: Browser, n: int, path: str):
    browser.cookies.clear()
    status, _, html = browser.go("GET", "/form")
    token = re.search(r'name="token" value="([^"]+)"', html)[1]
    status, _, _ = browser.go("POST", "/rows", {"token": token, "first_name": "Bench",
                                                "email": f"bare-{n}@example.com", "message": "bare"})
    return status == 303, None


def task_staff(browser: Browser, n: int, paths: list[str]):
    status, _, _ = browser.go("GET", paths[n % len(paths)])
    return status == 200, None


TASKS = {"get": task_get, "contact": task_contact, "bare_pair": task_bare_pair, "staff": task_staff}


def _user(port, task, arg, deadline, count, signed_in, out, lock):
    browser = Browser(port)
    if signed_in:
        login(browser)
    times, notes, errors, n = [], [], 0, 0
    while (count is None and time.monotonic() < deadline) or (count is not None and n < count):
        started = time.perf_counter()
        try:
            ok, note = TASKS[task](browser, n, arg)
        except Exception:  # a failed request counts as an error, not a crash
            ok, note = False, None
            browser.close()
            browser = Browser(port)
            if signed_in:
                login(browser)
        times.append(time.perf_counter() - started)
        errors += not ok
        if note:
            notes.append(note)
        n += 1
    browser.close()
    with lock:
        out.append((times, notes, errors))


def _process(port, task, arg, threads, seconds, count, signed_in, queue):
    out, lock = [], threading.Lock()
    deadline = time.monotonic() + seconds if seconds else None
    per_thread = None if count is None else max(1, count // threads)
    pool = [threading.Thread(target=_user, args=(port, task, arg, deadline, per_thread, signed_in, out, lock))
            for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    queue.put(out)


def load(port: int, task: str, arg, *, users: int, seconds: float | None = None, count: int | None = None,
         signed_in: bool = False) -> dict:
    """Run ``users`` virtual users (2 processes x threads) for ``seconds`` or ``count`` iterations in all."""
    processes = 2 if users >= 2 else 1
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    per_process_count = None if count is None else count // processes
    procs = [ctx.Process(target=_process, args=(port, task, arg, users // processes, seconds, per_process_count,
                                                signed_in, queue)) for _ in range(processes)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get(timeout=3600) for _ in procs]
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    times, notes, errors = [], [], 0
    for out in results:
        for t, n, e in out:
            times.extend(t)
            notes.extend(n)
            errors += e
    times.sort()
    return {"n": len(times), "errors": errors, "rate": len(times) / elapsed if elapsed else 0.0,
            "p50_ms": 1000 * percentile(times, 50), "p95_ms": 1000 * percentile(times, 95), "notes": notes,
            "seconds": elapsed}


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


# ---- databases -------------------------------------------------------------------

def database_url(kind: str, name: str, fresh: bool) -> str:
    if kind == "sqlite":
        path = RESULTS / f"{name}.sqlite"
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if exists and fresh:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            exists = None
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def lead_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM lead")).scalar()
    except Exception:
        return 0
    finally:
        engine.dispose()


def prepare(env: dict, leads: int) -> float | None:
    """Migrate, seed, add the benchmark admin and ``leads`` demo leads; returns the demo's seconds.

    These run as INTAKE_CONFIG=development on the same database: `flask demo`
    rightly refuses a production configuration.
    """
    env = dict(env, INTAKE_CONFIG="development")
    for args in (("setup",),):
        result = flask(env, *args)
        if result.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    result = flask(env, "users", "create", ADMIN_EMAIL, "--role", "admin",
                   stdin=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n")
    if result.returncode and "exist" not in (result.stdout + result.stderr).lower():
        print(f"  ! users create failed: {result.stderr.strip()[-300:]}")
    started = time.perf_counter()
    result = flask(env, "demo", "--leads", str(leads), timeout=3600)
    seconds = time.perf_counter() - started
    if result.returncode:
        print(f"  ! flask demo failed: {(result.stderr or result.stdout).strip()[-300:]}")
        return None
    return seconds


def sample_ids(url: str) -> tuple[int | None, str | None]:
    """A lead from the middle of the table and its reference, for the lead page and search."""
    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id, reference FROM lead ORDER BY id LIMIT 1 OFFSET "
                                "(SELECT count(*) / 2 FROM lead)")).first()
    engine.dispose()
    return (row[0], row[1]) if row else (None, None)


def app_env(url: str, sink_port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "RATELIMIT_", "MAIL_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(INTAKE_CONFIG="production", SECRET_KEY=secrets.token_hex(32), DATABASE_URL=url,
               RATELIMIT_ENABLED="false", INTAKE_MIN_FILL_SECONDS="0", INTAKE_OUTBOX_INPROCESS="false",
               MAIL_SERVER="127.0.0.1", MAIL_PORT=str(sink_port), MAIL_USE_TLS="false", MAIL_USE_SSL="false",
               INTAKE_BASE_URL="http://127.0.0.1", FLASK_APP="intake", INTAKE_DB_POOL_SIZE="2",
               INTAKE_DB_MAX_OVERFLOW="2")
    return env


# ---- the measurements ---------------------------------------------------------------

def staff_paths(url: str) -> dict[str, list[str]]:
    lead_id, reference = sample_ids(url)
    return {"queue": ["/staff/leads"], "lead page": [f"/staff/leads/{lead_id}"],
            "search": [f"/staff/leads?q={urllib.parse.quote(reference or 'XXXX-XXXX')}"]}


def measure_staff(port: int, url: str, requests_each: int) -> dict:
    out = {}
    for name, paths in staff_paths(url).items():
        load(port, "staff", paths, users=2, count=20, signed_in=True)  # warm the caches
        out[name] = load(port, "staff", paths, users=4, count=requests_each, signed_in=True)
    return out


def verify_submissions(url: str, emails: list[str]) -> dict:
    """Every 303 must have left exactly one lead with that email."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT email, count(*) FROM lead WHERE email LIKE 'bench-%' GROUP BY email")).all()
    engine.dispose()
    stored = dict(rows)
    missing = [e for e in emails if stored.get(e, 0) == 0]
    doubled = [e for e, n in stored.items() if n > 1]
    extra = [e for e in stored if e not in set(emails)]
    return {"answered_303": len(emails), "stored": sum(stored.values()), "missing": len(missing),
            "doubled": len(doubled), "unanswered_but_stored": len(extra),
            "ok": not missing and not doubled and len(stored) == len(emails)}


def outbox_backlog(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM outbox_message WHERE status IN ('pending', 'failed', 'sending')"))
        value = n.scalar()
    engine.dispose()
    return value


def measure_outbox(kind: str, messages: int) -> dict:
    """One worker's delivery rate, measured by tests/perf/outbox_rate.py (the outbox's own benchmark)."""
    command = [sys.executable, str(ROOT / "tests" / "perf" / "outbox_rate.py"), "--worker", "--messages", str(messages)]
    if kind == "postgresql":
        command += ["--database-url", database_url(kind, "intake_bench_outbox", fresh=True)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    match = re.search(r"([\d.]+) s, (\d+) messages/s", result.stdout)
    if result.returncode or not match:
        return {"error": (result.stderr or result.stdout).strip()[-200:]}
    return {"messages": messages, "seconds": float(match[1]), "rate": float(match[2])}


def drain(url: str, seconds: float) -> int:
    """Wait (bounded) for the outbox worker to empty the backlog; returns what is left."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and outbox_backlog(url):
        time.sleep(0.2)
    return outbox_backlog(url)


def measure_export(env: dict, url: str, log: Path) -> dict:
    """Download the full CSV export from a fresh one-worker Intake, sampling the worker's memory."""
    with Server("intake:create_app()", env, 1, "/healthz", log) as server:
        browser = Browser(server.port)
        login(browser)
        worker = server.workers()[0]
        # Signing in hashes a password with argon2 (64 MiB, freed at once): reset the high-water
        # mark so the peak below is the export's, not the sign-in's.
        try:
            Path(f"/proc/{worker}/clear_refs").write_text("5")
        except OSError:
            pass
        baseline = memory_kb(worker, "VmRSS")
        peak, done = [baseline], threading.Event()

        def watch():
            while not done.is_set():
                try:
                    peak.append(memory_kb(worker, "VmRSS"))
                except OSError:
                    return
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        started = time.perf_counter()
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())}
        conn = HTTPConnection("127.0.0.1", server.port, timeout=1800)
        conn.request("GET", "/staff/leads/export.csv?status=all", headers=headers)
        response = conn.getresponse()
        lines, size = 0, 0
        while chunk := response.read(1 << 16):
            lines += chunk.count(b"\n")
            size += len(chunk)
        elapsed = time.perf_counter() - started
        done.set()
        watcher.join()
        hwm = memory_kb(worker, "VmHWM")
        conn.close()
        browser.close()
    return {"status": response.status, "rows": max(0, lines - 1), "bytes": size, "seconds": elapsed,
            "baseline_mb": baseline / 1024, "peak_rss_mb": max(max(peak), hwm) / 1024}


def run_database(kind: str, args, log: Path) -> dict:
    """Every measurement on one database."""
    res: dict = {"db": kind}
    workers = args.workers
    print(f"== {kind}: preparing {args.small:,} leads")
    small_url = database_url(kind, "intake_bench_10k" if kind == "postgresql" else "bench-10k", fresh=True)
    with SmtpSink() as sink:
        env = app_env(small_url, sink.port)
        prepare(env, args.small)
        res["small_leads"] = lead_count(small_url)
        create_table(small_url)
        bare_env = dict(env, BARE_PAGE_BYTES=str(article_size(env, log)))
        with Server("intake:create_app()", env, workers, "/healthz", log) as intake, \
                Server("tests.perf.bare_app:create_app()", bare_env, workers, "/page", log) as bare:
            article = first_article_path(intake.port)
            print(f"  article GET {article} vs bare page")
            load(intake.port, "get", article, users=2, count=50)
            load(bare.port, "get", "/page", users=2, count=50)
            res["article"] = load(intake.port, "get", article, users=args.users, seconds=args.seconds)
            res["bare_page"] = load(bare.port, "get", "/page", users=args.users, seconds=args.seconds)
            res["index_304"] = conditional_get(intake.port, "/")

            print("  contact form GET+POST vs bare GET+insert (outbox worker running)")
            worker = subprocess.Popen([str(BIN / "flask"), "--app", "intake", "outbox", "work"], env=env, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                load(intake.port, "contact", (article, "warmup"), users=args.users, count=2 * args.users)  # warm up
                load(bare.port, "bare_pair", None, users=args.users, count=2 * args.users)
                sent_before = sink.count
                res["contact"] = load(intake.port, "contact", article, users=args.users, seconds=args.seconds)
                res["bare_pair"] = load(bare.port, "bare_pair", None, users=args.users, seconds=args.seconds)
                left = drain(small_url, 120)
                res["contact_mail"] = {"delivered": sink.count - sent_before, "left": left}
            finally:
                stop(worker)
            res["contact_check"] = verify_submissions(small_url, res["contact"].pop("notes"))

            print(f"  staff pages at {res['small_leads']:,} leads")
            res["staff_small"] = measure_staff(intake.port, small_url, args.staff_requests)
            res["bare_rows_small"] = load(bare.port, "get", "/rows", users=4, count=args.staff_requests)

            print(f"  {args.mixed:,} mixed requests, then the workers' RSS")
            paths = [article, "/", "/contact", "/locations", *sum(staff_paths(small_url).values(), [])]
            mixed = load(intake.port, "staff", paths, users=args.users, count=args.mixed, signed_in=True)
            res["mixed"] = {"n": mixed["n"], "errors": mixed["errors"], "rate": mixed["rate"]}
            res["worker_rss_mb"] = max(memory_kb(pid, "VmRSS") for pid in intake.workers()) / 1024
            res["worker_pss_mb"] = max(pss_kb(pid) for pid in intake.workers()) / 1024

    print(f"  outbox: {args.messages} messages, one worker (tests/perf/outbox_rate.py)")
    res["outbox"] = measure_outbox(kind, args.messages)

    print(f"== {kind}: {args.big:,} leads")
    name = f"intake_bench_{args.big // 1000}k" if kind == "postgresql" else f"bench-{args.big // 1000}k"
    big_url = database_url(kind, name, fresh=args.rebuild)
    cache = RESULTS / f"{name}-{kind}-demo.json"
    with SmtpSink() as sink:
        env = app_env(big_url, sink.port)
        have = lead_count(big_url)
        if have >= args.big and cache.exists():
            res["demo"] = json.loads(cache.read_text()) | {"reused": True}
            flask(dict(env, INTAKE_CONFIG="development"), "db", "upgrade")
        else:
            if have:
                big_url = database_url(kind, name, fresh=True)
                env = app_env(big_url, sink.port)
            print(f"  flask demo --leads {args.big:,} (timed)")
            seconds = prepare(env, args.big)
            res["demo"] = {"leads": lead_count(big_url), "seconds": seconds, "date": today()}
            if seconds is not None:
                cache.write_text(json.dumps(res["demo"]))
        res["big_leads"] = lead_count(big_url)
        create_table(big_url)
        if kind == "postgresql":
            psql_analyze(big_url)
        with Server("intake:create_app()", env, workers, "/healthz", log) as intake, \
                Server("tests.perf.bare_app:create_app()", env, workers, "/page", log) as bare:
            print(f"  staff pages at {res['big_leads']:,} leads")
            res["staff_big"] = measure_staff(intake.port, big_url, args.staff_requests)
            res["bare_rows_big"] = load(bare.port, "get", "/rows", users=4, count=args.staff_requests)
        print("  CSV export of every lead")
        try:
            res["export"] = measure_export(env, big_url, log)
        except Exception as exc:  # report, keep the rest of the run
            res["export"] = {"error": str(exc)[:200]}
    return res


def psql_analyze(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE lead"))
    engine.dispose()


def article_size(env: dict, log: Path) -> int:
    with Server("intake:create_app()", env, 1, "/healthz", log) as server:
        _, _, body = request("GET", server.port, first_article_path(server.port))
    return len(body)


def first_article_path(port: int) -> str:
    _, _, body = request("GET", port, "/")
    match = re.search(rb'href="(/articles/[^"]+)"', body)
    return match[1].decode() if match else "/contact"


def conditional_get(port: int, path: str) -> dict:
    """Whether a revalidation with the ETag (or Last-Modified) answers 304."""
    status, headers, _ = request("GET", port, path)
    head = {k.lower(): v for k, v in headers}
    check = {}
    if "etag" in head:
        check["If-None-Match"] = head["etag"]
    if "last-modified" in head:
        check["If-Modified-Since"] = head["last-modified"]
    if not check:
        return {"status": None}
    status, _, _ = request("GET", port, path, headers=check)
    return {"status": status}


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ---- the table ------------------------------------------------------------------------

def fmt(value, unit="", digits=0):
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def ratio(a, b):
    return a / b if a and b else None


def rows_for(res: dict) -> list[tuple[str, str, str | None]]:
    """(measure, cell, verdict) for one database."""
    rows = []
    art, bare = res.get("article", {}), res.get("bare_page", {})
    r = ratio(art.get("rate"), bare.get("rate"))
    rows.append(("Article GET (req/s, p50/p95 ms)",
                 f"{fmt(art.get('rate'))} ({fmt(art.get('p50_ms'), digits=1)}/{fmt(art.get('p95_ms'), digits=1)}), "
                 f"{fmt(r, 'x', 2)} bare {fmt(bare.get('rate'))}; errors {art.get('errors', 'n/a')}/{bare.get('errors', 'n/a')}",
                 verdict(r is not None and r >= 0.8)))
    c, bp = res.get("contact", {}), res.get("bare_pair", {})
    r = ratio(c.get("rate"), bp.get("rate"))
    check = res.get("contact_check", {})
    rows.append(("Contact GET+POST (pairs/s, p95 ms)",
                 f"{fmt(c.get('rate'), digits=1)} (p95 {fmt(c.get('p95_ms'), digits=0)}), {fmt(r, 'x', 2)} bare "
                 f"{fmt(bp.get('rate'), digits=1)}; 303s {check.get('answered_303')}, leads {check.get('stored')}, "
                 f"missing {check.get('missing')}, doubled {check.get('doubled')}",
                 verdict(r is not None and r >= 0.6 and check.get("ok"))))
    for name in ("queue", "lead page", "search"):
        small = res.get("staff_small", {}).get(name, {})
        big = res.get("staff_big", {}).get(name, {})
        growth = ratio(big.get("p95_ms"), small.get("p95_ms"))
        ok = growth is not None and growth <= 1.5 and big.get("p95_ms", 1e9) < 150 and not big.get("errors")
        rows.append((f"Staff {name} p50/p95 ms, {sizes(res)}",
                     f"{fmt(small.get('p50_ms'), digits=1)}/{fmt(small.get('p95_ms'), digits=1)} -> "
                     f"{fmt(big.get('p50_ms'), digits=1)}/{fmt(big.get('p95_ms'), digits=1)} ({fmt(growth, 'x', 2)}); "
                     f"errors {small.get('errors', 'n/a')}/{big.get('errors', 'n/a')}", verdict(ok)))
    bs, bb = res.get("bare_rows_small", {}), res.get("bare_rows_big", {})
    rows.append((f"Bare 50 rows + count p50/p95 ms, {sizes(res)}",
                 f"{fmt(bs.get('p50_ms'), digits=1)}/{fmt(bs.get('p95_ms'), digits=1)} -> "
                 f"{fmt(bb.get('p50_ms'), digits=1)}/{fmt(bb.get('p95_ms'), digits=1)}", None))
    demo = res.get("demo", {})
    rows.append((f"flask demo --leads {res.get('big_leads', 0):,} (s)",
                 fmt(demo.get("seconds"), " s", 1) + (" (reused database)" if demo.get("reused") else ""),
                 verdict(demo.get("seconds") is not None and demo["seconds"] < 300 * res.get("big_leads", 0) / 1e6)))
    ex = res.get("export", {})
    rows.append(("CSV export, all leads (s, peak RSS)",
                 ex.get("error") or f"{fmt(ex.get('seconds'), ' s', 1)}, {fmt(ex.get('peak_rss_mb'), ' MB', 0)} "
                 f"(from {fmt(ex.get('baseline_mb'), ' MB', 0)}), {fmt(ex.get('rows'))} rows, HTTP {ex.get('status')}",
                 verdict(ex.get("peak_rss_mb") is not None and ex["peak_rss_mb"] < 150 and ex.get("status") == 200)))
    ob, mail = res.get("outbox", {}), res.get("contact_mail", {})
    rows.append(("Outbox, one worker (msg/s)",
                 ob.get("error") or f"{fmt(ob.get('rate'), digits=0)} ({ob.get('messages')} in "
                 f"{fmt(ob.get('seconds'), ' s', 1)}); during the form run `outbox work` delivered "
                 f"{mail.get('delivered')}, {mail.get('left')} left", verdict(ob.get("rate", 0) >= 100
                                                                              and mail.get("left") == 0)))
    mixed = res.get("mixed", {})
    rows.append(("Worker RSS after the mixed requests (largest worker)",
                 f"{fmt(res.get('worker_rss_mb'), ' MB', 0)} (PSS {fmt(res.get('worker_pss_mb'), ' MB', 0)}) after "
                 f"{fmt(mixed.get('n'))} requests "
                 f"({mixed.get('errors')} errors)",
                 verdict(res.get("worker_rss_mb") is not None and res["worker_rss_mb"] < 120
                         and mixed.get("n", 0) >= 10_000)))
    rows.append(("GET / revalidated with its validator", f"HTTP {res.get('index_304', {}).get('status')}",
                 verdict(res.get("index_304", {}).get("status") == 304)))
    return rows


def sizes(res: dict) -> str:
    return f"{res.get('small_leads', 0) / 1000:,.0f}k -> {res.get('big_leads', 0) / 1000:,.0f}k leads"


def verdict(ok) -> str:
    return "met" if ok else "MISSED"


def machine() -> str:
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({model}), {mem / 1024:.1f} GB RAM, {platform.system()} {platform.release()}"


def table(results: list[dict], args) -> str:
    head = ["measure", *[r["db"] for r in results]]
    lines = [f"Benchmark of {today()} on {machine()}; gunicorn {args.workers} gthread workers per app, "
             f"{args.users} virtual users, {args.seconds:g} s per throughput step.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    per_db = [rows_for(r) for r in results]
    for i, (name, _, _) in enumerate(per_db[0]):
        cells = []
        for rows in per_db:
            _, cell, v = rows[i]
            cells.append(cell + (f" **{v}**" if v else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Targets: article >= 0.8x bare page; contact pairs >= 0.6x bare GET+insert; staff p95 at the "
              "big size <= 1.5x p95 at the small one and < 150 ms; demo < 300 s per million (pro rata); export "
              "peak RSS < 150 MB; outbox >= 100 msg/s; worker RSS < 120 MB after 10,000 mixed requests."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput step")
    parser.add_argument("--users", type=int, default=8, help="virtual users (concurrent clients)")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers per app")
    parser.add_argument("--staff-requests", type=int, default=300)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--mixed", type=int, default=10_000, help="mixed requests before reading worker RSS")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the big database even if one is there")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="only print one table from earlier runs' JSON")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.merge:
        merged = [r for path in args.merge for r in json.loads(Path(path).read_text())]
        print(table(merged, args))
        return
    log = RESULTS / "bench-servers.log"
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = [run_database(kind, args, log) for kind in kinds]
    out = table(results, args)
    print()
    print(out)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M") + "-" + args.db
    (RESULTS / f"bench-{stamp}.md").write_text(out + "\n")
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {RESULTS / f'bench-{stamp}.md'}")


if __name__ == "__main__":
    main()
