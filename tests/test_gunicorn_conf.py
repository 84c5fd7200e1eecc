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
    assert conf["bind"] == "0.0.0.0:8080" and conf["worker_class"] == "sync"
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
