"""Delivering OutboxMessage rows (issue: notifications that are never lost)."""

from __future__ import annotations

from flask import Flask


def kick(app: Flask) -> None:
    """Called by a view after its commit: deliver due messages outside the request
    when INTAKE_OUTBOX_INPROCESS is on. Never raises, never blocks the response."""
