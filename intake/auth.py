"""Signing staff in and keeping sessions honest.

The session cookie carries ``"<user id>:<session version>"``; bumping the
version on sign-out, deactivation or password reset ends every copy of every
session of that user. The domain functions here take a ``session``, flush
but never commit; views and CLI commands commit.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask import abort, session as cookie
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import clock, passwords
from .extensions import db, login_manager
from .models import Location, StaffUser

logger = logging.getLogger(__name__)

login_manager.login_view = "staff.login"
login_manager.login_message = "Please sign in to continue."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"

ROLES = ("admin", "staff")
MAX_SESSION_HOURS = 12

__all__ = ["login_required", "admin_required", "load_user"]


@login_manager.user_loader
def load_user(user_id: str) -> StaffUser | None:
    try:
        uid, version = (int(part) for part in user_id.split(":", 1))
    except ValueError:
        return None
    user = db.session.scalar(select(StaffUser).where(StaffUser.id == uid))
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def admin_required(view):
    """Signed-in admins only; signed-in staff get 404, as for a page they cannot know of."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(404)
        return view(*args, **kwargs)

    return wrapped


class AccountError(ValueError):
    """A request about an account that cannot be carried out; the message is safe to show."""


# ---- looking people up and checking passwords ----------------------------------

def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_user(session: Session, email: str) -> StaffUser | None:
    """The account with this email, compared without regard to case."""
    return session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == normalize_email(email)))


@dataclass
class SignInCheck:
    """The outcome of checking an email and password: the user when they match."""

    user: StaffUser | None
    reason: str  # "ok", "unknown account", "inactive account", "wrong password"

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


def check_credentials(session: Session, email: str, password: str) -> SignInCheck:
    """Match an email and password, taking about as long whether or not the account exists."""
    user = find_user(session, email)
    if user is None:
        passwords.burn_verify_time(password)
        return SignInCheck(None, "unknown account")
    if not passwords.verify_password(user.password_hash, password):
        return SignInCheck(user, "wrong password")
    if not user.active:
        return SignInCheck(user, "inactive account")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        session.flush()
    return SignInCheck(user, "ok")


# ---- changing accounts ----------------------------------------------------------

def end_all_sessions(user: StaffUser) -> None:
    """Make every session cookie ever issued to ``user`` stop working."""
    user.session_version = (user.session_version or 1) + 1


def set_password(session: Session, user: StaffUser, password: str, *, now: datetime | None = None) -> None:
    """Give ``user`` a new password that meets the rules, and end their other sessions."""
    problems = passwords.password_problems(password, user.email)
    if problems:
        raise AccountError(" ".join(problems))
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now or clock.utcnow()
    end_all_sessions(user)
    session.flush()
    logger.info("password changed for staff user %s", user.id)


def create_user(session: Session, email: str, password: str, *, role: str = "staff",
                location_slugs: tuple[str, ...] | list[str] = (), name: str = "") -> StaffUser:
    """Add a staff or admin account after checking the email, offices and password."""
    if role not in ROLES:
        raise AccountError(f"Role must be one of: {', '.join(ROLES)}.")
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"That email address is not valid: {exc}") from None
    if find_user(session, email) is not None:
        raise AccountError(f"An account for {email} already exists.")
    locations = []
    for slug in dict.fromkeys(location_slugs):
        location = session.scalar(select(Location).where(Location.slug == slug))
        if location is None:
            known = ", ".join(session.scalars(select(Location.slug).order_by(Location.position)))
            raise AccountError(f"No office with slug {slug!r}. Known offices: {known}.")
        locations.append(location)
    if role == "staff" and not locations:
        raise AccountError("A staff account needs at least one office (--location SLUG).")
    problems = passwords.password_problems(password, email)
    if problems:
        raise AccountError(" ".join(problems))
    user = StaffUser(email=email, name=name.strip(), role=role, password_hash=passwords.hash_password(password),
                     password_changed_at=clock.utcnow(), locations=locations)
    session.add(user)
    session.flush()
    logger.info("created %s account %s", role, user.id)
    return user


def deactivate(session: Session, user: StaffUser) -> None:
    """Stop ``user`` from signing in, and end the sessions they have now."""
    user.active = False
    end_all_sessions(user)
    session.flush()
    logger.info("deactivated staff user %s", user.id)


def reset_two_step(session: Session, user: StaffUser) -> None:
    """Forget ``user``'s authenticator (a lost phone); they set it up again if it is required."""
    user.totp_secret = None
    user.totp_enabled = False
    end_all_sessions(user)
    session.flush()
    logger.info("two-step sign-in reset for staff user %s", user.id)


# ---- session lifetime ---------------------------------------------------------

def start_session(now: datetime) -> None:
    """Note when this browser signed in, for the absolute and idle limits."""
    cookie["signed_in_at"] = now.timestamp()
    cookie["last_seen"] = now.timestamp()
    cookie.permanent = True


def session_expired(now: datetime, idle_minutes: float) -> str | None:
    """Why the current signed-in session is over ("idle" or "age"), or None when it may go on."""
    signed_in_at = cookie.get("signed_in_at")
    last_seen = cookie.get("last_seen")
    if not isinstance(signed_in_at, (int, float)) or not isinstance(last_seen, (int, float)):
        return "age"
    stamp = now.timestamp()
    if stamp - signed_in_at >= MAX_SESSION_HOURS * 3600:
        return "age"
    if stamp - last_seen >= idle_minutes * 60:
        return "idle"
    return None
