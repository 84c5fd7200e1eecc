"""Conditional GET (ETag, Last-Modified, 304) for the public pages where it is safe.

Only pages that carry no form get validators: the index and the offices
page. Article and contact pages hold a per-render CSRF token and a one-time
form token; a browser revalidating such a page and getting 304 would reuse a
token that was already spent, and a real second inquiry would be taken for a
double click. Those pages are always rendered afresh.

The ETag is a hash of the body itself, so a page that changes in any way (an
edited office, a new article, a new deploy) gets a new tag; and a response
that sets a cookie is never tagged, since it is not the same for everyone.
Static files get their validators from Flask.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, Response, request
from sqlalchemy import func, select

from .extensions import db
from .models import Article

REVALIDATED = {"public.index", "public.locations"}


def last_article_change() -> datetime | None:
    return db.session.scalar(select(func.max(Article.updated_at)))


def add_validators(response: Response) -> Response:
    """Tag a token-free page and answer 304 when the browser's copy is current."""
    if (request.endpoint not in REVALIDATED or request.method not in ("GET", "HEAD")
            or response.status_code != 200 or "Set-Cookie" in response.headers or response.direct_passthrough):
        return response
    response.add_etag()
    if request.endpoint == "public.index":
        changed = last_article_change()
        if changed is not None:
            response.last_modified = changed
    # Caches may keep it but must ask each time; cookies (a signed-in person) may change it.
    response.cache_control.no_cache = True
    response.vary.add("Cookie")
    return response.make_conditional(request)


def register(app: Flask) -> None:
    app.after_request(add_validators)
