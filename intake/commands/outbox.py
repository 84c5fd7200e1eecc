"""`flask outbox ...` and `flask send-test-mail`: delivering and inspecting queued email."""

from __future__ import annotations

import logging
import signal
import threading
import time

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from .. import clock, mailer, outbox, rollups
from ..extensions import db
from ..models import OUTBOX_STATUSES, OutboxMessage

logger = logging.getLogger(__name__)

cli = AppGroup("outbox", help="Deliver and inspect queued email.")

# Kinds whose recipients are a patient: never printed.
PATIENT_KINDS = {"acknowledgement"}
# The worker counts changed report days again this often (seconds), besides each report doing it.
ROLLUP_EVERY = 60.0


def _batch_option(f):
    return click.option("--batch", default=outbox.DEFAULT_BATCH, show_default=True,
                        help="Messages claimed and sent per SMTP connection.")(f)


def _lease_option(f):
    return click.option("--lease", default=outbox.DEFAULT_LEASE, show_default=True,
                        help="Seconds a claim lasts before another worker may take it over.")(f)


@cli.command("send")
@_batch_option
@_lease_option
def send(batch: int, lease: float) -> None:
    """Queue due SLA reminders, deliver everything due, and exit (for cron)."""
    reminders = outbox.queue_sla_reminders()
    refresh_reports()
    report = outbox.deliver_due(batch_size=batch, lease=lease)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(report.outcomes.items())) or "nothing due"
    click.echo(f"{reminders} reminder(s) queued; {report.claimed} message(s) tried: {summary}")


@cli.command("work")
@_batch_option
@_lease_option
@click.option("--idle", default=1.5, show_default=True, help="Seconds to sleep when nothing is due.")
def work(batch: int, lease: float, idle: float) -> None:
    """Deliver due messages forever; stops cleanly on SIGTERM or Ctrl-C."""
    stop = threading.Event()

    def on_signal(signum, _frame):
        logger.info("outbox worker got signal %s; finishing the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = outbox.worker_name()
    logger.info("outbox worker %s started", worker)
    next_rollup = 0.0
    while not stop.is_set():
        try:
            outbox.queue_sla_reminders()
            if time.monotonic() >= next_rollup:
                refresh_reports()
                next_rollup = time.monotonic() + ROLLUP_EVERY
            report = outbox.deliver_due(worker=worker, batch_size=batch, lease=lease, max_batches=1)
        except Exception:  # a database or relay hiccup must not end the worker
            logger.exception("outbox worker loop failed; retrying shortly")
            db.session.remove()
            stop.wait(idle)
            continue
        if not report.claimed:
            stop.wait(idle)
    logger.info("outbox worker %s stopped", worker)


def refresh_reports() -> int:
    """Count the reports' changed days again (intake/rollups.py), so the next report has less to do."""
    return rollups.refresh_settled(db.session, clock.utcnow(), current_app.config["INTAKE_SLA_HOURS"])


def _shown_recipients(row: OutboxMessage) -> str:
    if row.kind in PATIENT_KINDS:
        return "(patient address)"
    return row.recipients or "(none)"


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@cli.command("list")
@click.option("--status", type=click.Choice(OUTBOX_STATUSES), help="Only messages with this status.")
@click.option("--limit", default=50, show_default=True)
def list_messages(status: str | None, limit: int) -> None:
    """Show queued messages, newest first; patient addresses are masked."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    rows = list(db.session.scalars(query))
    if not rows:
        click.echo("No messages.")
        return
    click.echo(f"{'id':>6}  {'kind':15} {'status':9} {'tries':>5}  {'next attempt (UTC)':19}  "
               f"{'created (UTC)':19}  recipients / last error")
    for row in rows:
        due = _when(row.next_attempt_at) if row.status in ("pending", "failed") else "-"
        error = f"  [{row.last_error}]" if row.last_error else ""
        click.echo(f"{row.id:>6}  {row.kind:15} {row.status:9} {row.attempts:>5}  {due:19}  "
                   f"{_when(row.created_at):19}  {_shown_recipients(row)}{error}")


@cli.command("retry")
@click.argument("message_id", type=int, required=False)
@click.option("--dead", is_flag=True, help="Every dead message.")
def retry(message_id: int | None, dead: bool) -> None:
    """Put failed or dead message ID (or, with --dead, every dead one) back in the queue now."""
    if (message_id is None) == (not dead):
        raise click.UsageError("give a message ID or --dead (not both)")
    count = outbox.retry(message_id, dead=dead)
    if not dead and count == 0:
        raise click.ClickException(f"message {message_id} is not failed or dead (or does not exist)")
    click.echo(f"{count} message(s) queued again.")


@click.command("send-test-mail")
@click.argument("to")
@with_appcontext
def send_test_mail(to: str) -> None:
    """Send one plain message to TO through the configured relay now, and report the result."""
    from email_validator import EmailNotValidError, validate_email

    try:
        address = validate_email(to, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="TO") from None
    if not mailer.is_bare_address(address):
        raise click.BadParameter("use a plain ASCII address", param_hint="TO")
    config = current_app.config
    if not mailer.mail_configured():
        raise click.ClickException("MAIL_SERVER is not set: messages are only recorded. Nothing was sent.")
    sender = config["MAIL_DEFAULT_SENDER"]
    message_id = mailer.new_message_id(config["INTAKE_BASE_URL"])
    message = mailer.build_message(
        sender=sender, recipients=[address], subject="Intake test message",
        body_text="This is a test message from Intake. If you can read it, outgoing mail works.\n",
        body_html="", message_id=message_id, date=clock.utcnow())
    relay = f"{config['MAIL_SERVER']}:{config['MAIL_PORT']}"
    try:
        with mailer.connect() as conn:
            conn.send_raw(message, sender, [address])
    except Exception as exc:  # any failure is reported to the operator, with the relay's words
        raise click.ClickException(f"not sent via {relay}: {outbox.describe(exc)}: {exc}") from None
    click.echo(f"Sent to {address} via {relay} (Message-ID {message_id}).")
