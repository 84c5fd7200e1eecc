"""/metrics: who may read it, what it says, and that it never names a patient."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.middleware.proxy_fix import ProxyFix

from intake.extensions import db
from intake.models import OutboxMessage

OUTSIDE = {"REMOTE_ADDR": "203.0.113.7"}


def samples(response) -> dict:
    """{(name, frozenset(labels)): value} from a Prometheus text page."""
    assert response.status_code == 200, response.status_code
    assert response.content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_loopback_reads_metrics(client):
    found = samples(client.get("/metrics"))
    assert value(found, "intake_database_up") == 1
    assert ("intake_outbox_oldest_pending_age_seconds", frozenset()) in found
    assert ("intake_leads_overdue", frozenset({("location", "bethesda-md")})) in found


def test_other_addresses_get_404(client):
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    assert client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": "Bearer "}).status_code == 404


def test_token_opens_metrics_from_anywhere(make_app):
    app = make_app(INTAKE_METRICS_TOKEN="s3cret-token-for-prometheus")
    client = app.test_client()
    good = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": "Bearer s3cret-token-for-prometheus"})
    assert good.status_code == 200
    bad = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": "Bearer s3cret-token-for-prometheuz"})
    assert bad.status_code == 404


def test_allow_list_takes_networks(make_app):
    app = make_app(INTAKE_METRICS_ALLOW="10.1.0.0/16, 192.0.2.9")
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.200.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.0.1"}).status_code == 404
    assert client.get("/metrics").status_code == 404  # loopback is no longer in the list


def test_forged_forwarded_for_does_not_open_metrics(app):
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # as in production
    client = app.test_client()
    forged = client.get("/metrics", environ_base=OUTSIDE, headers={"X-Forwarded-For": "127.0.0.1"})
    assert forged.status_code == 404
    # A real outside client behind a local proxy is refused too.
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.4"})
    assert proxied.status_code == 404
    assert client.get("/metrics").status_code == 200


def test_latency_is_labelled_by_endpoint_never_by_path(client):
    before = samples(client.get("/metrics"))
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page/ada.lovelace@example.com?phone=2025550123")
    after = samples(client.get("/metrics"))
    key = dict(endpoint="healthz", method="GET")
    name = "intake_request_duration_seconds_count"
    endpoint = next(e for (n, labels) in after if n == name for k, e in labels if k == "endpoint" and "healthz" in e)
    key["endpoint"] = endpoint
    assert value(after, name, **key) - value(before, name, **key) == 2
    assert value(after, name, endpoint="unmatched", method="GET") - value(before, name, endpoint="unmatched",
                                                                          method="GET") == 1
    assert value(after, "intake_requests_total", endpoint="unmatched", method="GET", status="404") >= 1
    text = client.get("/metrics").get_data(as_text=True)
    assert "no-such-page" not in text and "ada.lovelace" not in text and "2025550123" not in text


def test_leads_created_open_and_overdue(app, client, make_lead, frozen_clock):
    before = samples(client.get("/metrics"))
    old = make_lead(first_name="Grace", last_name="Hopper", email="grace.hopper@example.com", phone="+12025550199",
                    zip_code="20814", message="please call me after five")
    frozen_clock.advance(hours=5)
    make_lead(first_name="Alan", email="alan@example.com", zip_code="20814")
    response = client.get("/metrics")
    after = samples(response)
    assert old["location"] == "bethesda-md"
    assert value(after, "intake_leads_open", location="bethesda-md") == 2
    assert value(after, "intake_leads_overdue", location="bethesda-md") == 1  # only the five-hour-old one
    assert value(after, "intake_leads_overdue", location="washington-dc") == 0
    created = value(after, "intake_leads_created_total", location="bethesda-md") - value(
        before, "intake_leads_created_total", location="bethesda-md")
    assert created == 2
    text = response.get_data(as_text=True)
    for detail in ("Grace", "Hopper", "grace.hopper", "2025550199", "20814", "after five", old["reference"]):
        assert detail not in text


def test_outbox_counts_and_oldest_age(app, client, frozen_clock):
    with app.app_context():
        now = frozen_clock.now
        base = {"kind": "test", "recipients": "office@example.org", "subject": "s", "body_text": "b"}
        db.session.add_all([
            OutboxMessage(message_id="<m1@test>", status="pending", created_at=now - timedelta(minutes=10), **base),
            OutboxMessage(message_id="<m2@test>", status="failed", created_at=now - timedelta(minutes=3), **base),
            OutboxMessage(message_id="<m3@test>", status="dead", created_at=now - timedelta(days=2), **base),
            OutboxMessage(message_id="<m4@test>", status="sent", created_at=now - timedelta(days=3), **base),
        ])
        db.session.commit()
    found = samples(client.get("/metrics"))
    assert value(found, "intake_outbox_messages", status="pending") == 1
    assert value(found, "intake_outbox_messages", status="failed") == 1
    assert value(found, "intake_outbox_messages", status="dead") == 1
    assert value(found, "intake_outbox_oldest_pending_age_seconds") == 600


def test_metrics_page_sets_no_cookie(client):
    response = client.get("/metrics")
    assert "Set-Cookie" not in response.headers


@pytest.mark.slow
def test_multiprocess_mode_adds_up_processes(app_env, tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR set, each process writes its own file and /metrics sums them."""
    folder = tmp_path / "prom"
    folder.mkdir()
    script = (
        "from intake import create_app\n"
        "app = create_app('testing')\n"
        "c = app.test_client()\n"
        "for _ in range(3): assert c.get('/healthz').status_code == 200\n"
        "import sys; sys.stdout.write(c.get('/metrics').get_data(as_text=True))\n"
    )
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(folder))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outputs = [subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True,
                              timeout=60, check=True).stdout for _ in range(2)]
    assert len(list(folder.glob("*.db"))) >= 2  # one file set per process

    def healthz_count(text):
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "intake_request_duration_seconds_count" and "healthz" in s.labels.get("endpoint", ""):
                    return s.value
        return 0

    assert healthz_count(outputs[0]) == 3
    assert healthz_count(outputs[1]) == 6  # the second process sees the first one's requests too
