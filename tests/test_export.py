"""CSV export: the filtered queue, limited to the user's offices, formula-safe, audited without PII."""

import csv
import io

import pytest
from sqlalchemy import select

from intake.export import neutralise
from intake.extensions import db
from intake.models import AuditEvent


def rows(response):
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+12025550143", "'+12025550143"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tpadded", "'\tpadded"),
    ("\rreturn", "'\rreturn"),
    ("Ada", "Ada"),
    ("a=b", "a=b"),
    (None, ""),
    (True, "yes"),
    (3, "3"),
])
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_export_is_scoped_filtered_and_safe(app, make_staff, login_as, make_lead):
    mine = make_lead(first_name="=cmd|'/c calc'!A1", last_name="@evil", location_choice="bethesda-md",
                     phone="+13015550100")
    make_lead(first_name="Elsewhere", location_choice="fairfax-va")
    user = make_staff(locations=["bethesda-md"])
    client = app.test_client()
    login_as(client, user)
    response = client.get("/staff/leads/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="leads-')
    assert response.is_streamed
    table = rows(response)
    header, data = table[0], table[1:]
    assert header[:3] == ["Reference", "Created (UTC)", "Office"]
    assert len(data) == 1
    row = dict(zip(header, data[0]))
    assert row["Reference"] == mine["reference"]
    assert row["First name"] == "'=cmd|'/c calc'!A1" and row["Last name"] == "'@evil"
    assert row["Phone"] == "'+13015550100"
    assert row["Office"] == "Bethesda, MD" and row["Status"] == "New"
    assert "Elsewhere" not in response.get_data(as_text=True)
    # Asking for the other office by URL gives nothing, not its leads.
    assert len(rows(client.get("/staff/leads/export.csv?office=fairfax-va"))) == 1
    # Filters apply: no contacting leads yet.
    assert len(rows(client.get("/staff/leads/export.csv?status=contacting"))) == 1
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "exported")
                                    .order_by(AuditEvent.id)).all()
        assert [e.detail for e in events] == [
            "1 rows; filters: default",
            "0 rows; filters: office=fairfax-va",
            "0 rows; filters: status=contacting",
        ]
        assert all(e.actor_id == user.id and e.lead_id is None for e in events)
        assert "calc" not in " ".join(e.detail for e in events)


def test_admin_exports_every_office(app, make_staff, login_as, make_lead):
    for slug in ("bethesda-md", "fairfax-va", "washington-dc"):
        make_lead(location_choice=slug)
    client = app.test_client()
    login_as(client, make_staff(role="admin"))
    assert len(rows(client.get("/staff/leads/export.csv"))) == 4
    assert len(rows(client.get("/staff/leads/export.csv?office=fairfax-va"))) == 2


def test_export_streams_in_chunks(app, make_staff, login_as, runner, monkeypatch):
    from intake import export

    monkeypatch.setattr(export, "CHUNK", 7)
    assert runner.invoke(args=["demo", "--leads", "40"]).exit_code == 0
    client = app.test_client()
    login_as(client, make_staff(role="admin"))
    response = client.get("/staff/leads/export.csv?status=all&spam=include")
    pieces = [p if isinstance(p, str) else p.decode() for p in response.response]
    assert len(pieces) >= 40 // 7
    assert len(list(csv.reader(io.StringIO("".join(pieces))))) == 41
