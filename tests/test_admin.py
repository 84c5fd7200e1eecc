"""Reports and admin pages through HTTP: who may see them, and what each change does."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from intake import leads as lead_ops
from intake.extensions import db
from intake.models import AuditEvent, Lead, Location, OutboxMessage, StaffUser
from tests.helpers import csrf_token
from tests.report_fixtures import END, NOW, START, add_known_leads

ADMIN_PAGES = ["/staff/admin/", "/staff/admin/offices", "/staff/admin/offices/bethesda-md", "/staff/admin/users",
               "/staff/admin/users/new", "/staff/admin/outbox", "/staff/admin/outbox?status=all",
               "/staff/admin/audit"]
NEW_PASSWORD = "purple elephants dance at noon 7"


@pytest.fixture
def admin(make_staff):
    return make_staff(email="boss@example.org", role="admin")


@pytest.fixture
def admin_client(app, admin, login_as):
    client = app.test_client()
    login_as(client, admin)
    return client


def post(client, url, data=None, page=None):
    """POST ``data`` with the CSRF token from ``page`` (or from GET ``url``)."""
    token = csrf_token(client.get(page or url))
    return client.post(url, data={**(data or {}), "csrf_token": token})


def text(response) -> str:
    return response.get_data(as_text=True)


def table_cells(html: str, table_id: str) -> list[list[str]]:
    """The rows of table ``table_id`` as lists of cell texts (header cells included)."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        rows.append([re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)])
    return rows


# ---- access ---------------------------------------------------------------------------

@pytest.mark.parametrize("url", ADMIN_PAGES + ["/staff/reports", "/staff/reports/weekly.csv"])
def test_anonymous_is_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code in (302, 303)
    assert "/staff/login" in response.headers["Location"]


def test_staff_get_404_on_every_admin_page(app, make_staff, login_as):
    staff = make_staff(role="staff", locations=["washington-dc"])
    client = app.test_client()
    login_as(client, staff)
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == 404, url
    assert client.post("/staff/admin/outbox/1/retry").status_code in (400, 404)
    assert client.get("/staff/reports").status_code == 200


def test_admin_sees_every_page(admin_client, admin):
    for url in ADMIN_PAGES + [f"/staff/admin/users/{admin.id}"]:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert "style=" not in text(response)
        # The staff layout's stylesheets too, not only admin.css (the sign-out button was unstyled).
        for sheet in ("staff.css", "account.css", "admin.css"):
            assert f"/static/{sheet}" in text(response), (url, sheet)
        # Valid HTML: no id twice (pages with several forms), datetime attributes to the second.
        ids = re.findall(r'\sid="([^"]+)"', text(response))
        assert len(ids) == len(set(ids)), (url, sorted({i for i in ids if ids.count(i) > 1}))
        assert not re.search(r'datetime="[^"]*\.\d', text(response)), url


# ---- reports ----------------------------------------------------------------------------

@pytest.fixture
def known(app, frozen_clock):
    frozen_clock.now = NOW
    with app.app_context():
        add_known_leads(db.session)
        db.session.commit()


PERIOD = f"start={START.isoformat()}&end={END.isoformat()}"


def test_report_page_shows_charts_and_tables_with_the_numbers(admin_client, known):
    html = text(admin_client.get(f"/staff/reports?{PERIOD}"))
    assert html.count("<svg") == 3
    assert 'role="img"' in html and "<title id=\"chart-weekly-title\">Leads per week</title>" in html
    assert table_cells(html, "table-weekly") == [["2026-10-19", "3"], ["2026-10-26", "0"], ["2026-11-02", "5"]]
    summary = {row[0]: row[1:] for row in table_cells(html, "table-summary")}
    assert summary["Leads"][0] == "8"
    assert summary["Median hours to first contact attempt"][0] == "3.5"
    assert summary["90th percentile hours to first contact attempt"][0] == "15.0"
    assert summary["Contacted within 4 hours"] == ["66.7%", "4 of 6 leads"]
    assert summary["Became a patient"] == ["28.6%", "2 of 7 leads"]
    assert '<th scope="col"' in html and "<caption>" in html


def test_report_for_one_office(admin_client, known):
    html = text(admin_client.get(f"/staff/reports?{PERIOD}&office=washington-dc"))
    summary = {row[0]: row[1:] for row in table_cells(html, "table-summary")}
    assert summary["Leads"][0] == "7"
    assert summary["90th percentile hours to first contact attempt"][0] == "7.6"


def test_staff_see_only_their_offices_numbers(app, make_staff, login_as, known):
    staff = make_staff(role="staff", locations=["bethesda-md"])
    client = app.test_client()
    login_as(client, staff)
    for query in (PERIOD, PERIOD + "&office=washington-dc"):
        html = text(client.get(f"/staff/reports?{query}"))
        summary = {row[0]: row[1:] for row in table_cells(html, "table-summary")}
        assert summary["Leads"][0] == "1", query
        assert "Washington, DC" not in html.split("<main", 1)[1]
    csv = text(client.get(f"/staff/reports/weekly.csv?{PERIOD}&office=washington-dc"))
    assert csv.splitlines()[1:] == ["2026-10-19,0", "2026-10-26,0", "2026-11-02,1"]


def test_report_csv_is_formula_safe_and_named(admin_client, known):
    response = admin_client.get(f"/staff/reports/campaigns.csv?{PERIOD}&office=washington-dc")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "intake-campaigns-2026-10-19-to-2026-11-08.csv" in response.headers["Content-Disposition"]
    lines = text(response).splitlines()
    assert lines[0] == "Campaign,Leads"
    assert "\"'=HYPERLINK(\"\"x\"\")\",1" in lines
    assert admin_client.get("/staff/reports/secrets.csv").status_code == 404


def test_bad_dates_fall_back_to_the_default_period(admin_client, known):
    response = admin_client.get("/staff/reports?start=2026-13-45&end=yesterday")
    assert response.status_code == 200
    assert "Not a valid date value" in text(response)
    reversed_ = admin_client.get("/staff/reports?start=2026-11-08&end=2026-10-01")
    assert "The end date is before the start date." in text(reversed_)


# ---- offices ------------------------------------------------------------------------------

def office_form(**overrides):
    data = {"name": "Bethesda, MD", "address": "1 Wisconsin Ave", "phone": "301-555-0100", "hours": "Mon-Fri 8-6",
            "inboxes": "front@example.org, manager@example.org", "active": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_admin_edits_an_office_and_it_is_audited(app, admin_client, admin):
    response = post(admin_client, "/staff/admin/offices/bethesda-md", office_form())
    assert response.status_code == 303
    with app.app_context():
        loc = db.session.scalar(select(Location).where(Location.slug == "bethesda-md"))
        assert (loc.address, loc.phone, loc.hours) == ("1 Wisconsin Ave", "301-555-0100", "Mon-Fri 8-6")
        assert loc.inbox_emails == ["front@example.org", "manager@example.org"]
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "office_updated"))
        assert event.actor_id == admin.id
        assert event.detail == "office bethesda-md: address, phone, hours, inboxes"


def test_bad_inbox_is_refused_and_nothing_changes(app, admin_client):
    response = post(admin_client, "/staff/admin/offices/bethesda-md", office_form(inboxes="front@example.org, nope@"))
    assert response.status_code == 400
    assert "nope@ is not a valid address" in text(response)
    assert 'value="1 Wisconsin Ave"' in text(response)  # typed values kept
    with app.app_context():
        loc = db.session.scalar(select(Location).where(Location.slug == "bethesda-md"))
        assert loc.inbox_emails == ["bethesda-md@example.org"] and loc.address != "1 Wisconsin Ave"


def test_inactive_office_gets_no_new_leads(app, admin_client, make_lead):
    response = post(admin_client, "/staff/admin/offices/bethesda-md", office_form(active=None))
    assert response.status_code == 303
    # A patient who picks Bethesda, or whose ZIP is in Bethesda, goes to the nearest active office.
    chosen = make_lead(location_choice="bethesda-md", zip_code="20814")
    assert chosen["location"] != "bethesda-md"
    with app.app_context():
        assert "bethesda-md" not in [loc.slug for loc in lead_ops.active_locations(db.session)]

    public = app.test_client()
    for url in ("/contact", "/locations"):
        page = public.get(url)
        if page.status_code == 404:
            pytest.skip(f"{url} not built yet")
        assert "Bethesda" not in text(page), url

    post(admin_client, "/staff/admin/offices/bethesda-md", office_form())
    assert make_lead(location_choice="bethesda-md")["location"] == "bethesda-md"


# ---- users ---------------------------------------------------------------------------------

def test_admin_creates_a_staff_account_that_can_sign_in(app, admin_client, login_as):
    response = post(admin_client, "/staff/admin/users/new", {
        "email": "Front.Desk@Example.org", "name": "Front Desk", "role": "staff", "offices": ["columbia-md"],
        "password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "totp_required": "",
    })
    assert response.status_code == 303, text(response)[:2000]
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == "front.desk@example.org"))
        assert user.role == "staff" and [l.slug for l in user.locations] == ["columbia-md"]
        assert not user.totp_required
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user_created"))
        assert event.detail == f"user {user.id}: role staff, offices columbia-md"
        assert NEW_PASSWORD not in event.detail
        db.session.expunge(user)
    login_as(app.test_client(), user, password=NEW_PASSWORD)


@pytest.mark.parametrize("fields, message", [
    ({"offices": []}, "A staff account needs at least one office"),
    ({"password": "short", "confirm": "short"}, "at least 15 characters"),
    ({"confirm": "something else entirely"}, "The two passwords differ."),
    ({"email": "boss@example.org"}, "already exists"),
])
def test_account_problems_are_shown_and_nothing_is_created(app, admin_client, fields, message):
    data = {"email": "new@example.org", "role": "staff", "offices": ["columbia-md"], "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD}
    data.update(fields)
    response = post(admin_client, "/staff/admin/users/new", data)
    assert response.status_code == 400
    assert message in text(response)
    with app.app_context():
        assert db.session.scalar(select(func.count(StaffUser.id))) == 1


def signed_in_as(app, login_as, user):
    client = app.test_client()
    login_as(client, user)
    assert client.get("/staff/reports").status_code == 200
    return client


def test_deactivation_ends_the_users_sessions(app, admin_client, make_staff, login_as):
    staff = make_staff(role="staff", locations=["washington-dc"])
    their_browser = signed_in_as(app, login_as, staff)
    response = post(admin_client, f"/staff/admin/users/{staff.id}/deactivate", page=f"/staff/admin/users/{staff.id}")
    assert response.status_code == 303
    assert their_browser.get("/staff/reports").status_code in (302, 303)
    with app.app_context():
        user = db.session.get(StaffUser, staff.id)
        assert not user.active and user.session_version > staff.session_version
        assert db.session.scalar(select(AuditEvent.detail).where(AuditEvent.action == "user_deactivated")) == \
            f"user {staff.id}"


def test_admin_cannot_deactivate_themselves(app, admin_client, admin):
    post(admin_client, f"/staff/admin/users/{admin.id}/deactivate", page=f"/staff/admin/users/{admin.id}")
    with app.app_context():
        assert db.session.get(StaffUser, admin.id).active


def test_password_reset_ends_sessions_and_the_new_password_works(app, admin_client, make_staff, login_as):
    staff = make_staff(role="staff", locations=["washington-dc"])
    their_browser = signed_in_as(app, login_as, staff)
    response = post(admin_client, f"/staff/admin/users/{staff.id}/password",
                    {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page=f"/staff/admin/users/{staff.id}")
    assert response.status_code == 303
    assert their_browser.get("/staff/reports").status_code in (302, 303)
    signed_in_as(app, lambda c, u: login_as(c, u, password=NEW_PASSWORD), staff)
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AuditEvent.action == "user_password_reset")) == 1


def test_weak_reset_password_is_refused(app, admin_client, make_staff):
    staff = make_staff(role="staff", locations=["washington-dc"])
    response = post(admin_client, f"/staff/admin/users/{staff.id}/password",
                    {"password": "password", "confirm": "password"}, page=f"/staff/admin/users/{staff.id}")
    assert response.status_code == 400
    assert "at least 15 characters" in text(response)


def test_require_second_factor_and_change_offices(app, admin_client, make_staff):
    staff = make_staff(role="staff", locations=["washington-dc"])
    page = f"/staff/admin/users/{staff.id}"
    assert post(admin_client, f"{page}/require-2fa", page=page).status_code == 303
    assert post(admin_client, f"{page}/access", {"role": "staff", "offices": ["fairfax-va", "arlington-va"]},
                page=page).status_code == 303
    with app.app_context():
        user = db.session.get(StaffUser, staff.id)
        assert user.totp_required
        assert sorted(l.slug for l in user.locations) == ["arlington-va", "fairfax-va"]
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"user_totp_required", "user_access_changed"} <= actions


def test_post_without_csrf_token_changes_nothing(app, admin_client, make_staff):
    staff = make_staff(role="staff", locations=["washington-dc"])
    response = admin_client.post(f"/staff/admin/users/{staff.id}/deactivate")
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(StaffUser, staff.id).active


# ---- outbox ----------------------------------------------------------------------------------

@pytest.fixture
def messages(app, frozen_clock):
    with app.app_context():
        rows = {
            "failed": OutboxMessage(kind="new_lead", recipients="dc@example.org", subject="New lead", body_text="x",
                                    message_id="<f@x>", status="failed", attempts=3, last_error="451 try later",
                                    next_attempt_at=frozen_clock.now + timedelta(hours=1)),
            "dead": OutboxMessage(kind="acknowledgement", recipients="pat.smith@example.com", recipient_key="k" * 40,
                                  subject="We received your message",
                                  body_text="This was sent to pat.smith@example.com.", message_id="<d@x>",
                                  status="dead", attempts=9, last_error="550 no such user"),
            "sent": OutboxMessage(kind="new_lead", recipients="dc@example.org", subject="New lead", body_text="x",
                                  message_id="<s@x>", status="sent", attempts=1),
        }
        db.session.add_all(rows.values())
        db.session.commit()
        return {k: v.id for k, v in rows.items()}


def test_outbox_lists_stuck_messages_with_errors(admin_client, messages):
    html = text(admin_client.get("/staff/admin/outbox"))
    assert "451 try later" in html and "550 no such user" in html
    assert f"#{messages['sent']}<" not in html
    assert "pat.smith" not in html
    assert "Retry #" in html


@pytest.mark.parametrize("which", ["failed", "dead"])
def test_retry_puts_a_message_back_to_pending_now(app, admin_client, messages, frozen_clock, which):
    mid = messages[which]
    response = post(admin_client, f"/staff/admin/outbox/{mid}/retry", page="/staff/admin/outbox")
    assert response.status_code == 303
    with app.app_context():
        msg = db.session.get(OutboxMessage, mid)
        assert msg.status == "pending" and msg.next_attempt_at == frozen_clock.now
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "outbox_retry"))
        assert event.detail.startswith(f"message {mid} ")


def test_retry_leaves_a_sent_message_alone(app, admin_client, messages):
    post(admin_client, f"/staff/admin/outbox/{messages['sent']}/retry", page="/staff/admin/outbox")
    with app.app_context():
        assert db.session.get(OutboxMessage, messages["sent"]).status == "sent"
        assert db.session.scalar(select(func.count()).where(AuditEvent.action == "outbox_retry")) == 0


def test_acknowledgement_address_is_masked(admin_client, messages):
    html = text(admin_client.get(f"/staff/admin/outbox/{messages['dead']}"))
    assert "pat.smith" not in html
    assert "p•••@example.com" in html


# ---- audit trail ------------------------------------------------------------------------------

@pytest.fixture
def trail(app, admin, make_staff, frozen_clock):
    other = make_staff(email="other@example.org", role="admin")
    with app.app_context():
        lead_id = db.session.scalar(select(Location.id))  # any row id; events need a real lead for lead_id
        lead = Lead(reference="AUDT-0001", location_id=lead_id, first_name="Pat")
        db.session.add(lead)
        db.session.flush()
        start = frozen_clock.now
        for i in range(60):
            lead_ops.record_event(db.session, "office_updated", actor_id=admin.id, detail=f"event {i}",
                                  now=start + timedelta(hours=i))
        lead_ops.record_event(db.session, "note_added", actor_id=other.id, lead=lead, detail="called back",
                              now=start + timedelta(days=10))
        db.session.commit()
        return {"lead": lead.id, "other": other.id}


def test_audit_trail_pages_by_keyset(admin_client, trail):
    first = text(admin_client.get("/staff/admin/audit?action=office_updated"))
    assert first.count("event ") == 50 and "event 59" in first and "event 9<" not in first
    link = re.search(r'href="([^"]*before=\d+[^"]*)" rel="next"', first).group(1).replace("&amp;", "&")
    second = text(admin_client.get(link))
    assert second.count("event ") == 10 and "event 0<" in second and "event 10<" not in second
    assert 'rel="next"' not in second


def test_audit_trail_filters(admin_client, trail):
    by_user = text(admin_client.get(f"/staff/admin/audit?user={trail['other']}"))
    assert "called back" in by_user and "event " not in by_user
    by_lead = text(admin_client.get(f"/staff/admin/audit?lead={trail['lead']}"))
    assert "called back" in by_lead and "event " not in by_lead
    by_date = text(admin_client.get("/staff/admin/audit?start=2026-11-03&end=2026-11-03&action=office_updated"))
    # The clock starts 2026-11-02 14:00: hours 10..33 fall on Nov 3.
    assert by_date.count("event ") == 24 and "event 10<" in by_date and "event 33<" in by_date


def test_audit_trail_is_read_only(admin_client, trail):
    assert admin_client.post("/staff/admin/audit").status_code in (400, 405)
