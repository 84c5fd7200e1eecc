"""Intake: articles, a contact form and a triage dashboard for a clinic chain."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import config

from . import caching, commands, database, errors, metrics, rollups, security
from .extensions import csrf, db, limiter, login_manager, mail, migrate


def create_app(config_name: str | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, error pages, CLI."""
    app = Flask(__name__, template_folder="../templates", instance_relative_config=True)
    app.config.from_object(config.load(config_name))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if app.config["INTAKE_PROXY_HOPS"]:
        # Exactly one trusted hop: the load balancer in front of gunicorn.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    db.init_app(app)
    database.init_app(app)
    rollups.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"), render_as_batch=True, compare_type=True)
    mail.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    from .public import bp as public_bp
    from .staff import bp as staff_bp
    from .admin import bp as admin_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(admin_bp)

    errors.register(app)
    security.register(app)
    metrics.register(app)
    caching.register(app)
    commands.register(app)
    return app
