"""Pages a prospective patient sees: articles, the contact form, thanks, offices."""

from __future__ import annotations

import logging
import secrets

from flask import abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select, text

from .. import clock, leads, outbox, spam
from ..extensions import db, limiter
from ..models import Article, Lead
from ..privacy import keyed_hash
from . import bp
from .forms import (
    BlankContactForm, ContactForm, blank_fields_html, clean_hidden, issue_form_token, normalise_phone, read_form_token,
)

logger = logging.getLogger(__name__)

THANKS_SALT = "thanks"
THANKS_MAX_AGE = 24 * 3600
FORM_ENDPOINTS = {"public.article", "public.contact"}


def submit_limit() -> str:
    return current_app.config["INTAKE_SUBMIT_LIMIT"]


# Both forms share one budget per IP; only POSTs count, reading is never limited.
form_limit = limiter.shared_limit(submit_limit, scope="contact-form", methods=["POST"])


# ---- pages ---------------------------------------------------------------------

@bp.get("/")
def index():
    """The articles, newest first."""
    articles = db.session.scalars(select(Article).order_by(Article.published_on.desc(), Article.id.desc())).all()
    return render_template("public/index.html", articles=articles)


@bp.route("/articles/<slug>", methods=["GET", "POST"])
@form_limit
def article(slug: str):
    """One article, ending in the contact form; a POST sends that form."""
    item = db.first_or_404(select(Article).where(Article.slug == slug))
    form = build_form()
    if request.method == "POST" and form.validate_on_submit():
        return submit(form, source_article=item.slug)
    return render_template("public/article.html", article=item, form=form)


@bp.route("/contact", methods=["GET", "POST"])
@form_limit
def contact():
    """The contact form on its own."""
    form = build_form()
    if request.method == "POST" and form.validate_on_submit():
        return submit(form, source_article=None)
    return render_template("public/contact.html", form=form)


@bp.get("/locations")
def locations():
    """The active offices with address, phone and hours."""
    return render_template("public/locations.html", offices=leads.active_locations(db.session))


@bp.get("/thanks/<signed>")
def thanks(signed: str):
    """What happens next, for the lead the signed reference names."""
    try:
        reference = thanks_serializer().loads(signed, max_age=THANKS_MAX_AGE)
    except BadData:
        abort(404)
    lead = db.first_or_404(select(Lead).where(Lead.reference == str(reference)))
    return render_template("public/thanks.html", lead=lead, office=lead.location)


@bp.get("/healthz")
def healthz():
    """200 when the database answers, 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not healthy"
        db.session.rollback()
        return jsonify(status="unavailable", database="down"), 503
    return jsonify(status="ok", database="up")


@bp.app_template_filter("tel")
def tel_filter(phone: str) -> str:
    """A printed US phone number as a tel: target (+12025550140)."""
    try:
        return normalise_phone(phone)
    except ValueError:
        return "".join(ch for ch in phone if ch.isdigit() or ch == "+")


@bp.errorhandler(429)
def too_many(error):
    """A person sending too often gets the offices' phone numbers, not a bare error."""
    logger.info("contact form rate limit reached")
    return render_template("public/rate_limited.html", offices=leads.active_locations(db.session)), 429


# ---- the form ------------------------------------------------------------------

def thanks_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=THANKS_SALT)


def thanks_url(reference: str) -> str:
    return url_for("public.thanks", signed=thanks_serializer().dumps(reference))


def build_form() -> ContactForm | BlankContactForm:
    """The form for this request: a POST's, with what was sent, or a fresh one for a GET.

    A fresh form holds nothing typed and no errors, so its visible fields come
    ready-made for these offices; it carries a new one-time token, and the
    visit's UTM tags and referrer to send back with it.
    """
    offices = leads.active_office_choices(db.session)
    if request.method == "POST":
        return ContactForm(offices=offices)
    hidden = {
        "csrf_token": generate_csrf(),
        "form_token": issue_form_token(clock.utcnow().timestamp()),
        "utm_source": clean_hidden(request.args.get("utm_source"), 100),
        "utm_medium": clean_hidden(request.args.get("utm_medium"), 100),
        "utm_campaign": clean_hidden(request.args.get("utm_campaign"), 100),
        "referrer": clean_hidden(request.referrer, 500),
    }
    return BlankContactForm(blank_fields_html(offices), {name: value or "" for name, value in hidden.items()})


def submit(form: ContactForm, *, source_article: str | None):
    """Store the inquiry, commit once, then send the person to the thank-you page."""
    now = clock.utcnow()
    token = read_form_token(form.form_token.data)
    if token is None:
        # Missing or altered: stored, but flagged for staff to look at.
        token_id, rendered_at = secrets.token_urlsafe(18), spam.BAD_TOKEN
    else:
        token_id, rendered_at = token
    submission = form.to_submission(
        token=token_id, rendered_at=rendered_at, source_path=request.path, source_article=source_article,
        ip_hash=keyed_hash(request.remote_addr or "", "ip"),
        consent_version=current_app.config["INTAKE_CONSENT_VERSION"],
    )
    result = leads.submit_lead(
        db.session, submission, now=now, default_slug=current_app.config["INTAKE_DEFAULT_LOCATION"],
        min_fill_seconds=current_app.config["INTAKE_MIN_FILL_SECONDS"],
    )
    reference = result.lead.reference
    db.session.commit()
    outbox.kick(current_app._get_current_object())
    return redirect(thanks_url(reference), 303)


def csrf_failure_response():
    """The form re-rendered after a CSRF failure, or None off the public form.

    No lead is made; every typed value comes back with a fresh CSRF token and a
    plain request to press Send again.
    """
    if request.method != "POST" or request.endpoint not in FORM_ENDPOINTS:
        return None
    db.session.rollback()
    form = build_form()
    form.csrf_expired = True
    if request.endpoint == "public.article":
        slug = (request.view_args or {}).get("slug", "")
        item = db.session.scalar(select(Article).where(Article.slug == slug))
        if item is None:
            return None
        return render_template("public/article.html", article=item, form=form), 400
    return render_template("public/contact.html", form=form), 400
