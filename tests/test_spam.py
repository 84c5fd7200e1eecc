"""The spam checks as pure functions: each sign, and humans let through."""

from __future__ import annotations

import pytest

from intake import spam

NOW = 1_800_000_000.0


def check(**overrides):
    args = {"honeypot": "", "rendered_at": NOW - 60, "now": NOW, "min_fill_seconds": 3.0,
            "message": "Hello, could someone call me about infusions?", "names": ("Maria", "Lopez")}
    args.update(overrides)
    return spam.check(**args)


def test_a_human_passes():
    assert check() is None


@pytest.mark.parametrize("honeypot,flagged", [("", False), ("   ", False), ("http://x.example", True), ("a", True)])
def test_honeypot(honeypot, flagged):
    assert (check(honeypot=honeypot) == "honeypot field filled") is flagged


@pytest.mark.parametrize("elapsed,flagged", [(0.0, True), (2.9, True), (3.0, False), (600, False), (-5, True)])
def test_time_trap(elapsed, flagged):
    reason = check(rendered_at=NOW - elapsed)
    assert (reason is not None) is flagged
    if flagged:
        assert "after the form was shown" in reason


def test_time_trap_off_at_zero():
    assert check(rendered_at=NOW, min_fill_seconds=0) is None
    assert check(rendered_at=None, min_fill_seconds=0) is None


def test_missing_render_time_is_flagged_when_the_trap_is_on():
    assert check(rendered_at=None) == "form token missing its render time"


def test_bad_token_is_flagged_even_with_the_trap_off():
    assert check(rendered_at=spam.BAD_TOKEN, min_fill_seconds=0) == "form token missing or altered"


@pytest.mark.parametrize("message,links", [
    ("no links here", 0),
    ("see www.example.com", 1),
    ("http://a.example and https://b.example", 2),
    ("http://a.example https://b.example www.c.example", 3),
    ('[url=http://x]x[/url] <a href="y">y</a>', 3),
])
def test_link_count(message, links):
    assert spam.count_links(message) == links
    assert (check(message=message) is not None) is (links > spam.MAX_LINKS)


def test_a_link_in_a_name_is_flagged():
    assert check(names=("Cheap meds www.pills.example", "")) == "a link in a name field"
