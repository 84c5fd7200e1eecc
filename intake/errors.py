"""Error pages: plain, friendly, and never holding what the person typed."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError

from .extensions import db

logger = logging.getLogger(__name__)


def register(app: Flask) -> None:
    @app.errorhandler(400)
    def bad_request(error):
        return render_template("errors/400.html"), 400

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        # The public form re-renders with every value kept; see public.views.
        from .public.views import csrf_failure_response

        response = csrf_failure_response()
        if response is not None:
            return response
        return render_template("errors/400.html", csrf=True), 400

    @app.errorhandler(404)
    def not_found(error):
        return render_template("errors/404.html"), 404

    @app.errorhandler(405)
    def not_allowed(error):
        return render_template("errors/404.html"), 405

    @app.errorhandler(413)
    def too_large(error):
        return render_template("errors/413.html"), 413

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        # The path only: query strings and bodies may hold patient details.
        logger.error("500 on %s %s", request.method, request.path)
        return render_template("errors/500.html"), 500
