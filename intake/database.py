"""Engine settings that SQLAlchemy URLs cannot carry."""

from __future__ import annotations

from flask import Flask, has_request_context, request
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
    # SQLAlchemy, not the driver, starts transactions (see _sqlite_begin).
    dbapi_connection.isolation_level = None


READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def _sqlite_begin(connection) -> None:
    """Take the write lock up front where a transaction is likely to write.

    A deferred transaction that reads and then writes fails at once with
    "database is locked" when another connection committed in between (WAL
    cannot move its snapshot forward), whatever the busy time-out. BEGIN
    IMMEDIATE waits for the lock instead. Pages that only read keep a deferred
    BEGIN, so readers never queue behind each other; a read page that must
    write (the reports' refresh) asks for the lock with the ``intake_write``
    execution option.
    """
    immediate = request.method not in READ_METHODS if has_request_context() else True
    immediate = connection.get_execution_options().get("intake_write", immediate)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def init_app(app: Flask) -> None:
    """Turn on WAL, foreign keys, a busy time-out and write-ahead locking for SQLite connections."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        engine: Engine = db.engine
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"
