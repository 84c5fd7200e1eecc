"""Staff sessions end when they should: sign-out, time-outs, deactivation, password changes."""

from __future__ import annotations

from sqlalchemy import select

from intake import auth
from intake.extensions import db
from intake.models import AuditEvent, StaffUser
from tests.helpers import csrf_token

PROTECTED = "/staff/account/password"  # any page that needs a signed-in user


def signed_in(client) -> bool:
    return client.get(PROTECTED).status_code == 200


def replay(app, cookie_value):
    """A fresh browser holding a copy of someone's session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie_value, domain="localhost")
    return other


def sign_out(client):
    page = client.get(PROTECTED)
    return client.post("/staff/logout", data={"csrf_token": csrf_token(page)})


def change_user(app, email, fn):
    with app.app_context():
        fn(db.session, auth.find_user(db.session, email))
        db.session.commit()


def test_cookie_copied_before_sign_out_is_refused_after(app, client, make_staff, login_as):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    copied = client.get_cookie("session").value
    assert signed_in(replay(app, copied))  # the copy works while the session lives

    response = sign_out(client)
    assert response.status_code == 303 and response.location == "/staff/login"
    assert not signed_in(client)
    thief = replay(app, copied)
    response = thief.get(PROTECTED)
    assert response.status_code == 302
    assert response.location.startswith("/staff/login")
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "signed_out")) == "signed_out"


def test_logout_needs_post_with_csrf(client, make_staff, login_as):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    assert client.get("/staff/logout").status_code == 405
    assert client.post("/staff/logout").status_code == 400
    assert signed_in(client)


def test_sign_in_starts_a_new_session(client, make_staff, login_as):
    user = make_staff(locations=["bethesda-md"])
    with client.session_transaction() as sess:
        sess["planted"] = "by someone else"
    login_as(client, user)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == f"{user.id}:{user.session_version}"


def test_idle_session_ends(app, client, make_staff, login_as, frozen_clock):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    frozen_clock.advance(minutes=14)
    assert signed_in(client)  # activity resets the idle clock
    frozen_clock.advance(minutes=14)
    assert signed_in(client)
    frozen_clock.advance(minutes=15, seconds=1)
    response = client.get(PROTECTED)
    assert response.status_code == 303
    assert response.location.startswith("/staff/login?next=")
    page = client.get(response.location).get_data(as_text=True)
    assert "signed out after a period without activity" in page
    assert not signed_in(client)
    with app.app_context():
        detail = db.session.scalar(select(AuditEvent.detail).where(AuditEvent.action == "signed_out"))
    assert detail == "idle time-out"


def test_idle_minutes_come_from_the_environment(make_app, make_staff, login_as, frozen_clock):
    app = make_app(INTAKE_IDLE_MINUTES="5")
    client = app.test_client()
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    frozen_clock.advance(minutes=5)
    assert not signed_in(client)


def test_session_ends_after_twelve_hours_even_when_busy(client, make_staff, login_as, frozen_clock):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    for _ in range(71):  # a request every 10 minutes for 11 h 50 min
        frozen_clock.advance(minutes=10)
        assert signed_in(client)
    frozen_clock.advance(minutes=10)
    response = client.get(PROTECTED)
    assert response.status_code == 303
    assert "time limit" in client.get(response.location).get_data(as_text=True)


def test_deactivation_ends_every_session(app, client, make_staff, login_as):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    other_device = app.test_client()
    login_as(other_device, user)
    change_user(app, user.email, auth.deactivate)
    assert not signed_in(client)
    assert not signed_in(other_device)


def test_password_reset_ends_every_session(app, client, make_staff, login_as):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    change_user(app, user.email, lambda s, u: auth.set_password(s, u, "a brand new passphrase for tuesday"))
    assert not signed_in(client)
    login_as(client, user, password="a brand new passphrase for tuesday")
    assert signed_in(client)


def test_changing_own_password_keeps_this_session_and_ends_others(app, client, make_staff, login_as):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    other_device = app.test_client()
    login_as(other_device, user)
    page = client.get(PROTECTED)
    response = client.post(PROTECTED, data={
        "csrf_token": csrf_token(page), "current": "correct horse battery staple 42",
        "new": "seven orange kites over the bay", "confirm": "seven orange kites over the bay"})
    assert response.status_code == 303
    assert signed_in(client)
    assert not signed_in(other_device)
    with app.app_context():
        stored = db.session.get(StaffUser, user.id)
        assert stored.password_changed_at is not None
        assert "seven orange" not in stored.password_hash
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == user.id)).all()
    assert "password_changed" in actions


def test_changing_own_password_checks_the_rules(client, make_staff, login_as):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    page = client.get(PROTECTED)
    response = client.post(PROTECTED, data={
        "csrf_token": csrf_token(page), "current": "correct horse battery staple 42",
        "new": "password12345678", "confirm": "password12345678"})
    assert response.status_code == 400
    assert "too common" in response.get_data(as_text=True)
    page = client.get(PROTECTED)
    response = client.post(PROTECTED, data={
        "csrf_token": csrf_token(page), "current": "not my password at all, sorry",
        "new": "seven orange kites over the bay", "confirm": "seven orange kites over the bay"})
    assert response.status_code == 400
    assert "not your current password" in response.get_data(as_text=True)


def test_static_files_never_resend_the_session_cookie(client, make_staff, login_as):
    """A stylesheet answered after a newer page must not put the older session back."""
    login_as(client, make_staff(locations=["bethesda-md"]))
    assert client.get("/staff/leads").status_code == 200
    response = client.get("/static/site.css")
    response.close()
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
