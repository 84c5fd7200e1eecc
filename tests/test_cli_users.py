"""`flask users create|list|deactivate|reset-password`, driven as an operator would."""

from __future__ import annotations

from sqlalchemy import select

from intake import auth
from intake.extensions import db
from intake.models import AuditEvent, StaffUser
from intake.passwords import verify_password

PW = "granite lanterns by the river"


def account(app, email):
    with app.app_context():
        user = auth.find_user(db.session, email)
        if user is not None:
            slugs = [loc.slug for loc in user.locations]
            db.session.expunge(user)
            user.slugs = slugs
        return user


def test_create_staff_with_offices(app, runner):
    result = runner.invoke(args=["users", "create", "Front.Desk@Example.org", "--role", "staff",
                                 "--location", "bethesda-md", "--location", "columbia-md", "--name", "Front Desk"],
                           input=f"{PW}\n{PW}\n")
    assert result.exit_code == 0, result.output
    assert "Created staff front.desk@example.org" in result.output
    user = account(app, "front.desk@example.org")
    assert user.role == "staff" and user.active and user.name == "Front Desk"
    assert user.slugs == ["bethesda-md", "columbia-md"]
    assert user.password_hash.startswith("$argon2id$") and verify_password(user.password_hash, PW)
    assert PW not in result.output
    with app.app_context():
        details = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "user_created")).all()
    assert details == [f"user {user.id}: role staff, offices bethesda-md,columbia-md (command line)"]


def test_created_user_can_sign_in(app, runner, client, login_as):
    runner.invoke(args=["users", "create", "boss@example.org", "--role", "admin"], input=f"{PW}\n{PW}\n")
    login_as(client, account(app, "boss@example.org"), password=PW)


def test_create_refuses_mismatched_passwords(app, runner):
    result = runner.invoke(args=["users", "create", "a@example.org", "--role", "admin"],
                           input=f"{PW}\n{PW}x\n")
    assert result.exit_code != 0
    assert "differ" in result.output
    assert account(app, "a@example.org") is None


def test_create_refuses_weak_password(app, runner):
    result = runner.invoke(args=["users", "create", "a@example.org", "--role", "admin"],
                           input="short\nshort\n")
    assert result.exit_code != 0 and "at least 15" in result.output
    result = runner.invoke(args=["users", "create", "a@example.org", "--role", "admin"],
                           input="password12345678\npassword12345678\n")
    assert result.exit_code != 0 and "too common" in result.output
    assert account(app, "a@example.org") is None


def test_create_refuses_unknown_office_and_duplicate_email(app, runner):
    result = runner.invoke(args=["users", "create", "a@example.org", "--role", "staff", "--location", "narnia"],
                           input=f"{PW}\n{PW}\n")
    assert result.exit_code != 0
    assert "No office with slug 'narnia'" in result.output and "bethesda-md" in result.output
    assert runner.invoke(args=["users", "create", "a@example.org", "--role", "admin"],
                         input=f"{PW}\n{PW}\n").exit_code == 0
    result = runner.invoke(args=["users", "create", "A@example.org", "--role", "admin"], input=f"{PW}\n{PW}\n")
    assert result.exit_code != 0 and "already exists" in result.output


def test_create_refuses_staff_without_office_and_bad_role(runner):
    result = runner.invoke(args=["users", "create", "a@example.org", "--role", "staff"], input=f"{PW}\n{PW}\n")
    assert result.exit_code != 0 and "at least one office" in result.output
    result = runner.invoke(args=["users", "create", "a@example.org", "--role", "owner"], input=f"{PW}\n{PW}\n")
    assert result.exit_code != 0 and "owner" in result.output


def test_list_shows_accounts(runner, make_staff):
    make_staff(email="desk@example.org", locations=["fairfax-va"])
    make_staff(email="chief@example.org", role="admin")
    lines = runner.invoke(args=["users", "list"]).output.splitlines()
    assert lines[0].split()[:4] == ["chief@example.org", "admin", "all", "active"]
    assert lines[1].split()[:4] == ["desk@example.org", "staff", "fairfax-va", "active"]


def test_list_when_empty(runner):
    assert "No accounts yet" in runner.invoke(args=["users", "list"]).output


def test_deactivate_stops_sign_in_and_sessions(app, runner, client, make_staff, login_as):
    user = make_staff(email="desk@example.org", locations=["fairfax-va"])
    login_as(client, user)
    result = runner.invoke(args=["users", "deactivate", "desk@example.org"])
    assert result.exit_code == 0, result.output
    assert client.get("/staff/account/password").status_code == 302
    assert not account(app, "desk@example.org").active
    assert "deactivated" in runner.invoke(args=["users", "list"]).output
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user_deactivated"))
        assert (event.actor_id, event.detail) == (None, f"user {user.id} (command line)")


def test_unknown_email_is_a_clear_error(runner):
    for command in (["users", "deactivate", "ghost@example.org"], ["users", "reset-password", "ghost@example.org"]):
        result = runner.invoke(args=command, input=f"{PW}\n{PW}\n")
        assert result.exit_code != 0 and "no account for ghost@example.org" in result.output


def test_reset_password_sets_it_and_ends_sessions(app, runner, client, make_staff, login_as):
    user = make_staff(email="desk@example.org", locations=["fairfax-va"])
    login_as(client, user)
    result = runner.invoke(args=["users", "reset-password", "desk@example.org"], input=f"{PW}\n{PW}\n")
    assert result.exit_code == 0, result.output
    assert client.get("/staff/account/password").status_code == 302
    stored = account(app, "desk@example.org")
    assert verify_password(stored.password_hash, PW)
    login_as(client, stored, password=PW)
    with app.app_context():
        assert db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "user_password_reset")).all() \
            == [f"user {user.id} (command line)"]


def test_reset_password_refuses_weak_ones(app, runner, make_staff):
    user = make_staff(email="desk@example.org", locations=["fairfax-va"])
    result = runner.invoke(args=["users", "reset-password", "desk@example.org"],
                           input="desk is my password ok\ndesk is my password ok\n")
    assert result.exit_code != 0 and "email name" in result.output
    with app.app_context():
        assert db.session.get(StaffUser, user.id).session_version == user.session_version


def test_reset_two_step_forgets_the_authenticator(app, runner, client, make_staff, login_as):
    user = make_staff(email="desk@example.org", locations=["fairfax-va"])
    with app.app_context():
        stored = db.session.get(StaffUser, user.id)
        stored.totp_secret, stored.totp_enabled, stored.totp_required = "A" * 32, True, True
        db.session.commit()
    result = runner.invoke(args=["users", "reset-two-step", "desk@example.org"])
    assert result.exit_code == 0, result.output
    assert "set up a new one" in result.output
    with app.app_context():
        stored = db.session.get(StaffUser, user.id)
        assert (stored.totp_secret, stored.totp_enabled, stored.totp_required) == (None, False, True)
    # The next sign-in goes straight to setting up a new authenticator.
    response = login_as(client, user)
    assert response.location == "/staff/account/two-step"
