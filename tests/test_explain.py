"""The queue's queries are index range scans in queue order: no full scan, no sort.

The plans are taken from the statements the real /staff/leads request runs
(each SELECT over lead is explained, with its own parameters, just before it
executes), on a table shaped like a busy year: thousands of leads, most of them
closed, some spam. SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN after ANALYZE.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select, text

from intake import clock
from intake.extensions import db
from intake.leads import REFERENCE_ALPHABET
from intake.models import Lead, Location

ROWS = 8000


@pytest.fixture
def busy_table(app):
    """ROWS leads over six offices: about 40% open (a backlog), 3% spam, a few urgent; statistics up to date."""
    rng = random.Random(6)
    now = clock.utcnow()
    with app.app_context():
        offices = list(db.session.scalars(select(Location.id)))
        rows, references = [], set()
        while len(references) < ROWS:
            raw = "".join(rng.choice(REFERENCE_ALPHABET) for _ in range(8))
            references.add(f"{raw[:4]}-{raw[4:]}")
        for i, reference in enumerate(sorted(references)):
            is_open = rng.random() < 0.4
            rows.append(dict(
                reference=reference, location_id=rng.choice(offices),
                status="new" if is_open else "closed", is_open=is_open, spam=rng.random() < 0.03,
                priority=0 if rng.random() < 0.02 else 2, first_name="Pat", email_lower=f"p{i}@example.com",
                created_at=now - timedelta(minutes=ROWS - i), updated_at=now, last_inquiry_at=now,
            ))
        db.session.execute(insert(Lead), rows)
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()


@contextmanager
def plans(app):
    """{statement: plan text} for every SELECT over lead run inside the block."""
    found: dict[str, str] = {}

    def explain(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("SELECT") or " lead" not in statement:
            return
        raw = conn.connection.dbapi_connection.cursor()
        try:
            if conn.dialect.name == "sqlite":
                raw.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                found[statement] = "\n".join(row[-1] for row in raw.fetchall())
            else:
                raw.execute("EXPLAIN " + statement, parameters)
                found[statement] = "\n".join(row[0] for row in raw.fetchall())
        finally:
            raw.close()

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", explain)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", explain)


def queue_plan(found: dict[str, str]) -> tuple[str, str]:
    """The statement that fetches a queue page (ordered by priority) and its plan."""
    for statement, plan in found.items():
        if "ORDER BY lead.priority" in statement:
            return statement, plan
    raise AssertionError("no queue query seen:\n" + "\n\n".join(found))


def assert_index_without_sort(plan: str, dialect: str, indexes: tuple[str, ...]) -> None:
    """One of ``indexes`` gives the rows in queue order: no sort step, no full table scan."""
    if dialect == "sqlite":
        assert any(f"SEARCH lead USING INDEX {i} " in plan or f"SEARCH lead USING COVERING INDEX {i} " in plan
                   for i in indexes), plan
        assert "TEMP B-TREE" not in plan, plan  # no sort
        assert "SCAN lead" not in plan, plan  # no full scan
    else:
        # The planner may take either queue index for one office (both are in order); never a sort.
        assert any(f"Index Scan using {i} on lead" in plan or f"Index Only Scan using {i} on lead" in plan
                   for i in indexes), plan
        assert "Seq Scan on lead" not in plan, plan
        assert "Sort" not in plan, plan


@pytest.mark.slow
@pytest.mark.parametrize("role, indexes", [("admin", ("ix_lead_queue",)),
                                           ("staff", ("ix_lead_location_queue", "ix_lead_queue"))])
def test_queue_uses_its_index_in_order(app, busy_table, make_staff, login_as, role, indexes):
    user = make_staff(role=role, locations=[] if role == "admin" else ["arlington-va"])
    client = app.test_client()
    login_as(client, user)
    with plans(app) as found:
        first = client.get("/staff/leads")
    assert first.status_code == 200
    with app.app_context():
        dialect = db.engine.dialect.name
    statement, plan = queue_plan(found)
    assert_index_without_sort(plan, dialect, indexes)

    # The next page (keyset: the last row's key, no OFFSET) is the same kind of range scan.
    after = first.get_data(as_text=True).split("after=", 1)[1].split('"', 1)[0].split("&", 1)[0]
    with plans(app) as found:
        assert client.get(f"/staff/leads?after={after}").status_code == 200
    statement, plan = queue_plan(found)
    assert "lead.created_at, lead.id) >" in statement  # a keyset, not a count of rows to skip
    assert_index_without_sort(plan, dialect, indexes)


@pytest.mark.slow
@pytest.mark.parametrize("role", ["admin", "staff"])
def test_status_counts_read_the_index_not_the_table(app, busy_table, make_staff, login_as, role):
    """The capped per-status counts walk an index, never the whole table."""
    user = make_staff(role=role, locations=[] if role == "admin" else ["arlington-va"])
    client = app.test_client()
    login_as(client, user)
    with plans(app) as found:
        assert client.get("/staff/leads").status_code == 200
    with app.app_context():
        dialect = db.engine.dialect.name
    counts = {s: p for s, p in found.items() if s.lstrip().upper().startswith("SELECT COUNT")}
    assert counts, "\n\n".join(found)
    for statement, plan in counts.items():
        if dialect == "sqlite" and role == "admin":
            # Counted in the index alone, without visiting every open lead's row.
            assert "USING COVERING INDEX ix_lead_status_open" in plan, (statement, plan)
        elif dialect == "sqlite":
            # One office's counts come from (location_id, status, ...) alone.
            assert "USING COVERING INDEX ix_lead_location_status" in plan, (statement, plan)
        else:
            # PostgreSQL may read a common status (closed) straight from the table,
            # but only under the LIMIT of the cap, so it stops after cap + 1 rows.
            assert "Seq Scan on lead" not in plan or "Limit" in plan.split("Seq Scan on lead")[0], (statement, plan)


@pytest.mark.slow
def test_reference_search_is_an_index_lookup(app, busy_table, make_staff, login_as):
    """Searching by reference reads the reference index, not every lead's name."""
    from tests.helpers import csrf_token

    user = make_staff(role="admin")
    client = app.test_client()
    login_as(client, user)
    with app.app_context():
        reference = next(r for r in db.session.scalars(select(Lead.reference).order_by(Lead.id))
                         if any(ch.isdigit() for ch in r))
    page = client.get("/staff/leads")
    client.post("/staff/leads/search", data={"q": reference.lower(), "csrf_token": csrf_token(page)})
    with plans(app) as found:
        response = client.get("/staff/leads")
    assert response.status_code == 200 and reference in response.get_data(as_text=True)
    with app.app_context():
        dialect = db.engine.dialect.name
    searches = {s: p for s, p in found.items() if "lead.reference =" in s}
    assert searches, "\n\n".join(found)
    for statement, plan in searches.items():
        assert "ILIKE" not in statement.upper() and "LIKE" not in statement.upper(), statement
        if dialect == "sqlite":
            assert "SCAN lead" not in plan, plan
        else:
            assert "Seq Scan on lead" not in plan, plan
