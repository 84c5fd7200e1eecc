"""Real `flask outbox work` processes: killed mid-batch, racing each other, logging safely."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from intake import clock, outbox
from tests.outbox_helpers import Relay, queue_plain, run_relay, statuses, submit

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


class Worker:
    """One `flask --app intake outbox work` subprocess, logging to a file."""

    def __init__(self, log: Path, *args: str):
        self.log = log
        self.handle = open(log, "wb")
        env = {**os.environ, "INTAKE_OUTBOX_INPROCESS": "false", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "intake", "outbox", "work", "--idle", "0.2", *args],
            cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while "outbox worker" not in self.text() or " started" not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, "worker did not start:\n" + self.text()
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.handle.close()

    def sent_count(self) -> int:
        return len(re.findall(r"outcome=sent\b", self.text()))


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start(*args: str) -> Worker:
        worker = Worker(tmp_path / f"worker{len(started)}.log", *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait(10)
        worker.handle.close()


def wait_until(predicate, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, message()
        time.sleep(0.05)


def test_worker_killed_mid_batch_loses_nothing(make_app, workers, monkeypatch):
    relay = Relay()
    relay.data_delay = 0.05
    with run_relay(relay=relay) as (port, recorder):
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        queued = queue_plain(app, 30)
        worker = workers("--batch", "50", "--lease", "20")
        recorder.wait_for(5, timeout=60)
        worker.stop(signal.SIGKILL)
        left = statuses(app)
        assert left["sending"] > 0, left  # killed holding claims: they must not be lost

        with app.app_context():
            assert outbox.deliver_due().claimed == 0  # the lease still holds
        later = datetime.now(timezone.utc) + timedelta(seconds=21)
        monkeypatch.setattr(clock, "utcnow", lambda: later)
        with app.app_context():
            report = outbox.deliver_due()
        assert report.claimed == left["sending"] + left.get("pending", 0)
        assert statuses(app) == {"sent": 30}
        received = recorder.message_ids()
        assert set(received) == set(queued)
        # At least once: only the message in flight at the kill may arrive twice.
        assert sum(received.values()) - len(received) <= 1


@pytest.mark.parametrize("n", [500])
def test_two_workers_and_the_in_process_deliverer_send_each_message_once(make_app, workers, n):
    with run_relay() as (port, recorder):
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, INTAKE_OUTBOX_INPROCESS="true")
        first, second = workers("--batch", "10"), workers("--batch", "10")
        first.wait_started()
        second.wait_started()
        queued = queue_plain(app, n)
        outbox.kick(app)
        try:
            wait_until(lambda: statuses(app) == {"sent": n}, 180, lambda: f"not all sent: {statuses(app)}")
        finally:
            app.extensions["intake_outbox"].stop()
        assert first.stop() == 0 and second.stop() == 0
        assert "stopped" in first.text() and "stopped" in second.text()

        received = recorder.message_ids()
        assert set(received) == set(queued)
        assert set(received.values()) == {1}, Counter(received.values())
        assert len(recorder.messages) == n
        by_worker = [first.sent_count(), second.sent_count()]
        by_worker.append(n - sum(by_worker))
        assert sum(1 for k in by_worker if k) >= 2, by_worker  # they really raced


PATIENT = {"first_name": "Zebulon", "last_name": "Quartermaine", "email": "zeb.q@patient-mail.example",
           "phone": "+13015550199", "zip_code": "20814", "location_choice": "bethesda-md",
           "message": "Treatment-resistant depression since 2019, ask for Dr. Okonkwo"}


def test_worker_log_has_one_line_per_attempt_and_no_patient_detail(make_app, workers):
    with run_relay() as (port, recorder):
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        submit(app, **PATIENT)
        worker = workers()
        recorder.wait_for(2, timeout=60)
        wait_until(lambda: statuses(app) == {"sent": 2}, 30, lambda: str(statuses(app)))
        assert worker.stop() == 0
    log = worker.text()
    attempts = re.findall(r"outbox message \d+ kind=(\w+) attempt=1 outcome=sent", log)
    assert sorted(attempts) == ["acknowledgement", "new_lead"]
    for secret in ["Zebulon", "Quartermaine", "zeb.q", "patient-mail", "3015550199", "20814", "Okonkwo",
                   "epression", "bethesda-md@example.org", "New inquiry", "We received"]:
        assert secret not in log, secret
