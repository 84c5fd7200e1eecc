"""Every staff route of the queue and lead pages, walked as anonymous, own-office staff, other-office staff and admin."""

import pytest
from sqlalchemy import select

from intake.extensions import db
from intake.models import AuditEvent, Lead
from intake.seed import LOCATIONS
from tests.helpers import csrf_token

OFFICES = [row[0] for row in LOCATIONS]

# (method, path template, form data builder); {id} is the lead's id.
LEAD_ROUTES = [
    ("GET", "/staff/leads/{id}", None),
    ("POST", "/staff/leads/{id}/claim", lambda v: {"act-version": v}),
    ("POST", "/staff/leads/{id}/assign", lambda v: {"assign-version": v, "assign-assignee": ""}),
    ("POST", "/staff/leads/{id}/status", lambda v: {"status-version": v, "status-status": "contacting"}),
    ("POST", "/staff/leads/{id}/close", lambda v: {"close-version": v, "close-reason": "not_a_fit"}),
    ("POST", "/staff/leads/{id}/spam", lambda v: {"act-version": v}),
    ("POST", "/staff/leads/{id}/not-spam", lambda v: {"act-version": v}),
    ("POST", "/staff/leads/{id}/contact-attempt",
     lambda v: {"contact-version": v, "contact-channel": "call", "contact-outcome": "voicemail"}),
    ("POST", "/staff/leads/{id}/note", lambda v: {"note-version": v, "note-text": "hello"}),
    ("POST", "/staff/leads/{id}/reopen", lambda v: {"act-version": v}),
    # Last: a lead moved to another office is out of its old office's reach.
    ("POST", "/staff/leads/{id}/move", lambda v: {"move-version": v, "move-location": "washington-dc",
                                                   "move-reason": "closer"}),
]
LIST_ROUTES = [("GET", "/staff/"), ("GET", "/staff/leads"), ("GET", "/staff/leads/export.csv"),
               ("POST", "/staff/leads/search")]


@pytest.fixture
def leads_everywhere(make_lead):
    return {slug: make_lead(location_choice=slug) for slug in OFFICES}


def token(client):
    """A CSRF token for this client's session (kept: it stays valid until the session changes)."""
    if not getattr(client, "csrf", None):
        page = client.get("/staff/login")
        if page.status_code != 200:  # signed in already: the queue's search form carries one
            page = client.get("/staff/leads")
        client.csrf = csrf_token(page)
    return client.csrf


def send(client, method, path, data=None):
    if method == "GET":
        return client.get(path)
    return client.post(path, data={**(data or {}), "csrf_token": token(client)})


def version_of(app, lead_id):
    with app.app_context():
        return db.session.get(Lead, lead_id).version


def test_anonymous_is_sent_to_sign_in_everywhere(app, leads_everywhere):
    client = app.test_client()
    lead_id = leads_everywhere["bethesda-md"]["id"]
    routes = [(m, p.format(id=lead_id), (d or (lambda v: {}))(1)) for m, p, d in LEAD_ROUTES]
    routes += [(m, p, {"q": "ada"}) for m, p in LIST_ROUTES]
    for method, path, data in routes:
        response = send(client, method, path, data)
        assert response.status_code in (302, 303), (method, path, response.status_code)
        assert response.headers["Location"].startswith("/staff/login"), (method, path)
        assert "ada" not in response.headers["Location"].lower()
    with app.app_context():
        assert db.session.scalar(select(Lead).where(Lead.id == lead_id)).version == 1


@pytest.mark.parametrize("office", OFFICES)
def test_staff_reach_their_own_office_leads_and_only_those(app, make_staff, login_as, leads_everywhere, office):
    staff = make_staff(locations=[office])
    client = app.test_client()
    login_as(client, staff)
    for other, lead in leads_everywhere.items():
        for method, path, data in LEAD_ROUTES:
            url = path.format(id=lead["id"])
            form = data(version_of(app, lead["id"])) if data else None
            response = send(client, method, url, form)
            if other != office:
                assert response.status_code == 404, (office, method, url)
                assert lead["reference"] not in response.get_data(as_text=True)
            elif method == "GET":
                assert response.status_code == 200, (method, url)
            else:
                # An action either succeeds or is refused with a message; both go back with 303.
                assert response.status_code == 303, (method, url, response.status_code)
    # A 404 for another office's lead looks exactly like a 404 for no lead at all.
    client.get("/staff/leads")  # show (and so clear) any flashed message first
    missing = client.get("/staff/leads/999999")
    foreign = client.get(f"/staff/leads/{leads_everywhere[OFFICES[(OFFICES.index(office) + 1) % 6]]['id']}")
    assert missing.status_code == foreign.status_code == 404
    assert missing.get_data() == foreign.get_data()
    for method, path in LIST_ROUTES:
        assert send(client, method, path, {"q": ""}).status_code in (200, 303), path
    with app.app_context():
        # No other office's lead was viewed or changed by this user.
        touched = set(db.session.scalars(select(AuditEvent.lead_id).where(AuditEvent.actor_id == staff.id,
                                                                    AuditEvent.lead_id.is_not(None))))
        assert touched == {leads_everywhere[office]["id"]}


def test_admin_reaches_every_office(app, make_staff, login_as, leads_everywhere):
    admin = make_staff(role="admin")
    client = app.test_client()
    login_as(client, admin)
    for lead in leads_everywhere.values():
        assert client.get(f"/staff/leads/{lead['id']}").status_code == 200
        response = send(client, "POST", f"/staff/leads/{lead['id']}/claim", {"act-version": version_of(app, lead["id"])})
        assert response.status_code == 303
        assert response.headers["Location"] == f"/staff/leads/{lead['id']}"
    page = client.get("/staff/leads").get_data(as_text=True)
    assert all(lead["reference"] in page for lead in leads_everywhere.values())
    for method, path in LIST_ROUTES:
        assert send(client, method, path, {"q": ""}).status_code in (200, 303), path
