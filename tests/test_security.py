"""Headers every response carries, and limits on what a request may hold."""

from __future__ import annotations

import re

import pytest

from intake.security import CSP
from tests.public_helpers import article_slug, fill, send


def pages(app):
    return ["/", f"/articles/{article_slug(app)}", "/contact", "/locations", "/healthz", "/no-such-page"]


def test_every_page_carries_the_security_headers(app, client):
    for url in pages(app):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, url
        assert "frame-ancestors 'none'" in csp
        assert "style-src 'self'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in headers  # only in production


def test_redirects_and_errors_carry_them_too(app, client):
    response = send(client, "/contact")
    assert response.status_code == 303
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in client.get("/articles/nope").headers


def test_hsts_in_production(make_app):
    app = make_app(SECRET_KEY="p" * 48)
    app.config["INTAKE_HSTS"] = True  # what ProductionConfig sets
    headers = app.test_client().get("/contact").headers
    assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_production_config_turns_hsts_on(monkeypatch):
    import config

    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/x")
    assert config.load("production").INTAKE_HSTS is True
    assert config.load("development").INTAKE_HSTS is False


def test_pages_have_no_inline_script_style_or_other_hosts(app, client):
    for url in pages(app)[:4]:
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle\s*=", html), url
        assert "<style" not in html, url
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not re.match(r"(?:https?:)?//", ref), (url, ref)


def test_static_stylesheet_served_from_self(client):
    with client.get("/static/site.css") as response:
        assert response.status_code == 200
        assert "text/css" in response.headers["Content-Type"]
        body = response.get_data(as_text=True)
    assert "@import" not in body and "url(http" not in body


@pytest.mark.parametrize("size,status", [(60 * 1024, None), (65 * 1024, 413), (1024 * 1024, 413)])
def test_requests_over_64kb_answer_413(app, client, size, status):
    data = fill(client, "/contact", website="x" * size)
    response = client.post("/contact", data=data)
    if status is None:
        assert response.status_code == 303
    else:
        assert response.status_code == 413
        html = response.get_data(as_text=True)
        assert "too much to send" in html.lower()
        assert response.headers["Content-Security-Policy"] == CSP


def test_thanks_and_form_urls_carry_no_patient_detail(app, client):
    response = send(client, "/contact", first_name="Zelda", email="zelda@example.com", zip_code="22030")
    location = response.headers["Location"]
    from base64 import urlsafe_b64decode

    payload = location.rsplit("/", 1)[1].split(".")[0]
    decoded = urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    for detail in ("Zelda", "zelda", "22030", "555"):
        assert detail not in location and detail not in decoded
