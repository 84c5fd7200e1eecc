"""Signs that a submission came from a bot. Pure functions over plain values.

A hit never drops a submission: the lead is stored flagged so staff can rescue it.
"""

from __future__ import annotations

import re

LINK_RE = re.compile(r"(https?://|www\.|\[url|<a\s)", re.IGNORECASE)
MAX_LINKS = 2
# The render time the form reports when its signed token was missing or altered.
BAD_TOKEN = -1.0


def count_links(text: str) -> int:
    """How many links (bare, www., BBCode or HTML) ``text`` holds."""
    return len(LINK_RE.findall(text or ""))


def check(
    *,
    honeypot: str,
    rendered_at: float | None,
    now: float,
    min_fill_seconds: float,
    message: str,
    names: tuple[str, ...] = (),
) -> str | None:
    """Return why a submission looks like spam, or None when it looks human."""
    if honeypot.strip():
        return "honeypot field filled"
    if rendered_at is not None and rendered_at < 0:
        return "form token missing or altered"
    if min_fill_seconds > 0:
        if rendered_at is None:
            return "form token missing its render time"
        elapsed = now - rendered_at
        if elapsed < min_fill_seconds:
            return f"sent {max(elapsed, 0):.1f} s after the form was shown"
    links = count_links(message)
    if links > MAX_LINKS:
        return f"{links} links in the message"
    if any(count_links(n) for n in names):
        return "a link in a name field"
    return None
