"""The bare reference stack: Flask + SQLAlchemy on the same database, none of Intake's logic.

The benchmark serves this under the same gunicorn settings as Intake, so each
Intake figure can be read as a share of what the stack itself can do on this
machine at this moment:

- ``GET /page``: a Jinja page padded to BARE_PAGE_BYTES (the size of an Intake article page);
- ``GET /form`` then ``POST /rows``: the same page with a token in the session
  cookie, then one INSERT into ``bare_row`` and a 303 (the bare GET+insert pair);
- ``GET /rows``: 50 rows of the ``lead`` table plus a count of it.

Run (after ``create_table(url)``): ``gunicorn -c gunicorn.conf.py 'tests.perf.bare_app:create_app()'`` with DATABASE_URL set.
"""

from __future__ import annotations

import os
import secrets

from flask import Flask, redirect, render_template_string, request, session
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, create_engine, func, select, text

metadata = MetaData()
bare_row = Table(
    "bare_row", metadata,
    Column("id", Integer, primary_key=True),
    Column("first_name", String(100)),
    Column("email", String(254)),
    Column("message", Text),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><main><h1>{{ title }}</h1><p>{{ filler }}</p>
{% if token %}<form method="post" action="/rows"><input type="hidden" name="token" value="{{ token }}">
<input name="first_name"><input name="email"><textarea name="message"></textarea><button>Send</button></form>{% endif %}
</main></body></html>"""


def engine_for(url: str):
    """An engine with the settings Intake uses for this kind of database."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})

        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def pragmas(conn, _record):
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.close()
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)


def create_table(url: str) -> None:
    """Create bare_row once, before the workers start (workers racing to create it would fail)."""
    engine = engine_for(url)
    metadata.create_all(engine, checkfirst=True)
    engine.dispose()


def create_app() -> Flask:
    """A bare Flask app against DATABASE_URL with the pool Intake uses."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
    engine = engine_for(os.environ["DATABASE_URL"])
    size = int(os.environ.get("BARE_PAGE_BYTES", "20000"))
    filler = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * (size // 57 + 1))[:size]

    @app.get("/page")
    def page():
        return render_template_string(PAGE, title="Bare page", filler=filler, token=None)

    @app.get("/form")
    def form():
        session["token"] = token = secrets.token_urlsafe(16)
        return render_template_string(PAGE, title="Bare form", filler=filler, token=token)

    @app.post("/rows")
    def insert_row():
        if request.form.get("token") != session.get("token"):
            return "bad token", 400
        with engine.begin() as conn:
            conn.execute(bare_row.insert().values(first_name=request.form.get("first_name", ""),
                                                  email=request.form.get("email", ""),
                                                  message=request.form.get("message", "")))
        return redirect("/page", 303)

    @app.get("/rows")
    def list_rows():
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, reference, first_name, created_at FROM lead "
                                     "ORDER BY id LIMIT 50")).all()
            total = conn.execute(select(func.count()).select_from(text("lead"))).scalar()
        return render_template_string(
            "<!doctype html><title>rows</title><p>{{ total }}</p><table>{% for r in rows %}<tr><td>{{ r.id }}</td>"
            "<td>{{ r.reference }}</td><td>{{ r.first_name }}</td><td>{{ r.created_at }}</td></tr>{% endfor %}"
            "</table>", rows=rows, total=total)

    return app
