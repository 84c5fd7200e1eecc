"""gunicorn.conf.py: settings from the environment, and an access log that cannot hold what a patient typed."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def load(monkeypatch, **env) -> dict:
    """Run the config file against a private copy of the environment (it sets pool defaults)."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("INTAKE_BIND", "PORT", "INTAKE_WORKERS", "INTAKE_THREADS", "INTAKE_DB_POOL_SIZE",
                          "INTAKE_DB_MAX_OVERFLOW", "INTAKE_ACCESS_LOG")}
    clean.update(env)
    monkeypatch.setattr(os, "environ", clean)
    return runpy.run_path(str(CONF))


def test_workers_threads_bind_and_pool_come_from_the_environment(monkeypatch):
    conf = load(monkeypatch, INTAKE_WORKERS="3", INTAKE_THREADS="4", INTAKE_BIND="127.0.0.1:9100")
    assert (conf["workers"], conf["threads"], conf["worker_class"], conf["bind"]) == (3, 4, "gthread",
                                                                                       "127.0.0.1:9100")
    assert os.environ["INTAKE_DB_POOL_SIZE"] == "5"  # one per thread plus the outbox kick
    assert conf["preload_app"] is False
    conf = load(monkeypatch, PORT="8080")
    assert conf["bind"] == "0.0.0.0:8080" and conf["threads"] == 1
    assert conf["worker_class"] == "gthread"  # a long export must not be killed at `timeout` (sync would be)
    assert 1 <= conf["workers"] <= 9


def test_access_log_has_no_query_string_referrer_or_address(monkeypatch):
    fmt = load(monkeypatch)["access_log_format"]
    assert "%(U)s" in fmt  # the path alone
    for atom in ("%(r)s", "%(q)s", "%(f)s", "%(h)s", "%({"):
        assert atom not in fmt


def test_multiprocess_directory_is_emptied_at_start(monkeypatch, tmp_path):
    folder = tmp_path / "prom"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"stale")
    load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(folder))["on_starting"](None)
    assert list(folder.iterdir()) == []


def test_master_loads_nothing_of_intake_or_zipcodes(monkeypatch, tmp_path):
    """Whatever the master imports before the fork sits in every worker's RSS (and a HUP cannot reload it)."""
    import subprocess
    import sys

    script = (f"import runpy, sys; conf = runpy.run_path({str(CONF)!r}); conf['on_starting'](None); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('intake', 'zipcodes')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")})
    assert done.stdout.strip() == "[]"


def test_worker_builds_the_zip_table_at_start(monkeypatch):
    from intake import routing

    routing.zip_table.cache_clear()
    load(monkeypatch)["post_worker_init"](None)
    assert routing.zip_table.cache_info().currsize == 1
