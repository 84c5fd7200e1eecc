"""The queue and the lead page issue the same number of SQL statements for 5 rows as for 50.

Rows are made to cost the most a row can: spread over every office, assigned
to many different people, some of whom have since left (so they are not
already loaded for the assignee menu), with inquiries, notes and duplicates.
"""

from __future__ import annotations

from contextlib import contextmanager
from itertools import cycle

import pytest
from sqlalchemy import event, select, update

from intake.extensions import db
from intake.leads import record_event
from intake.models import Inquiry, Lead, StaffUser
from intake.seed import LOCATIONS

OFFICES = [row[0] for row in LOCATIONS]


@contextmanager
def counting(app):
    """Collect every SQL statement the app's engine runs inside the block."""
    statements: list[str] = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", hook)


@pytest.fixture
def people(app, make_staff):
    """Ten colleagues in every office; the first five have since been deactivated."""
    users = [make_staff(email=f"colleague{i}@example.org", name=f"Colleague {i}", locations=OFFICES)
             for i in range(10)]
    with app.app_context():
        db.session.execute(update(StaffUser).where(StaffUser.id.in_([u.id for u in users[:5]])).values(active=False))
        db.session.commit()
    return [u.id for u in users]


def add_leads(app, make_lead, people, n, offices):
    """``n`` leads over ``offices``, each assigned to a different colleague in turn and written to twice."""
    who, where = cycle(people), cycle(offices)
    ids = [make_lead(location_choice=next(where))["id"] for _ in range(n)]
    with app.app_context():
        for lead_id in ids:
            db.session.execute(update(Lead).where(Lead.id == lead_id).values(assignee_id=next(who), repeat_count=1))
            db.session.add(Inquiry(lead_id=lead_id, first_name="Ada", message="again"))
        db.session.commit()
    return ids


def queue_statements(app, client) -> tuple[int, str]:
    with counting(app) as statements:
        response = client.get("/staff/leads")
    assert response.status_code == 200
    return len(statements), response.get_data(as_text=True)


@pytest.mark.slow
@pytest.mark.parametrize("role", ["admin", "staff"])
def test_queue_page_statements_do_not_grow_with_rows(app, make_lead, make_staff, login_as, people, role):
    offices = OFFICES if role == "admin" else ["bethesda-md"]
    user = make_staff(role=role, locations=[] if role == "admin" else offices)
    client = app.test_client()
    login_as(client, user)

    add_leads(app, make_lead, people, 5, offices)
    few, page = queue_statements(app, client)
    assert page.count("/staff/leads/") >= 5

    add_leads(app, make_lead, people, 45, offices)
    many, page = queue_statements(app, client)
    assert page.count('href="/staff/leads/') >= 50
    assert many == few, f"{few} statements for 5 rows, {many} for 50"


def lead_page_statements(app, client, lead_id) -> int:
    with counting(app) as statements:
        response = client.get(f"/staff/leads/{lead_id}")
    assert response.status_code == 200
    return len(statements)


def grow_lead(app, make_lead, people, lead_id, email, n):
    """Give a lead ``n`` more notes (by different people), inquiries and duplicates at other offices."""
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        for i, actor in zip(range(n), cycle(people)):
            record_event(db.session, "note", lead=lead, actor_id=actor, detail=f"note {i}")
            db.session.add(Inquiry(lead_id=lead_id, first_name="Ada", message=f"inquiry {i}"))
        db.session.commit()
    offices = cycle(OFFICES[1:])
    for _ in range(n):
        make_lead(email=email, location_choice=next(offices))


@pytest.mark.slow
def test_lead_page_statements_do_not_grow_with_history(app, make_lead, make_staff, login_as, people):
    admin = make_staff(role="admin")
    client = app.test_client()
    login_as(client, admin)
    email = "history@example.com"
    lead_id = make_lead(email=email, location_choice=OFFICES[0])["id"]

    grow_lead(app, make_lead, people, lead_id, email, 5)
    few = lead_page_statements(app, client, lead_id)
    grow_lead(app, make_lead, people, lead_id, email, 45)
    many = lead_page_statements(app, client, lead_id)
    with app.app_context():
        shown = db.session.scalar(select(Lead).where(Lead.id == lead_id))
        assert len(shown.inquiries) == 50
    assert many == few, f"{few} statements with 5 of everything, {many} with 50"
