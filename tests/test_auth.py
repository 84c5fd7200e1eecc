"""Signing in and out: messages, redirects, throttling, audit rows, CSRF."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from intake.extensions import db
from intake.models import AuditEvent, StaffUser
from tests.conftest import STRONG_PASSWORD
from tests.helpers import csrf_token

BAD = "That email and password do not match an account."


def post_login(client, email, password, **extra):
    page = client.get("/staff/login")
    return client.post("/staff/login", data={"email": email, "password": password,
                                              "csrf_token": csrf_token(page), **extra})


def audit(app, action):
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                  .order_by(AuditEvent.id)).all()


def test_login_page_has_the_contract_labels(client):
    html = client.get("/staff/login").get_data(as_text=True)
    labels = dict((for_, text.strip()) for for_, text in re.findall(r'<label[^>]*for="([^"]+)"[^>]*>([^<]*)</label>', html))
    assert labels == {"email": "Email", "password": "Password"}
    assert re.search(r'<input[^>]*id="email"[^>]*type="email"', html)
    assert re.search(r'<input[^>]*id="password"[^>]*type="password"', html)
    assert re.search(r'<button type="submit"[^>]*>Sign in</button>', html)


def test_sign_in_redirects_to_the_queue_and_records_it(app, client, make_staff):
    user = make_staff(locations=["bethesda-md"])
    response = post_login(client, user.email.upper(), STRONG_PASSWORD)
    assert response.status_code == 303
    assert response.location == "/staff/leads"
    events = audit(app, "signed_in")
    assert [e.actor_id for e in events] == [user.id]
    assert events[0].ip_hash and "127.0.0.1" not in events[0].ip_hash


def test_unknown_email_and_wrong_password_answer_the_same(app, client, make_staff):
    user = make_staff(locations=["bethesda-md"])
    wrong = post_login(client, user.email, "not the right password at all")
    unknown = post_login(client, "nobody@example.org", "not the right password at all")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: r.get_data(as_text=True).split('name="csrf_token"')[0] + r.get_data(as_text=True).split(
        'name="csrf_token"')[1].split(">", 1)[1].replace(user.email, "X").replace("nobody@example.org", "X")
    assert strip(wrong) == strip(unknown)
    assert BAD in wrong.get_data(as_text=True)
    failed = audit(app, "sign_in_failed")
    assert [(e.actor_id, e.detail) for e in failed] == [(user.id, "wrong password"), (None, "unknown account")]
    assert all("not the right password" not in e.detail for e in failed)


def test_sign_in_without_csrf_token_is_refused(client, make_staff):
    user = make_staff(locations=["bethesda-md"])
    response = client.post("/staff/login", data={"email": user.email, "password": STRONG_PASSWORD})
    assert response.status_code == 400
    assert client.get("/staff/account/password").status_code == 302


@pytest.mark.parametrize("target, expected", [
    ("/staff/leads/7", "/staff/leads/7"),
    ("/staff/leads?status=new", "/staff/leads?status=new"),
    ("https://evil.example/", "/staff/leads"),
    ("//evil.example/x", "/staff/leads"),
    ("/\\evil.example", "/staff/leads"),
    ("javascript:alert(1)", "/staff/leads"),
])
def test_next_is_followed_only_on_this_site(client, make_staff, target, expected):
    user = make_staff(locations=["bethesda-md"])
    response = post_login(client, user.email, STRONG_PASSWORD, next=target)
    assert response.status_code == 303
    assert response.location == expected


def test_deactivated_user_cannot_sign_in(app, client, make_staff):
    user = make_staff(locations=["bethesda-md"])
    with app.app_context():
        from intake import auth
        auth.deactivate(db.session, auth.find_user(db.session, user.email))
        db.session.commit()
    response = post_login(client, user.email, STRONG_PASSWORD)
    assert response.status_code == 401
    assert BAD in response.get_data(as_text=True)


# ---- throttling ---------------------------------------------------------------

TOO_MANY = re.compile(r"Too many attempts\. Try again in (\d+) minutes?\.")


def throttled_app(make_app, **env):
    app = make_app(RATELIMIT_ENABLED="true", **env)
    app.config["INTAKE_LOGIN_LIMIT"] = "3 per 15 minutes"
    app.config["INTAKE_LOGIN_IP_LIMIT"] = "5 per 15 minutes"
    return app


@pytest.mark.parametrize("storage", ["memory://", "redis://127.0.0.1:1"])
def test_failed_sign_ins_are_throttled_per_account(make_app, make_staff, storage):
    """With Redis unreachable the count goes on in memory: it never lets every attempt through."""
    app = throttled_app(make_app, RATELIMIT_STORAGE_URI=storage)
    client = app.test_client()
    user = make_staff(locations=["bethesda-md"])
    for _ in range(3):
        assert post_login(client, user.email, "a wrong guess at the password").status_code == 401
    # Even the right password waits now: the account is locked for a while.
    response = post_login(client, user.email, STRONG_PASSWORD)
    assert response.status_code == 429
    match = TOO_MANY.search(response.get_data(as_text=True))
    assert match and 1 <= int(match.group(1)) <= 15
    assert client.get("/staff/account/password").status_code == 302
    # Another account from another address is unaffected.
    other = make_staff(locations=["bethesda-md"])
    elsewhere = app.test_client()
    page = elsewhere.get("/staff/login", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    response = elsewhere.post("/staff/login", environ_base={"REMOTE_ADDR": "10.0.0.9"},
                              data={"email": other.email, "password": STRONG_PASSWORD, "csrf_token": csrf_token(page)})
    assert response.status_code == 303


def test_failed_sign_ins_are_throttled_per_address(make_app, make_staff):
    app = throttled_app(make_app)
    client = app.test_client()
    users = [make_staff(locations=["bethesda-md"]) for _ in range(6)]
    for user in users[:5]:  # one wrong guess each at five accounts
        assert post_login(client, user.email, "a wrong guess at the password").status_code == 401
    response = post_login(client, users[5].email, STRONG_PASSWORD)
    assert response.status_code == 429 and TOO_MANY.search(response.get_data(as_text=True))


def test_only_failures_count(make_app, make_staff):
    app = throttled_app(make_app)
    client = app.test_client()
    user = make_staff(locations=["bethesda-md"])
    for _ in range(6):
        assert post_login(client, user.email, STRONG_PASSWORD).status_code == 303
        page = client.get("/staff/account/password")
        client.post("/staff/logout", data={"csrf_token": csrf_token(page)})


def test_unknown_accounts_are_throttled_like_real_ones(make_app):
    app = throttled_app(make_app)
    client = app.test_client()
    for _ in range(3):
        assert post_login(client, "ghost@example.org", "a wrong guess at the password").status_code == 401
    assert post_login(client, "ghost@example.org", "a wrong guess at the password").status_code == 429


# ---- two-step codes -------------------------------------------------------------

def secret_from(page) -> str:
    html = page.get_data(as_text=True)
    return re.search(r"secret=([A-Z2-7]+)", html).group(1)


def set_up_totp(client, frozen_clock):
    page = client.get("/staff/account/two-step")
    assert page.status_code == 200
    secret = secret_from(page)
    assert "otpauth://totp/" in page.get_data(as_text=True)
    response = client.post("/staff/account/two-step", data={
        "csrf_token": csrf_token(page), "code": pyotp.TOTP(secret).at(frozen_clock.now)})
    assert response.status_code == 303, response.get_data(as_text=True)
    return secret


def test_totp_on_then_required_at_sign_in(app, client, make_staff, login_as, frozen_clock):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    page = client.get("/staff/account/two-step")
    wrong = client.post("/staff/account/two-step", data={"csrf_token": csrf_token(page), "code": "000000"})
    assert wrong.status_code == 400 and "did not match" in wrong.get_data(as_text=True)
    secret = set_up_totp(client, frozen_clock)
    assert "totp_enabled" in [e.action for e in audit(app, "totp_enabled")]

    fresh = app.test_client()
    response = post_login(fresh, user.email, STRONG_PASSWORD)
    assert response.status_code == 303 and response.location == "/staff/login/code"
    assert fresh.get("/staff/account/password").status_code == 302  # not signed in yet
    page = fresh.get("/staff/login/code")
    response = fresh.post("/staff/login/code", data={"csrf_token": csrf_token(page), "code": "123456"})
    assert response.status_code == 401
    frozen_clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(frozen_clock.now)
    response = fresh.post("/staff/login/code", data={"csrf_token": csrf_token(page), "code": code[:3] + " " + code[3:]})
    assert response.status_code == 303 and response.location == "/staff/leads"
    assert fresh.get("/staff/account/password").status_code == 200
    assert [e.detail for e in audit(app, "sign_in_failed")] == ["wrong two-step code"]


def test_code_step_expires(app, client, make_staff, login_as, frozen_clock):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    secret = set_up_totp(client, frozen_clock)
    fresh = app.test_client()
    post_login(fresh, user.email, STRONG_PASSWORD)
    page = fresh.get("/staff/login/code")
    frozen_clock.advance(minutes=6)
    response = fresh.post("/staff/login/code", data={"csrf_token": csrf_token(page),
                                                     "code": pyotp.TOTP(secret).at(frozen_clock.now)})
    assert response.status_code == 303 and response.location == "/staff/login"
    assert fresh.get("/staff/account/password").status_code == 302


def test_code_step_is_throttled(make_app, make_staff, frozen_clock):
    app = throttled_app(make_app)
    client = app.test_client()
    user = make_staff(locations=["bethesda-md"])
    with app.app_context():
        stored = db.session.get(StaffUser, user.id)
        stored.totp_secret, stored.totp_enabled = pyotp.random_base32(), True
        secret = stored.totp_secret
        db.session.commit()
    post_login(client, user.email, STRONG_PASSWORD)
    page = client.get("/staff/login/code")
    for _ in range(3):
        assert client.post("/staff/login/code", data={"csrf_token": csrf_token(page), "code": "000000"}).status_code == 401
    response = client.post("/staff/login/code", data={"csrf_token": csrf_token(page),
                                                      "code": pyotp.TOTP(secret).at(frozen_clock.now)})
    assert response.status_code == 429 and TOO_MANY.search(response.get_data(as_text=True))


def test_required_totp_is_set_up_before_sign_in_finishes(app, client, make_staff, frozen_clock):
    user = make_staff(locations=["bethesda-md"])
    with app.app_context():
        db.session.get(StaffUser, user.id).totp_required = True
        db.session.commit()
    response = post_login(client, user.email, STRONG_PASSWORD, next="/staff/leads/5")
    assert response.status_code == 303 and response.location == "/staff/account/two-step"
    assert client.get("/staff/account/password").status_code == 302  # not signed in yet
    page = client.get("/staff/account/two-step")
    response = client.post("/staff/account/two-step", data={
        "csrf_token": csrf_token(page), "code": pyotp.TOTP(secret_from(page)).at(frozen_clock.now)})
    assert response.status_code == 303 and response.location == "/staff/leads/5"
    assert client.get("/staff/account/password").status_code == 200
    with app.app_context():
        assert db.session.get(StaffUser, user.id).totp_enabled


def test_signed_in_user_newly_required_is_sent_to_set_up(app, client, make_staff, login_as):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    with app.app_context():
        db.session.get(StaffUser, user.id).totp_required = True
        db.session.commit()
    response = client.get("/staff/account/password")
    assert response.status_code == 303 and response.location == "/staff/account/two-step"


def test_two_step_page_needs_a_user(client):
    response = client.get("/staff/account/two-step")
    assert response.status_code == 303 and response.location.startswith("/staff/login")


def test_a_code_works_once(app, client, make_staff, login_as, frozen_clock):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    secret = set_up_totp(client, frozen_clock)
    frozen_clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(frozen_clock.now)
    first, second = app.test_client(), app.test_client()
    for browser in (first, second):
        post_login(browser, user.email, STRONG_PASSWORD)
    page = first.get("/staff/login/code")
    assert first.post("/staff/login/code", data={"csrf_token": csrf_token(page), "code": code}).status_code == 303
    page = second.get("/staff/login/code")
    assert second.post("/staff/login/code", data={"csrf_token": csrf_token(page), "code": code}).status_code == 401
    frozen_clock.advance(seconds=30)
    fresh = pyotp.TOTP(secret).at(frozen_clock.now)
    assert second.post("/staff/login/code", data={"csrf_token": csrf_token(page), "code": fresh}).status_code == 303


def test_turning_totp_off_needs_a_code_and_not_a_requirement(app, client, make_staff, login_as, frozen_clock):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    secret = set_up_totp(client, frozen_clock)
    page = client.get("/staff/account/two-step")
    assert "Turn off two-step sign-in" in page.get_data(as_text=True)
    response = client.post("/staff/account/two-step/off", data={"csrf_token": csrf_token(page), "code": "000000"})
    assert response.status_code == 400
    frozen_clock.advance(seconds=30)
    response = client.post("/staff/account/two-step/off", data={
        "csrf_token": csrf_token(page), "code": pyotp.TOTP(secret).at(frozen_clock.now)})
    assert response.status_code == 303
    with app.app_context():
        stored = db.session.get(StaffUser, user.id)
        assert not stored.totp_enabled and stored.totp_secret is None
    assert [e.actor_id for e in audit(app, "totp_disabled")] == [user.id]
    assert post_login(app.test_client(), user.email, STRONG_PASSWORD).location == "/staff/leads"


def test_required_totp_cannot_be_turned_off(app, client, make_staff, login_as, frozen_clock):
    user = make_staff(locations=["bethesda-md"])
    login_as(client, user)
    secret = set_up_totp(client, frozen_clock)
    with app.app_context():
        db.session.get(StaffUser, user.id).totp_required = True
        db.session.commit()
    page = client.get("/staff/account/two-step")
    assert "stays on" in page.get_data(as_text=True)
    frozen_clock.advance(seconds=30)
    client.post("/staff/account/two-step/off", data={
        "csrf_token": csrf_token(page), "code": pyotp.TOTP(secret).at(frozen_clock.now)})
    with app.app_context():
        assert db.session.get(StaffUser, user.id).totp_enabled


def redis_answers() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.skipif(not redis_answers(), reason="needs Redis on 127.0.0.1:6379")
def test_two_instances_share_the_count_through_redis(make_app, make_staff):
    import secrets

    env = dict(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/7", RATELIMIT_KEY_PREFIX=f"t-{secrets.token_hex(6)}-")
    first, second = throttled_app(make_app, **env), throttled_app(make_app, **env)
    user = make_staff(locations=["bethesda-md"])
    for app in (first, second, first):
        assert post_login(app.test_client(), user.email, "a wrong guess at the password").status_code == 401
    response = post_login(second.test_client(), user.email, STRONG_PASSWORD)
    assert response.status_code == 429
