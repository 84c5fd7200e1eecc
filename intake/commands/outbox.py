"""`flask outbox ...`."""

from flask.cli import AppGroup

cli = AppGroup("outbox")
