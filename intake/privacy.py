"""Keyed hashes and scrubbing, so personal data never lands where it should not."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app


def keyed_hash(value: str, purpose: str) -> str:
    """HMAC of ``value`` under the app's secret, namespaced by ``purpose``.

    Used for IP addresses and acknowledgement addresses: equal inputs match,
    but the stored value does not reveal the input.
    """
    key = f"{current_app.config['SECRET_KEY']}:{purpose}".encode()
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:40]
