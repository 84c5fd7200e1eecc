"""Signing in and out: messages, redirects, throttling, audit rows, CSRF."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from intake.extensions import db
from intake.models import AuditEvent
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
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html
    assert ">Sign in</button>" in html


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
