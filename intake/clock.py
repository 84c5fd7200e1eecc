"""The one clock Intake reads, so tests can move time without sleeping."""

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Timezone-aware now in UTC. Tests monkeypatch this function."""
    return datetime.now(timezone.utc)
