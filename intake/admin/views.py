"""Reports for managers, and the admin pages: offices, users, the outbox, the audit trail."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from .. import access, charts, clock, reports, rollups
from ..auth import AccountError, admin_required, login_required
from ..extensions import db
from ..models import OUTBOX_STATUSES, Location, OutboxMessage, StaffUser
from ..privacy import keyed_hash
from . import bp, operations
from .forms import (
    AccessForm,
    AuditFilterForm,
    ButtonForm,
    NewUserForm,
    OfficeForm,
    ReportFilterForm,
    ResetPasswordForm,
)

logger = logging.getLogger(__name__)

OUTBOX_PAGE = 100


def actor() -> operations.Actor:
    return operations.Actor(current_user.id, keyed_hash(request.remote_addr or "unknown", "ip"))


def office_choices(locations: list[Location]) -> list[SelectChoice]:
    return [SelectChoice(loc.slug, loc.name + ("" if loc.active else " (inactive)")) for loc in locations]


# ---- reports ----------------------------------------------------------------------

def report_from_request() -> tuple[ReportFilterForm, reports.Report]:
    """Read the period and office from the query string (bad values fall back to defaults) and build the report."""
    form = ReportFilterForm(request.args)
    visible = access.visible_locations(current_user)
    form.office.choices = [SelectChoice("", "All my offices" if not current_user.is_admin else "All offices")] + \
        office_choices(visible)
    form.validate()
    today = clock.utcnow().date()
    start, end = reports.default_period(today)
    if not (form.start.errors or form.end.errors):
        start, end = form.start.data or start, form.end.data or end
        if form.start.data and not form.end.data and start > end:
            end = start + timedelta(weeks=12)
    form.start.data, form.end.data = start, end
    office = form.office.data if not form.office.errors else ""
    # Always an explicit list of offices, even for "all": then (location_id, created_at) is the index to use.
    ids = [loc.id for loc in visible if not office or loc.slug == office]
    now, sla_hours = clock.utcnow(), current_app.config["INTAKE_SLA_HOURS"]
    rollups.refresh_and_commit(db.session, rollups.settled_before(now, sla_hours))
    report = reports.build(db.session, reports.ReportFilter(start, end, ids), sla_hours=sla_hours, now=now)
    return form, report


@bp.route("/reports", endpoint="reports")
@login_required
def reports_page():
    """Where leads come from, how fast offices answer, and how many become patients."""
    form, report = report_from_request()
    weekly_items = [(f"{d:%b} {d.day}", n) for d, n in report.weekly]
    chart = {
        "weekly": charts.column_chart("chart-weekly", "Leads per week",
                                      f"Column chart of leads per week from {report.filter.start:%B %-d, %Y} to "
                                      f"{report.filter.end:%B %-d, %Y}; the table below gives each number.",
                                      weekly_items, y_label="Leads"),
        "articles": charts.bar_chart("chart-articles", "Leads by source article",
                                     "Bar chart of leads by the article the form was sent from, biggest first; "
                                     "the table below gives each number.", report.articles),
        "campaigns": charts.bar_chart("chart-campaigns", "Leads by campaign",
                                      "Bar chart of leads by utm campaign, biggest first; "
                                      "the table below gives each number.", report.campaigns),
    }
    weekly_rows = [(d.isoformat(), n) for d, n in report.weekly]
    office_label = next((c.label for c in form.office.choices if c.value == form.office.data and c.value), None)
    return render_template("admin/reports.html", form=form, report=report, chart=chart, weekly_rows=weekly_rows,
                           office_label=office_label,
                           summary=reports.summary_rows(report),
                           query={k: request.args[k] for k in ("start", "end", "office") if request.args.get(k)})


@bp.route("/reports/<name>.csv")
@login_required
def report_csv(name: str):
    """One of the report's tables as CSV, for the same period and office."""
    _, report = report_from_request()
    tables = reports.csv_tables(report)
    if name not in tables:
        abort(404)
    header, rows = tables[name]
    f = report.filter
    filename = f"intake-{name}-{f.start.isoformat()}-to-{f.end.isoformat()}.csv"
    return Response(reports.to_csv(header, rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


# ---- admin home -------------------------------------------------------------------

@bp.route("/admin/")
@admin_required
def index():
    """Links to each admin page, with the counts that need attention."""
    stuck = db.session.scalar(select(func.count(OutboxMessage.id))
                              .where(OutboxMessage.status.in_(operations.RETRYABLE)))
    return render_template("admin/index.html", stuck=stuck)


# ---- offices ------------------------------------------------------------------------

@bp.route("/admin/offices")
@admin_required
def offices():
    """Every office with its inboxes and whether it takes new leads."""
    locations = list(db.session.scalars(select(Location).order_by(Location.position)))
    return render_template("admin/offices.html", locations=locations)


@bp.route("/admin/offices/<slug>", methods=["GET", "POST"])
@admin_required
def office(slug: str):
    """Edit one office: its details, notification inboxes, and whether it is active."""
    location = db.first_or_404(select(Location).where(Location.slug == slug))
    form = OfficeForm(obj=location)
    if request.method == "GET":
        form.inboxes.data = ", ".join(location.inbox_emails)
    if form.validate_on_submit():
        changed = operations.update_location(
            db.session, location, actor(), clock.utcnow(), inboxes=form.inbox_list,
            name=form.name.data.strip(), address=form.address.data.strip(), phone=form.phone.data.strip(),
            hours=form.hours.data.strip(), active=form.active.data,
        )
        db.session.commit()
        flash(f"{location.name}: saved." if changed else f"{location.name}: nothing changed.", "success")
        return redirect(url_for("admin.offices"), 303)
    return render_template("admin/office.html", form=form, location=location), 400 if form.errors else 200


# ---- users --------------------------------------------------------------------------

def _all_offices() -> list[SelectChoice]:
    return office_choices(list(db.session.scalars(select(Location).order_by(Location.position))))


@bp.route("/admin/users")
@admin_required
def users():
    """Every account with its role, offices and state."""
    people = list(db.session.scalars(select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)))
    return render_template("admin/users.html", people=people)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@admin_required
def new_user():
    """Create an account with a role, offices and a first password."""
    form = NewUserForm()
    form.offices.choices = _all_offices()
    if form.validate_on_submit():
        try:
            user = operations.create_account(
                db.session, actor(), clock.utcnow(), email=form.email.data, name=form.name.data or "",
                role=form.role.data, location_slugs=form.offices.data or [], password=form.password.data,
                totp_required=form.totp_required.data)
        except AccountError as exc:
            db.session.rollback()
            form.password.errors = list(form.password.errors) + [str(exc)]
        else:
            db.session.commit()
            flash(f"Account created for {user.email}.", "success")
            return redirect(url_for("admin.user", user_id=user.id), 303)
    return render_template("admin/new_user.html", form=form), 400 if form.errors else 200


def _user_page(user: StaffUser, access_form=None, reset_form=None, status=200):
    if access_form is None:
        access_form = AccessForm(formdata=None, role=user.role, offices=[l.slug for l in user.locations])
    access_form.offices.choices = _all_offices()
    return render_template("admin/user.html", person=user, access_form=access_form,
                           reset_form=reset_form or ResetPasswordForm(formdata=None), button=ButtonForm()), status


@bp.route("/admin/users/<int:user_id>")
@admin_required
def user(user_id: int):
    """One account: role and offices, password reset, second factor, deactivation."""
    return _user_page(db.get_or_404(StaffUser, user_id))


@bp.route("/admin/users/<int:user_id>/access", methods=["POST"])
@admin_required
def user_access(user_id: int):
    """Change an account's role and offices."""
    person = db.get_or_404(StaffUser, user_id)
    form = AccessForm()
    form.offices.choices = _all_offices()
    if form.validate_on_submit():
        try:
            operations.update_access(db.session, person, form.role.data, form.offices.data or [], actor(),
                                     clock.utcnow())
        except AccountError as exc:
            db.session.rollback()
            form.offices.errors = list(form.offices.errors) + [str(exc)]
        else:
            db.session.commit()
            flash("Role and offices saved.", "success")
            return redirect(url_for("admin.user", user_id=user_id), 303)
    return _user_page(person, access_form=form, status=400)


@bp.route("/admin/users/<int:user_id>/password", methods=["POST"])
@admin_required
def user_password(user_id: int):
    """Set a new password for an account; every session it has ends."""
    person = db.get_or_404(StaffUser, user_id)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            operations.reset_password(db.session, person, form.password.data, actor(), clock.utcnow())
        except AccountError as exc:
            db.session.rollback()
            form.password.errors = list(form.password.errors) + [str(exc)]
        else:
            db.session.commit()
            flash("Password reset. Their sessions have ended.", "success")
            return redirect(url_for("admin.user", user_id=user_id), 303)
    return _user_page(person, reset_form=form, status=400)


@bp.route("/admin/users/<int:user_id>/<any('deactivate', 'activate', 'require-2fa', 'optional-2fa'):what>",
          methods=["POST"])
@admin_required
def user_switch(user_id: int, what: str):
    """The one-button changes: deactivate, reactivate, require or relax the second factor."""
    person = db.get_or_404(StaffUser, user_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    now = clock.utcnow()
    try:
        if what in ("deactivate", "activate"):
            operations.set_active(db.session, person, what == "activate", actor(), now)
            message = "Account deactivated; its sessions have ended." if what == "deactivate" else \
                "Account active again."
        else:
            operations.require_second_factor(db.session, person, what == "require-2fa", actor(), now)
            message = "A second factor is now required." if what == "require-2fa" else \
                "A second factor is no longer required."
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("admin.user", user_id=user_id), 303)


# ---- outbox ---------------------------------------------------------------------------

@bp.route("/admin/outbox")
@admin_required
def outbox():
    """Messages by status (failed and dead first), with a retry button for the stuck ones."""
    status = request.args.get("status", "stuck")
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(OUTBOX_PAGE)
    if status == "stuck":
        query = query.where(OutboxMessage.status.in_(operations.RETRYABLE))
    elif status in OUTBOX_STATUSES:
        query = query.where(OutboxMessage.status == status)
    elif status != "all":
        abort(404)
    counts = dict(db.session.execute(select(OutboxMessage.status, func.count(OutboxMessage.id))
                                     .group_by(OutboxMessage.status)).all())
    messages = list(db.session.scalars(query))
    return render_template("admin/outbox.html", messages=messages, status=status, counts=counts,
                           statuses=OUTBOX_STATUSES, button=ButtonForm(), page_size=OUTBOX_PAGE,
                           retryable=operations.RETRYABLE)


@bp.route("/admin/outbox/<int:message_id>")
@admin_required
def outbox_message(message_id: int):
    """One message's text; a patient's address is masked."""
    message = db.get_or_404(OutboxMessage, message_id)
    return render_template("admin/outbox_message.html", message=message, shown=operations.masked(message),
                           button=ButtonForm(), retryable=operations.RETRYABLE)


@bp.route("/admin/outbox/<int:message_id>/retry", methods=["POST"])
@admin_required
def outbox_retry(message_id: int):
    """Put a failed or dead message back in line, due now."""
    message = db.get_or_404(OutboxMessage, message_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    if operations.retry_message(db.session, message, actor(), clock.utcnow()):
        db.session.commit()
        flash(f"Message {message.id} will be sent again shortly.", "success")
        if current_app.config.get("INTAKE_OUTBOX_INPROCESS"):
            from .. import outbox as delivery

            delivery.kick(current_app._get_current_object())
    else:
        flash(f"Message {message.id} is {message.status}; only failed or dead messages can be retried.", "error")
    back = request.form.get("back") or ""
    # Back to the list or message page the button was on; never to another site.
    if not back.startswith("/staff/admin/outbox") or "//" in back:
        back = url_for("admin.outbox")
    return redirect(back, 303)


# ---- audit trail ----------------------------------------------------------------------

@bp.route("/admin/audit")
@admin_required
def audit():
    """The audit trail, newest first, filtered by user, lead, action and dates; read-only."""
    form = AuditFilterForm(request.args)
    people = list(db.session.scalars(select(StaffUser).order_by(StaffUser.email)))
    form.user.choices = [SelectChoice("", "Anyone")] + [SelectChoice(str(p.id), p.email) for p in people]
    form.action.choices = [SelectChoice("", "Any action")] + [SelectChoice(a, a)
                                                               for a in operations.audit_actions(db.session)]
    form.validate()
    errors = set(form.errors)
    f = operations.AuditFilter(
        actor_id=int(form.user.data) if form.user.data and "user" not in errors else None,
        lead_id=form.lead.data if "lead" not in errors else None,
        action=form.action.data if form.action.data and "action" not in errors else None,
        start=form.start.data if "start" not in errors else None,
        end=form.end.data if "end" not in errors else None,
    )
    before = request.args.get("before", type=int)
    events, next_before = operations.audit_page(db.session, f, before_id=before)
    args = {k: v for k, v in request.args.items() if k not in ("before", "submit") and v}
    return render_template("admin/audit.html", form=form, events=events, next_before=next_before,
                           args=args, paged=before is not None)
