"""Prometheus metrics at /metrics (issue: speed and scale)."""

from flask import Flask


def register(app: Flask) -> None:
    """Attach request timing and the /metrics endpoint."""
