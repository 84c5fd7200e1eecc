"""Admin pages: offices, users, the outbox, the audit trail."""

from . import bp  # noqa: F401
