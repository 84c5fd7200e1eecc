"""Signing in and out, the two-step code, and changing one's own password."""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

import pyotp
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.routing import BuildError

from .. import auth, clock
from ..extensions import db
from ..leads import record_event
from ..models import StaffUser
from ..privacy import keyed_hash
from ..throttle import counter, used_codes
from . import bp
from .account_forms import LoginForm, PasswordForm, TotpForm

logger = logging.getLogger(__name__)

BAD_CREDENTIALS = "That email and password do not match an account."
BAD_CODE = "That code did not match. Check the time on your phone and try the newest code."
PENDING_MINUTES = 5
DEFAULT_IP_LIMIT = "50 per 15 minutes"
ISSUER = "Intake"


# ---- helpers ----------------------------------------------------------------------

def endpoint_url(endpoint: str, fallback: str, **values) -> str:
    """url_for when the endpoint exists yet, else a fixed path (blueprints grow in parallel)."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return fallback


def queue_url() -> str:
    """Where staff land after signing in."""
    return endpoint_url("staff.queue", "/staff/leads")


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def ip_hash() -> str:
    """The client address as a keyed hash, for audit rows and throttle keys (never the address)."""
    return keyed_hash(request.remote_addr or "unknown", "ip")


def throttle_keys(kind: str, account: str) -> list[tuple[str, str]]:
    """(limit, key) pairs for one attempt: per account and per client address."""
    config = current_app.config
    prefix = f"{config.get('RATELIMIT_KEY_PREFIX') or ''}intake-{kind}"
    return [(config["INTAKE_LOGIN_LIMIT"], f"{prefix}:account:{keyed_hash(account, 'throttle')}"),
            (config.get("INTAKE_LOGIN_IP_LIMIT", DEFAULT_IP_LIMIT), f"{prefix}:ip:{ip_hash()}")]


def throttled(keys: list[tuple[str, str]]):
    """The message saying how long to wait, or None when the attempt may go ahead."""
    wait = 0
    for limit, key in keys:
        verdict = counter().check(limit, key)
        if not verdict.allowed:
            wait = max(wait, verdict.wait_minutes)
    if not wait:
        return None
    logger.warning("sign-in attempt refused by the throttle")
    unit = "minute" if wait == 1 else "minutes"
    return f"Too many attempts. Try again in {wait} {unit}."


def count_failure(keys: list[tuple[str, str]]) -> None:
    """Count one failed attempt against the account and the address."""
    for limit, key in keys:
        counter().fail(limit, key)


def finish_sign_in(user: StaffUser, next_url: str | None, message: str | None = None):
    """Start a fresh session for ``user`` and go where they were headed."""
    now = clock.utcnow()
    session.clear()  # a new session: nothing from before sign-in carries over
    login_user(user)
    auth.start_session(now)
    if message:
        flash(message, "success")
    user.last_login_at = now
    record_event(db.session, "signed_in", actor_id=user.id, ip_hash=ip_hash(), now=now)
    db.session.commit()
    logger.info("staff user %s signed in", user.id)
    return redirect(safe_next(next_url) or queue_url(), 303)


def pending_user() -> StaffUser | None:
    """The user who passed the password step in this browser a moment ago, if any."""
    uid, version, at = session.get("pending_uid"), session.get("pending_version"), session.get("pending_at")
    if not isinstance(uid, int) or not isinstance(at, (int, float)):
        return None
    if clock.utcnow().timestamp() - at > PENDING_MINUTES * 60:
        return None
    user = db.session.get(StaffUser, uid)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def setup_user() -> StaffUser | None:
    """Who is setting up a two-step code: the signed-in user, or one required to before finishing sign-in."""
    if current_user.is_authenticated:
        return current_user
    user = pending_user()
    if user is not None and user.totp_required and not user.totp_enabled:
        return user
    return None


def matching_step(secret: str, code: str) -> int | None:
    """The time step whose code ``code`` is (now, or one step either side for clock drift), else None."""
    totp = pyotp.TOTP(secret)
    code = code.replace(" ", "").strip()
    now_step = totp.timecode(clock.utcnow())
    for step in (now_step, now_step - 1, now_step + 1):
        if hmac.compare_digest(code, totp.generate_otp(step)):
            return step
    return None


def verify_code(user_id: int, secret: str, code: str) -> bool:
    """True for a right code not used before: a code seen over someone's shoulder cannot be replayed."""
    step = matching_step(secret, code)
    if step is None:
        return False
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    return used_codes().first_time("1 per 3 minutes", f"{prefix}intake-code-used:{user_id}:{step}")


# ---- session limits for every staff and admin page --------------------------------

@bp.before_app_request
def enforce_session_limits():
    """Sign out a staff session that sat idle too long or is older than 12 hours."""
    if request.blueprint not in ("staff", "admin") or not current_user.is_authenticated:
        return None
    now = clock.utcnow()
    why = auth.session_expired(now, current_app.config["INTAKE_IDLE_MINUTES"])
    if why is None:
        session["last_seen"] = now.timestamp()
        if (current_user.totp_required and not current_user.totp_enabled
                and request.endpoint not in ("staff.totp_setup", "staff.logout", "staff.login")):
            flash("An administrator requires a two-step code for your account. Please set it up now.", "info")
            return redirect(url_for("staff.totp_setup"), 303)
        return None
    record_event(db.session, "signed_out", actor_id=current_user.id, ip_hash=ip_hash(),
                 detail="idle time-out" if why == "idle" else "session time limit", now=now)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You were signed out after a period without activity. Please sign in again."
          if why == "idle" else "Your session reached its time limit. Please sign in again.", "info")
    back = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("staff.login", next=back), 303)


@bp.app_context_processor
def staff_links():
    """Lets the staff layout link to pages whose blueprints may not exist yet."""
    return {"endpoint_url": endpoint_url}


# ---- views ------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    """The email and password step; a second step follows for two-step accounts."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or queue_url(), 303)
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if not form.validate_on_submit():
        return render_template("staff/login.html", form=form), 400 if request.method == "POST" else 200

    email = auth.normalize_email(form.email.data)
    keys = throttle_keys("login", email)
    message = throttled(keys)
    if message:
        return render_template("staff/login.html", form=form, error=message), 429

    result = auth.check_credentials(db.session, email, form.password.data)
    if not result.ok:
        count_failure(keys)
        record_event(db.session, "sign_in_failed", actor_id=result.user.id if result.user else None,
                     detail=result.reason, ip_hash=ip_hash())
        db.session.commit()
        logger.info("failed sign-in: %s", result.reason)
        return render_template("staff/login.html", form=form, error=BAD_CREDENTIALS), 401

    user = result.user
    counter().clear(*keys[0])
    if not (user.totp_enabled or user.totp_required):
        return finish_sign_in(user, form.next.data)
    db.session.commit()  # keep a rehashed password
    session.clear()
    session.update(pending_uid=user.id, pending_version=user.session_version,
                   pending_at=clock.utcnow().timestamp(), pending_next=safe_next(form.next.data) or "")
    if user.totp_enabled:
        return redirect(url_for("staff.login_code"), 303)
    flash("Your account needs a two-step code. Set it up now to finish signing in.", "info")
    return redirect(url_for("staff.totp_setup"), 303)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """The second step: a code from the user's authenticator app."""
    user = pending_user()
    if user is None or not user.totp_enabled:
        session.clear()
        flash("Please sign in again.", "info")
        return redirect(url_for("staff.login"), 303)
    form = TotpForm()
    if not form.validate_on_submit():
        return render_template("staff/totp_verify.html", form=form), 400 if request.method == "POST" else 200
    keys = throttle_keys("code", str(user.id))
    message = throttled(keys)
    if message:
        return render_template("staff/totp_verify.html", form=form, error=message), 429
    if not verify_code(user.id, user.totp_secret or "", form.code.data):
        count_failure(keys)
        record_event(db.session, "sign_in_failed", actor_id=user.id, detail="wrong two-step code",
                     ip_hash=ip_hash())
        db.session.commit()
        return render_template("staff/totp_verify.html", form=form, error=BAD_CODE), 401
    counter().clear(*keys[0])
    return finish_sign_in(user, session.get("pending_next"))


@bp.route("/account/two-step", methods=["GET", "POST"])
def totp_setup():
    """Turn on a two-step code: show the secret, then confirm one code from the app."""
    user = setup_user()
    if user is None:
        return redirect(url_for("staff.login", next=url_for("staff.totp_setup")), 303)
    if user.totp_enabled:
        return render_template("staff/totp_setup.html", enabled=True, form=TotpForm())
    secret = session.get("totp_setup_secret")
    if not isinstance(secret, str) or len(secret) != 32:
        secret = session["totp_setup_secret"] = pyotp.random_base32(32)
    form = TotpForm()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    if not form.validate_on_submit() or not verify_code(user.id, secret, form.code.data):
        error = BAD_CODE if form.is_submitted() and not form.errors else None
        status = 400 if request.method == "POST" else 200
        return render_template("staff/totp_setup.html", form=form, secret=secret, uri=uri, error=error,
                               enabled=False), status
    user.totp_secret = secret
    user.totp_enabled = True
    session.pop("totp_setup_secret", None)
    record_event(db.session, "totp_enabled", actor_id=user.id, ip_hash=ip_hash())
    if not current_user.is_authenticated:
        return finish_sign_in(user, session.get("pending_next"), "Two-step sign-in is on.")
    db.session.commit()
    flash("Two-step sign-in is on. You will be asked for a code each time you sign in.", "success")
    return redirect(url_for("staff.totp_setup"), 303)


@bp.post("/account/two-step/off")
@login_required
def totp_off():
    """Turn two-step sign-in off, when no administrator requires it; a current code proves the phone is at hand."""
    user = current_user._get_current_object()
    form = TotpForm()
    if user.totp_required or not user.totp_enabled:
        return redirect(url_for("staff.totp_setup"), 303)
    if not form.validate_on_submit() or not verify_code(user.id, user.totp_secret or "", form.code.data):
        error = None if form.errors else BAD_CODE
        return render_template("staff/totp_setup.html", enabled=True, form=form, error=error), 400
    user.totp_enabled = False
    user.totp_secret = None
    record_event(db.session, "totp_disabled", actor_id=user.id, ip_hash=ip_hash())
    db.session.commit()
    flash("Two-step sign-in is off.", "success")
    return redirect(url_for("staff.totp_setup"), 303)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password; every other session of this account ends."""
    form = PasswordForm()
    if not form.validate_on_submit():
        return render_template("staff/password.html", form=form), 400 if request.method == "POST" else 200
    user = current_user._get_current_object()
    if not auth.check_credentials(db.session, user.email, form.current.data).ok:
        form.current.errors.append("That is not your current password.")
        return render_template("staff/password.html", form=form), 400
    try:
        auth.set_password(db.session, user, form.new.data)
    except auth.AccountError as exc:
        form.new.errors.append(str(exc))
        return render_template("staff/password.html", form=form), 400
    record_event(db.session, "password_changed", actor_id=user.id, ip_hash=ip_hash())
    db.session.commit()
    # This browser stays signed in under the new session version; all others end.
    signed_in_at = session.get("signed_in_at")
    session.clear()
    login_user(user)
    auth.start_session(clock.utcnow())
    if isinstance(signed_in_at, (int, float)):
        session["signed_in_at"] = signed_in_at  # a password change does not extend the 12 hours
    flash("Your password is changed. Other devices are signed out.", "success")
    return redirect(queue_url(), 303)


@bp.post("/logout")
def logout():
    """Sign out here and everywhere: every copy of this user's session cookie stops working."""
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        auth.end_all_sessions(user)
        record_event(db.session, "signed_out", actor_id=user.id, ip_hash=ip_hash())
        db.session.commit()
        logger.info("staff user %s signed out", user.id)
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("staff.login"), 303)
