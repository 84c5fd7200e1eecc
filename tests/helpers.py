"""Small helpers for reading pages in tests."""

from __future__ import annotations

import re
from html import unescape


def field_value(response_or_html, name: str) -> str:
    """The value of the hidden or text input called ``name`` in a page."""
    html = response_or_html if isinstance(response_or_html, str) else response_or_html.get_data(as_text=True)
    for tag in re.findall(r"<input\b[^>]*>", html):
        if re.search(rf'\bname="{re.escape(name)}"', tag):
            match = re.search(r'\bvalue="([^"]*)"', tag)
            return unescape(match.group(1)) if match else ""
    raise AssertionError(f"no input named {name!r} in page")


def csrf_token(response_or_html) -> str:
    return field_value(response_or_html, "csrf_token")
