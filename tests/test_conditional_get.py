"""ETag and Last-Modified where a page holds no token; fresh renders where it does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from intake import clock
from intake.extensions import db
from intake.models import Article, Location
from tests.helpers import field_value


def test_index_revalidates_with_etag_and_last_modified(client):
    first = client.get("/")
    assert first.status_code == 200
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    assert "no-cache" in first.headers["Cache-Control"]
    by_tag = client.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert by_tag.status_code == 304 and by_tag.data == b""
    by_date = client.get("/", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert by_date.status_code == 304


def test_a_changed_article_changes_the_index_tag(app, client):
    first = client.get("/")
    with app.app_context():
        article = db.session.scalars(select(Article).order_by(Article.id)).first()
        article.title = "A title edited after the first visit"
        article.updated_at = clock.utcnow() + timedelta(minutes=5)
        db.session.commit()
    again = client.get("/", headers={"If-None-Match": first.headers["ETag"],
                                     "If-Modified-Since": first.headers["Last-Modified"]})
    assert again.status_code == 200
    assert "A title edited after the first visit" in again.get_data(as_text=True)
    assert again.headers["ETag"] != first.headers["ETag"]


def test_locations_revalidates_and_changes_with_an_office(app, client):
    first = client.get("/locations")
    assert client.get("/locations", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    with app.app_context():
        office = db.session.scalar(select(Location).where(Location.slug == "fairfax-va"))
        office.phone = "(703) 555-0199"
        db.session.commit()
    again = client.get("/locations", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and "(703) 555-0199" in again.get_data(as_text=True)


def test_pages_with_a_form_are_never_revalidated(app, client):
    with app.app_context():
        slug = db.session.scalars(select(Article.slug)).first()
    for path in (f"/articles/{slug}", "/contact"):
        first = client.get(path)
        assert first.status_code == 200
        assert "ETag" not in first.headers and "Last-Modified" not in first.headers
        again = client.get(path, headers={"If-None-Match": "*", "If-Modified-Since": "Fri, 27 Nov 2099 00:00:00 GMT"})
        assert again.status_code == 200
        # A fresh one-time token every time: a spent one is never handed out again.
        assert field_value(again, "form_token") != field_value(first, "form_token")
