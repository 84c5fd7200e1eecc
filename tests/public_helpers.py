"""Helpers for tests of the public form: fetch a page, fill it, send it."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

from sqlalchemy import func, select

from intake.extensions import db
from intake.models import Article, Lead
from tests.helpers import field_value

VALID = {
    "first_name": "Maria",
    "last_name": "Lopez",
    "email": "maria@example.com",
    "phone": "(301) 555-0162",
    "zip_code": "20814",
    "location": "",
    "contact_method": "phone",
    "message": "I would like to ask about infusions for depression.",
    "consent": "y",
}


def article_slug(app) -> str:
    """The slug of some article in the database, adding one when there is none yet."""
    with app.app_context():
        slug = db.session.scalar(select(Article.slug).order_by(Article.published_on.desc()))
        if slug is None:
            db.session.add(Article(slug="test-article", title="A test article", summary="For tests.",
                                   author="Test", published_on=date(2026, 1, 2), body_html="<p>Body.</p>",
                                   checksum="x"))
            db.session.commit()
            slug = "test-article"
        return slug


def form_fields(html: str) -> dict:
    """The hidden values a rendered form carries (CSRF, one-time token, UTM, referrer)."""
    return {name: field_value(html, name)
            for name in ("csrf_token", "form_token", "utm_source", "utm_medium", "utm_campaign", "referrer")}


def fill(client, url: str, **values) -> dict:
    """GET the form page and return what pressing Send would post."""
    page = client.get(url)
    assert page.status_code == 200
    data = form_fields(page.get_data(as_text=True))
    data.update(VALID)
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


def send(client, url: str, **values):
    return client.post(url.split("?")[0], data=fill(client, url, **values))


def lead_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Lead.id)))


def only_lead(app) -> Lead:
    with app.app_context():
        leads = db.session.scalars(select(Lead)).all()
        assert len(leads) == 1, f"expected one lead, found {len(leads)}"
        lead = leads[0]
        lead.location  # load before the session closes
        db.session.expunge_all()
        return lead


def text_of(html: str) -> str:
    """Visible text, roughly: tags removed, entities decoded, spaces collapsed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def main_html(html: str) -> str:
    match = re.search(r"<main\b.*?</main>", html, flags=re.S)
    assert match, "page has no <main>"
    return match.group(0)


def checked(html: str, name: str, value: str | None = None) -> bool:
    for tag in re.findall(r"<input\b[^>]*>", html):
        if f'name="{name}"' in tag and (value is None or f'value="{value}"' in tag):
            return " checked" in tag
    raise AssertionError(f"no checkbox {name}={value}")


def selected(html: str, name: str) -> str:
    match = re.search(rf'<select\b[^>]*name="{name}"[^>]*>(.*?)</select>', html, flags=re.S)
    assert match, f"no select {name}"
    chosen = re.search(r'<option\b[^>]*selected[^>]*value="([^"]*)"|<option\b[^>]*value="([^"]*)"[^>]*selected', match.group(1))
    return (chosen.group(1) or chosen.group(2) or "") if chosen else ""


def textarea(html: str, name: str) -> str:
    match = re.search(rf'<textarea\b[^>]*name="{name}"[^>]*>(.*?)</textarea>', html, flags=re.S)
    assert match, f"no textarea {name}"
    return unescape(match.group(1)).lstrip("\r\n")
