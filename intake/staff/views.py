"""The staff dashboard."""

from . import bp  # noqa: F401
