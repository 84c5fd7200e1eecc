"""Engine settings that SQLAlchemy URLs cannot carry."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never wait for the writer. NORMAL sync is safe with WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def init_app(app: Flask) -> None:
    """Turn on WAL, foreign keys and a busy time-out for SQLite connections."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        engine: Engine = db.engine
        event.listen(engine, "connect", _sqlite_pragmas)


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"
