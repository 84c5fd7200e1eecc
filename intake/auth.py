"""Signing staff in and keeping sessions honest.

The session cookie carries ``"<user id>:<session version>"``; bumping the
version on sign-out, deactivation or password reset ends every copy of every
session of that user.
"""

from __future__ import annotations

import functools

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import select

from .extensions import db, login_manager
from .models import StaffUser

login_manager.login_view = "staff.login"
login_manager.login_message = "Please sign in to continue."
login_manager.session_protection = "basic"

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
