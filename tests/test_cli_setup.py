"""`flask --app intake setup`: migrate and seed, again and again without harm."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from intake import create_app

from intake.extensions import db
from intake.models import Article, Location, LocationInbox
from intake.seed import load_article_files


@pytest.fixture
def fresh_app(app_env, tmp_path):
    """An app on an empty SQLite file: no tables, no rows."""
    app_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    app = create_app("testing")
    yield app
    with app.app_context():
        db.engine.dispose()


def invoke(app, *args):
    """Run a command as `flask --app intake ...` would: inside an app context."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def counts(app):
    with app.app_context():
        return (db.session.scalar(select(func.count(Location.id))),
                db.session.scalar(select(func.count(Article.id))),
                db.session.scalar(select(func.count(LocationInbox.id))))


def test_setup_on_a_fresh_database_is_idempotent(fresh_app):
    app = fresh_app
    first = invoke(app, "setup")
    assert first.exit_code == 0, first.output
    after_first = counts(app)
    second = invoke(app, "setup")
    assert second.exit_code == 0, second.output
    assert counts(app) == after_first
    offices, articles, inboxes = after_first
    assert offices == 6 and inboxes == 6
    assert articles == len(load_article_files()) and articles >= 1
    with app.app_context():
        slugs = db.session.scalars(select(Location.slug).order_by(Location.position)).all()
    assert slugs == ["washington-dc", "bethesda-md", "columbia-md", "annapolis-md", "arlington-va", "fairfax-va"]


def test_setup_keeps_admin_edits(fresh_app):
    app = fresh_app
    assert invoke(app, "setup").exit_code == 0
    with app.app_context():
        office = db.session.scalar(select(Location).where(Location.slug == "bethesda-md"))
        office.inboxes[0].email = "front-desk@example.org"
        db.session.commit()
    assert invoke(app, "setup").exit_code == 0
    with app.app_context():
        office = db.session.scalar(select(Location).where(Location.slug == "bethesda-md"))
        assert office.inbox_emails == ["front-desk@example.org"]


def test_setup_on_the_test_database(app):
    assert invoke(app, "setup").exit_code == 0
    assert invoke(app, "setup").exit_code == 0
    offices, articles, _ = counts(app)
    assert offices == 6 and articles == len(load_article_files())
