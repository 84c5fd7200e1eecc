"""The staff dashboard: the triage queue, one lead, the actions on it, and the CSV export.

Every lead is fetched through intake.access, so the office rule holds here
without being repeated. Actions are POSTs with CSRF that call one function in
intake.triage, commit once and answer 303 back to the lead.
"""

from __future__ import annotations

import logging
import re
from zoneinfo import ZoneInfo

from flask import Response, current_app, flash, redirect, render_template, request, session, \
    stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from .. import access, clock, export, triage
from .. import queue as lead_queue
from ..auth import login_required
from ..extensions import db
from ..leads import record_event
from ..privacy import keyed_hash
from ..models import (
    CLOSE_REASONS,
    CONTACT_METHODS,
    STATUSES,
    Article,
    AuditEvent,
    Lead,
    Location,
    OutboxMessage,
    StaffUser,
    staff_location,
)
from . import bp
from .forms import AssignForm, CloseForm, ContactAttemptForm, LeadActionForm, MoveForm, NoteForm, SearchForm, \
    StatusForm

logger = logging.getLogger(__name__)

SEARCH_KEY = "queue_search"
CLINIC_TZ = ZoneInfo("America/New_York")
EVENT_LABELS = {
    "created": "Inquiry received", "viewed": "Viewed", "assigned": "Assigned", "status_changed": "Status changed",
    "note": "Note", "contact_attempt": "Contact attempt", "moved": "Moved", "reopened": "Reopened",
    "spam_marked": "Marked as spam", "spam_cleared": "Marked as not spam", "spam_flagged": "Flagged as spam",
    "repeat_inquiry": "Wrote again", "possible_duplicate": "Possible duplicate", "marked_urgent": "Marked urgent",
    "email_sent": "Email sent", "email_failed": "Email failed", "exported": "Exported",
}


def _ip_hash() -> str:
    return keyed_hash(request.remote_addr or "unknown", "ip")


# ---- the queue ---------------------------------------------------------------

@bp.get("/")
@login_required
def home():
    """The dashboard's front door is the queue."""
    return redirect(url_for("staff.queue"), 303)


@bp.get("/leads")
@login_required
def queue():
    """Open leads of the user's offices, urgent first then oldest, filtered by the URL."""
    filters = lead_queue.QueueFilters.from_args(request.args)
    search_text = session.get(SEARCH_KEY, "")
    now = clock.utcnow()
    counts = {}
    if search_text:
        leads, next_cursor = lead_queue.search(db.session, search_text, current_user), None
    else:
        page = lead_queue.queue_page(db.session, filters, current_user, after=request.args.get("after"))
        leads, next_cursor = page.leads, page.next_cursor
        counts = lead_queue.status_counts(db.session, filters, current_user)
    return render_template(
        "staff/queue.html", leads=leads, filters=filters, counts=counts, next_cursor=next_cursor,
        first_page=request.args.get("after") is not None, search_text=search_text,
        search_form=SearchForm(q=search_text), now=now, sla_hours=current_app.config["INTAKE_SLA_HOURS"],
        offices=access.visible_locations(current_user), articles=db.session.scalars(
            select(Article.slug).order_by(Article.slug)).all(),
        assignees=_assignee_choices(), statuses=STATUSES, lq=lead_queue,
    )


def _assignee_choices():
    """Active colleagues at the user's offices, for the assignee filter."""
    query = select(StaffUser).where(StaffUser.active).order_by(StaffUser.name, StaffUser.id)
    ids = access.location_ids(current_user)
    if ids is not None:
        query = query.where(StaffUser.id.in_(select(staff_location.c.user_id)
                                             .where(staff_location.c.location_id.in_(ids))))
    return list(db.session.scalars(query))


@bp.post("/leads/search")
@login_required
def search():
    """Keep the search text in the session (never in a URL), or clear it."""
    form = SearchForm()
    if "clear" in request.form or not form.validate_on_submit():
        session.pop(SEARCH_KEY, None)
    else:
        session[SEARCH_KEY] = " ".join((form.q.data or "").split())
    return redirect(url_for("staff.queue", **lead_queue.QueueFilters.from_args(request.args).to_args()), 303)


@bp.get("/leads/export.csv", endpoint="export")
@login_required
def export_csv():
    """The queue as filtered, as a CSV download streamed row by row."""
    filters = lead_queue.QueueFilters.from_args(request.args)
    stamp = clock.utcnow()
    rows = export.stream_csv(db.session, filters, current_user._get_current_object(), stamp, _ip_hash())
    response = Response(stream_with_context(rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="leads-{stamp:%Y%m%d-%H%M}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


# ---- one lead ----------------------------------------------------------------

def _lead_context(lead: Lead, **extra) -> dict:
    """Everything the lead page shows, and its forms primed with the version it shows."""
    seen = triage.last_event_id(db.session, lead)
    primed = {"version": lead.version, "seen": seen}
    colleagues = triage.colleagues(db.session, lead)
    assign_form = AssignForm(**primed, assignee=str(lead.assignee_id or ""))
    assign_form.assignee.choices = [SelectChoice("", "Nobody")] + [SelectChoice(str(u.id), u.name or u.email)
                                                                   for u in colleagues]
    move_form = MoveForm(**primed)
    move_form.location.choices = [SelectChoice(loc.slug, loc.name) for loc in db.session.scalars(
        select(Location).where(Location.active, Location.id != lead.location_id).order_by(Location.position))]
    status_form = StatusForm(**primed, status=lead.status)
    if lead.failed_attempts < triage.UNREACHABLE_AFTER:
        status_form.reason.choices = [c for c in status_form.reason.choices if c.value != "unreachable"]
    contact_conditions = []
    if lead.email_lower:
        contact_conditions.append(Lead.email_lower == lead.email_lower)
    if lead.phone:
        contact_conditions.append(Lead.phone == lead.phone)
    duplicates = []
    if contact_conditions:
        duplicates = list(db.session.scalars(access.visible_leads(current_user)
                                             .where(or_(*contact_conditions), Lead.id != lead.id)
                                             .options(selectinload(Lead.location))
                                             .order_by(Lead.created_at.desc()).limit(20)))
    # Actors and offices in one query each, however long the history (tests/test_query_counts.py).
    # Views stay in the audit trail but not in the timeline: a lead opened 300 times would bury
    # its changes under "Viewed" lines (and make the page slower with every visit); one line
    # says how often and who looked last.
    timeline = list(db.session.scalars(select(AuditEvent).where(AuditEvent.lead_id == lead.id,
                                                                AuditEvent.action != "viewed")
                                       .options(selectinload(AuditEvent.actor))
                                       .order_by(AuditEvent.created_at, AuditEvent.id)))
    views = select(AuditEvent).where(AuditEvent.lead_id == lead.id, AuditEvent.action == "viewed")
    view_count = db.session.scalar(select(func.count()).select_from(views.subquery()))
    last_view = db.session.scalar(views.options(selectinload(AuditEvent.actor))
                                  .order_by(AuditEvent.id.desc()).limit(1))
    messages = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.lead_id == lead.id)
                                       .order_by(OutboxMessage.id)))
    context = dict(
        lead=lead, timeline=timeline, view_count=view_count, last_view=last_view, messages=messages, duplicates=duplicates, now=clock.utcnow(),
        sla_hours=current_app.config["INTAKE_SLA_HOURS"], lq=lead_queue, statuses=STATUSES,
        close_reasons=CLOSE_REASONS, contact_methods=CONTACT_METHODS, event_labels=EVENT_LABELS,
        action_form=LeadActionForm(**primed), assign_form=assign_form, status_form=status_form,
        close_form=CloseForm(**primed, reason="unreachable"), contact_form=ContactAttemptForm(**primed),
        note_form=NoteForm(**primed), move_form=move_form, unreachable_after=triage.UNREACHABLE_AFTER,
    )
    context.update(extra)
    return context


@bp.get("/leads/<int:lead_id>")
@login_required
def lead(lead_id: int):
    """One lead: what the patient wrote, where it came from, what happened since. Viewing is recorded."""
    found = access.get_lead_or_404(current_user, lead_id)
    user_id = current_user.id
    # End the read before writing: on SQLite a GET's transaction that read and
    # then writes fails at once if another request committed in between.
    db.session.commit()
    event = record_event(db.session, "viewed", actor_id=user_id, now=clock.utcnow())
    event.lead_id = lead_id
    db.session.commit()
    return render_template("staff/lead.html", **_lead_context(found))


def _act(lead_id: int, form_class, action):
    """Run one triage action from a posted form; refuse stale pages with 409 and what changed."""
    found = access.get_lead_or_404(current_user, lead_id)
    form = form_class()
    if hasattr(form, "assignee"):
        form.assignee.choices = [SelectChoice("")] + [SelectChoice(str(u.id)) for u in triage.colleagues(db.session, found)]
    if hasattr(form, "location"):
        form.location.choices = [SelectChoice(slug) for slug in db.session.scalars(select(Location.slug))]
    if not form.validate_on_submit():
        problems = [f"{getattr(form, name).label.text}: {errors[0]}" for name, errors in form.errors.items()
                    if name not in ("version", "seen", "csrf_token")]
        flash(" ".join(problems) or "Please try again.", "error")
        return redirect(url_for("staff.lead", lead_id=found.id), 303)
    actor = triage.Actor(current_user._get_current_object(), clock.utcnow())
    try:
        message = action(found, form, actor, form.version.data, form.seen.data)
    except triage.TriageError as refused:
        db.session.rollback()
        flash(str(refused), "error")
    except triage.StaleLead:
        db.session.rollback()
        fresh = access.get_lead_or_404(current_user, lead_id)
        changes = triage.changes_since(db.session, fresh, form.seen.data)
        return render_template("staff/lead.html", **_lead_context(fresh, stale_changes=changes)), 409
    else:
        db.session.commit()
        if message:
            flash(message, "success")
        if not access.can_see_location(current_user, found.location_id):
            return redirect(url_for("staff.queue"), 303)
    return redirect(url_for("staff.lead", lead_id=found.id), 303)


@bp.post("/leads/<int:lead_id>/claim")
@login_required
def claim(lead_id: int):
    """Take the lead: one click."""
    return _act(lead_id, LeadActionForm, lambda lead, form, actor, v, seen: triage.claim(
        db.session, lead, actor, version=v, seen=seen) or "You have the lead.")


@bp.post("/leads/<int:lead_id>/assign")
@login_required
def assign(lead_id: int):
    """Give the lead to a colleague of its office, or to nobody."""
    def do(lead, form, actor, v, seen):
        assignee = int(form.assignee.data) if form.assignee.data else None
        triage.assign(db.session, lead, actor, assignee, version=v, seen=seen)
        return "Assignment saved."
    return _act(lead_id, AssignForm, do)


@bp.post("/leads/<int:lead_id>/status")
@login_required
def set_status(lead_id: int):
    """Move the lead to another status (closing needs a reason)."""
    def do(lead, form, actor, v, seen):
        triage.set_status(db.session, lead, actor, form.status.data, form.reason.data or None, version=v, seen=seen)
        return f"Status: {STATUSES[form.status.data]}."
    return _act(lead_id, StatusForm, do)


@bp.post("/leads/<int:lead_id>/close")
@login_required
def close(lead_id: int):
    """Close with one click for a given reason (offered as "unreachable" after three failed attempts)."""
    def do(lead, form, actor, v, seen):
        triage.close(db.session, lead, actor, form.reason.data, version=v, seen=seen)
        return f"Closed: {CLOSE_REASONS.get(form.reason.data, form.reason.data)}."
    return _act(lead_id, CloseForm, do)


@bp.post("/leads/<int:lead_id>/spam")
@login_required
def mark_spam(lead_id: int):
    """Hide the lead from the queue as spam."""
    return _act(lead_id, LeadActionForm, lambda lead, form, actor, v, seen: triage.mark_spam(
        db.session, lead, actor, version=v, seen=seen) or "Marked as spam.")


@bp.post("/leads/<int:lead_id>/not-spam")
@login_required
def mark_not_spam(lead_id: int):
    """Put the lead back in the queue."""
    return _act(lead_id, LeadActionForm, lambda lead, form, actor, v, seen: triage.mark_not_spam(
        db.session, lead, actor, version=v, seen=seen) or "Back in the queue.")


@bp.post("/leads/<int:lead_id>/contact-attempt")
@login_required
def contact_attempt(lead_id: int):
    """Record a call, text or email to the patient and how it went."""
    def do(lead, form, actor, v, seen):
        triage.log_contact_attempt(db.session, lead, actor, form.channel.data, form.outcome.data,
                                   form.note.data or "", version=v, seen=seen)
        return "Contact attempt logged."
    return _act(lead_id, ContactAttemptForm, do)


@bp.post("/leads/<int:lead_id>/note")
@login_required
def note(lead_id: int):
    """Add a note to the timeline."""
    def do(lead, form, actor, v, seen):
        triage.add_note(db.session, lead, actor, form.text.data, version=v, seen=seen)
        return "Note added."
    return _act(lead_id, NoteForm, do)


@bp.post("/leads/<int:lead_id>/move")
@login_required
def move(lead_id: int):
    """Send the lead to another office, which is told by email."""
    def do(lead, form, actor, v, seen):
        target = triage.move_lead(db.session, lead, actor, form.location.data, form.reason.data, version=v,
                                  seen=seen)
        return f"Lead {lead.reference} moved to {target.name}."
    return _act(lead_id, MoveForm, do)


@bp.post("/leads/<int:lead_id>/reopen")
@login_required
def reopen(lead_id: int):
    """Put a closed lead back in the queue."""
    return _act(lead_id, LeadActionForm, lambda lead, form, actor, v, seen: triage.reopen(
        db.session, lead, actor, version=v, seen=seen) or "Reopened.")


@bp.app_template_filter("clinic_time")
def clinic_time(value) -> str:
    """A UTC timestamp as the clinics' local time (they are all in US Eastern)."""
    if value is None:
        return ""
    return value.astimezone(CLINIC_TZ).strftime("%b %-d, %Y %-I:%M %p")


CODE_WORDS = {**STATUSES, **CLOSE_REASONS, **triage.CONTACT_OUTCOMES, **triage.CONTACT_CHANNELS}


@bp.app_template_filter("event_detail")
def event_detail(event: AuditEvent) -> str:
    """A timeline entry's detail with status and outcome codes in words; staff-typed text is left as written."""
    detail = event.detail or ""
    if event.action not in ("status_changed", "contact_attempt", "reopened"):
        return detail
    codes, sep, note = detail.partition(" - ")
    words = re.sub(r"[a-z_]+", lambda m: CODE_WORDS.get(m.group(0), m.group(0)), codes).replace(" -> ", " → ")
    return words + sep + note
