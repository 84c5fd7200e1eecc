"""Prometheus metrics at /metrics, for operators only.

What is measured:

- ``intake_request_duration_seconds{endpoint,method}``: a latency histogram per
  Flask endpoint (the url rule's name, never the raw path, so no reference or
  id ends up in a label); ``intake_requests_total{endpoint,method,status}``.
- ``intake_leads_created_total{location}``: leads inserted by this process.
- Read from the database at scrape time, so every instance reports the same
  truth: ``intake_outbox_messages{status}``,
  ``intake_outbox_oldest_pending_age_seconds``, ``intake_leads_open{location}``
  and ``intake_leads_overdue{location}`` (new leads, not yet contacted, older
  than INTAKE_SLA_HOURS).

Labels only ever hold endpoint names, HTTP methods, status codes, office slugs
and outbox states: nothing a patient typed.

Who may read it: a request whose addresses (the socket peer and, behind the
proxy, the forwarded client) are all in INTAKE_METRICS_ALLOW (addresses or
networks, default ``127.0.0.1,::1``), or one carrying
``Authorization: Bearer <INTAKE_METRICS_TOKEN>``. Everyone else gets 404.

Several gunicorn workers: set PROMETHEUS_MULTIPROC_DIR to an empty directory
writable by the workers before gunicorn starts (gunicorn.conf.py empties it at
start and tells prometheus-client when a worker exits); /metrics then adds up
every worker's counters and histograms.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from datetime import datetime, timedelta, timezone

from flask import Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event, func, select

from . import clock
from .extensions import csrf, db, limiter
from .models import Lead, Location, OutboxMessage

logger = logging.getLogger(__name__)

REQUEST_LATENCY = Histogram(
    "intake_request_duration_seconds", "Time spent answering a request, by Flask endpoint.",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REQUESTS = Counter("intake_requests", "Requests answered, by Flask endpoint and status code.",
                   ["endpoint", "method", "status"])
LEADS_CREATED = Counter("intake_leads_created", "Leads inserted by this process, by office.", ["location"])

UNDELIVERED = ("pending", "failed")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


def _endpoint_label() -> str:
    """The url rule's endpoint name: a bounded set, free of ids and query strings."""
    return request.endpoint or "unmatched"


def start_timer() -> None:
    g._metrics_started = time.perf_counter()


def observe(response: Response) -> Response:
    started = g.pop("_metrics_started", None)
    if started is not None:
        endpoint, method = _endpoint_label(), request.method
        REQUEST_LATENCY.labels(endpoint, method).observe(time.perf_counter() - started)
        REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    return response


def _count_created_lead(_mapper, _connection, target: Lead) -> None:
    # Never lazy-load inside a flush: use the office if it is already attached.
    location = target.__dict__.get("location")
    LEADS_CREATED.labels(location.slug if location is not None else str(target.location_id)).inc()


class DatabaseCollector:
    """Gauges read from the database at scrape time (the same answer on every instance)."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        now = clock.utcnow()
        sla = timedelta(hours=self.app.config["INTAKE_SLA_HOURS"])
        session = db.session
        slugs = dict(session.execute(select(Location.id, Location.slug)).all())

        outbox = GaugeMetricFamily("intake_outbox_messages", "Outbox messages by state.", labels=["status"])
        counts = dict(session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
        for status in ("pending", "sending", "failed", "dead", "sent", "recorded"):
            outbox.add_metric([status], counts.get(status, 0))
        yield outbox

        oldest = session.scalar(select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status.in_(UNDELIVERED)))
        age = GaugeMetricFamily("intake_outbox_oldest_pending_age_seconds",
                                "Age of the oldest message still waiting to be delivered (0 when none).")
        age.add_metric([], max(0.0, (now - _aware(oldest)).total_seconds()) if oldest else 0.0)
        yield age

        queue = select(Lead.location_id, func.count()).where(Lead.is_open, Lead.spam.is_(False))
        open_counts = dict(session.execute(queue.group_by(Lead.location_id)).all())
        overdue_counts = dict(session.execute(
            queue.where(Lead.status == "new", Lead.first_contact_at.is_(None), Lead.created_at < now - sla)
            .group_by(Lead.location_id)).all())
        open_family = GaugeMetricFamily("intake_leads_open", "Open leads (spam excluded), by office.",
                                        labels=["location"])
        overdue = GaugeMetricFamily("intake_leads_overdue",
                                    "New leads not yet contacted within INTAKE_SLA_HOURS, by office.",
                                    labels=["location"])
        for location_id, slug in slugs.items():
            open_family.add_metric([slug], open_counts.get(location_id, 0))
            overdue.add_metric([slug], overdue_counts.get(location_id, 0))
        yield open_family
        yield overdue


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def allowed(app: Flask) -> bool:
    """True for a configured address, or for the right bearer token."""
    token = app.config.get("INTAKE_METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    networks = app.extensions["intake_metrics_allow"]
    # Behind ProxyFix, remote_addr is the forwarded client; the socket peer must
    # be allowed too, so a forged X-Forwarded-For cannot open the door.
    original = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
    addresses = {a for a in (request.remote_addr, original) if a}
    return bool(addresses) and all(_in_networks(a, networks) for a in addresses)


def _in_networks(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def _parse_allow(entries) -> list:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            logger.warning("INTAKE_METRICS_ALLOW: ignoring %r, not an address or network", entry)
    return networks


def metrics_view():
    """The metrics in Prometheus text format, or 404 for anyone not allowed."""
    app = current_app._get_current_object()
    if not allowed(app):
        abort(404)
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    database = CollectorRegistry()
    database.register(DatabaseCollector(app))
    try:
        body += generate_latest(database)
        up = 1
    except Exception:  # the database is down: still serve the process metrics
        db.session.rollback()
        logger.warning("metrics: database gauges unavailable", exc_info=True)
        up = 0
    body += (b"# HELP intake_database_up Whether the database answered the scrape's queries.\n"
             b"# TYPE intake_database_up gauge\n" + f"intake_database_up {up}\n".encode())
    response = Response(body, content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    """Attach request timing and the /metrics endpoint."""
    app.extensions["intake_metrics_allow"] = _parse_allow(app.config.get("INTAKE_METRICS_ALLOW", []))
    app.before_request(start_timer)
    app.after_request(observe)
    view = limiter.exempt(csrf.exempt(metrics_view))
    app.add_url_rule("/metrics", "metrics", view, methods=["GET"])
    if not event.contains(Lead, "after_insert", _count_created_lead):
        event.listen(Lead, "after_insert", _count_created_lead)
