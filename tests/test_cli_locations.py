"""`flask --app intake locations ...`: inboxes set from the command line."""

from __future__ import annotations

from sqlalchemy import select

from intake.extensions import db
from intake.models import Location


def inboxes(app, slug):
    with app.app_context():
        return db.session.scalar(select(Location).where(Location.slug == slug)).inbox_emails


def test_set_inbox_replaces_the_addresses(app, runner):
    out = runner.invoke(args=["locations", "set-inbox", "annapolis-md",
                              "desk@example.org, Manager@Example.org,desk@example.org"])
    assert out.exit_code == 0, out.output
    assert inboxes(app, "annapolis-md") == ["desk@example.org", "Manager@example.org"]
    assert "Annapolis, MD: desk@example.org" in out.output


def test_set_inbox_refuses_a_bad_address_and_keeps_the_old_ones(app, runner):
    out = runner.invoke(args=["locations", "set-inbox", "annapolis-md", "desk@example.org,not an address"])
    assert out.exit_code == 2
    assert "not an address" in out.output
    assert inboxes(app, "annapolis-md") == ["annapolis-md@example.org"]


def test_set_inbox_refuses_an_unknown_office(runner):
    out = runner.invoke(args=["locations", "set-inbox", "baltimore-md", "desk@example.org"])
    assert out.exit_code == 2
    assert "no office with slug 'baltimore-md'" in out.output


def test_list_shows_inactive_offices(app, runner):
    with app.app_context():
        db.session.scalar(select(Location).where(Location.slug == "fairfax-va")).active = False
        db.session.commit()
    lines = runner.invoke(args=["locations", "list"]).output.splitlines()
    assert len(lines) == 6
    assert [l for l in lines if l.startswith("fairfax-va")][0].endswith("(inactive)")
    assert not any(l.endswith("(inactive)") for l in lines if not l.startswith("fairfax-va"))
