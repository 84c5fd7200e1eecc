"""Pages a prospective patient sees."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import text

from ..extensions import db
from . import bp


@bp.get("/healthz")
def healthz():
    """200 when the database answers, 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not healthy"
        db.session.rollback()
        return jsonify(status="unavailable", database="down"), 503
    return jsonify(status="ok", database="up")


def csrf_failure_response():
    """The form re-rendered after a CSRF failure, or None off the public form."""
    return None
