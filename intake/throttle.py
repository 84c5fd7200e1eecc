"""Counting failed sign-ins, per account and per address, without the database.

Counts live in the storage named by RATELIMIT_STORAGE_URI (Redis when several
processes serve). When that storage cannot be reached, counting goes on in
this process's memory: a Redis outage slows an attacker down less, but it
never lets every attempt through. Only failures are counted, so staff who
type their password right are never held up by colleagues behind the same
office router.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from flask import Flask, current_app
from limits import parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

RETRY_PRIMARY_SECONDS = 30


@dataclass
class Verdict:
    """Whether another attempt may go ahead, and if not, for how long to wait."""

    allowed: bool
    wait_seconds: int = 0

    @property
    def wait_minutes(self) -> int:
        return max(1, math.ceil(self.wait_seconds / 60))


class FailureCounter:
    """Moving-window counts of failures for a few named keys, with an in-memory fallback."""

    def __init__(self, storage_uri: str, enabled: bool):
        self.enabled = enabled
        self.storage_uri = storage_uri
        self.primary = None
        self.fallback = MovingWindowRateLimiter(MemoryStorage())
        self.primary_down_until = 0.0
        if enabled and not storage_uri.startswith("memory"):
            try:
                self.primary = MovingWindowRateLimiter(storage_from_string(storage_uri))
            except Exception:  # a bad URI or a missing driver: count in memory, say so once
                logger.warning("sign-in throttle: storage %s unusable, counting in memory",
                               storage_uri.split("://", 1)[0])

    def _call(self, method: str, *args):
        if self.primary is not None and time.monotonic() >= self.primary_down_until:
            try:
                return getattr(self.primary, method)(*args)
            except Exception:  # connection refused, time-out, ...: keep counting locally
                logger.warning("sign-in throttle: storage unreachable, counting in memory for %ss",
                               RETRY_PRIMARY_SECONDS)
                self.primary_down_until = time.monotonic() + RETRY_PRIMARY_SECONDS
        return getattr(self.fallback, method)(*args)

    def check(self, limits: str, *keys: str) -> Verdict:
        """May another attempt under every one of ``keys`` go ahead?"""
        if not self.enabled:
            return Verdict(True)
        wait = 0.0
        for limit in parse_many(limits):
            for key in keys:
                if not self._call("test", limit, key):
                    stats = self._call("get_window_stats", limit, key)
                    wait = max(wait, stats.reset_time - time.time(), 1)
        return Verdict(wait == 0, int(math.ceil(wait)))

    def fail(self, limits: str, *keys: str) -> None:
        """Count one failure against each of ``keys``."""
        if not self.enabled:
            return
        for limit in parse_many(limits):
            for key in keys:
                self._call("hit", limit, key)

    def first_time(self, limit: str, key: str) -> bool:
        """Count one use of ``key``; True only for the first use within ``limit`` (e.g. "1 per 3 minutes")."""
        return bool(self._call("hit", parse_many(limit)[0], key))

    def clear(self, limits: str, *keys: str) -> None:
        """Forget the failures of ``keys`` (after a successful sign-in to that account)."""
        if not self.enabled:
            return
        for limit in parse_many(limits):
            for key in keys:
                self._call("clear", limit, key)


def init_app(app: Flask) -> None:
    app.extensions["intake_failures"] = FailureCounter(
        app.config.get("RATELIMIT_STORAGE_URI") or "memory://", bool(app.config.get("RATELIMIT_ENABLED")))


def counter() -> FailureCounter:
    """This app's counter, made on first use (so create_app need not know about it)."""
    app = current_app._get_current_object()
    if "intake_failures" not in app.extensions:
        init_app(app)
    return app.extensions["intake_failures"]


def used_codes() -> FailureCounter:
    """A counter that is always on, for refusing a two-step code used a second time."""
    app = current_app._get_current_object()
    if "intake_used_codes" not in app.extensions:
        app.extensions["intake_used_codes"] = FailureCounter(app.config.get("RATELIMIT_STORAGE_URI") or "memory://",
                                                             True)
    return app.extensions["intake_used_codes"]
