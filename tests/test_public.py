"""The public pages and the contact form, through the test client."""

from __future__ import annotations

import re
import socket
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from intake.extensions import db
from intake.models import Article, AuditEvent, Inquiry, Lead, Location, OutboxMessage
from tests.public_helpers import (
    VALID, article_slug, checked, fill, form_fields, lead_count, main_html, only_lead, selected, send, text_of,
    textarea,
)

REFERENCE_RE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}\b")
CONTRACT_LABELS = ["First name", "Last name", "Email", "Phone", "ZIP code", "Preferred location",
                   "Preferred contact method", "Message", "I agree"]


def labels(html: str) -> dict[str, str]:
    """Label text -> the id of the control it is bound to."""
    found = {}
    for target, inner in re.findall(r'<label[^>]*\bfor="([^"]+)"[^>]*>(.*?)</label>', html, flags=re.S):
        found[text_of(inner)] = target
    return found


def outbox_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(OutboxMessage.id)))


# ---- pages ---------------------------------------------------------------------

def test_index_lists_articles_newest_first_with_links(app, client):
    with app.app_context():
        articles = db.session.execute(select(Article.slug, Article.title, Article.published_on)).all()
    assert articles, "seed put no article in the database"
    html = client.get("/").get_data(as_text=True)
    newest_first = sorted(articles, key=lambda a: a.published_on, reverse=True)
    positions = [html.index(f'href="/articles/{a.slug}"') for a in newest_first]
    assert positions == sorted(positions)
    for article in articles:
        assert text_of(article.title.replace("&", "&amp;")) in text_of(html)


def test_article_page_ends_in_the_contact_form(app, client):
    slug = article_slug(app)
    response = client.get(f"/articles/{slug}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.index("</article>") < html.index("Contact our offices") < html.index("<form")
    assert re.search(r"<h2[^>]*>Contact our offices</h2>", html)


def test_unknown_article_is_404(client):
    assert client.get("/articles/no-such-article").status_code == 404


@pytest.mark.parametrize("url", ["/contact", "ARTICLE"])
def test_form_labels_are_the_contract_words_bound_to_controls(app, client, url):
    url = f"/articles/{article_slug(app)}" if url == "ARTICLE" else url
    html = client.get(url).get_data(as_text=True)
    bound = labels(html)
    for word in CONTRACT_LABELS:
        matches = [text for text in bound if text.lower().startswith(word.lower())]
        assert len(matches) == 1, (word, matches)
        control_id = bound[matches[0]]
        assert re.search(rf'<(input|select|textarea)\b[^>]*\bid="{re.escape(control_id)}"', html), word
        # No other label on the page may contain the same words (outside suites match substrings).
        assert [t for t in bound if word.lower() in t.lower()] == matches, word
    assert re.search(r'<button[^>]*type="submit"[^>]*>\s*Send\s*</button>', html)
    options = re.search(r'<select[^>]*name="location"[^>]*>(.*?)</select>', html, flags=re.S).group(1)
    names = [text_of(o) for o in re.findall(r"<option[^>]*>(.*?)</option>", options)]
    with app.app_context():
        offices = db.session.scalars(select(Location.name).order_by(Location.position)).all()
    assert names == ["Nearest office to my ZIP code", *offices]
    assert len(offices) == 6
    methods = re.search(r'<select[^>]*name="contact_method"[^>]*>(.*?)</select>', html, flags=re.S).group(1)
    assert [text_of(o) for o in re.findall(r"<option[^>]*>(.*?)</option>", methods)] == [
        "Phone call", "Text message", "Email"]


def test_form_warns_it_is_not_for_emergencies_before_the_fields(client):
    html = client.get("/contact").get_data(as_text=True)
    warning = html.index("not for emergencies")
    assert warning < html.index('name="first_name"')
    assert 'href="tel:988"' in html and 'href="tel:911"' in html
    assert "Up to 2,000 characters" in html


def test_honeypot_is_hidden_from_people_and_screen_readers(client):
    html = client.get("/contact").get_data(as_text=True)
    wrapper = re.search(r'<div class="hp-field" aria-hidden="true">(.*?)</div>', html, flags=re.S)
    assert wrapper, "honeypot wrapper missing"
    control = re.search(r"<input[^>]*>", wrapper.group(1)).group(0)
    assert 'tabindex="-1"' in control and 'autocomplete="off"' in control


def test_locations_lists_active_offices_with_tel_links(app, client):
    html = client.get("/locations").get_data(as_text=True)
    with app.app_context():
        offices = db.session.scalars(select(Location)).all()
        for office in offices:
            assert office.name.replace("&", "&amp;") in html
            assert office.address in html
            digits = re.sub(r"\D", "", office.phone)
            assert f'href="tel:+1{digits}"' in html
            assert office.hours in html
        fairfax = db.session.scalar(select(Location).where(Location.slug == "fairfax-va"))
        fairfax.active = False
        db.session.commit()
    html = client.get("/locations").get_data(as_text=True)
    assert "Fairfax, VA" not in html
    assert "Arlington, VA" in html
    assert "Fairfax, VA" not in client.get("/contact").get_data(as_text=True)


def test_form_offers_offices_as_they_are_now_after_an_admin_change(app, client):
    """The untouched form's fields are rendered once per process; an office change must still show at once."""
    before = client.get("/contact").get_data(as_text=True)
    assert '<option value="fairfax-va">Fairfax, VA</option>' in before
    with app.app_context():
        fairfax = db.session.scalar(select(Location).where(Location.slug == "fairfax-va"))
        fairfax.name = "Fairfax & Vienna, VA"
        db.session.commit()
    renamed = client.get("/contact").get_data(as_text=True)
    assert '<option value="fairfax-va">Fairfax &amp; Vienna, VA</option>' in renamed
    with app.app_context():
        fairfax = db.session.scalar(select(Location).where(Location.slug == "fairfax-va"))
        fairfax.active = False
        db.session.commit()
    slug = article_slug(app)
    for html in (client.get("/contact").get_data(as_text=True),
                 client.get(f"/articles/{slug}").get_data(as_text=True)):
        assert 'value="fairfax-va"' not in html
        assert '<option value="arlington-va">Arlington, VA</option>' in html


def test_ready_made_fields_are_what_a_full_render_gives(app):
    from flask import render_template_string

    from intake import leads
    from intake.public.forms import ContactForm, blank_fields_html

    with app.test_request_context("/contact"):
        offices = leads.active_office_choices(db.session)
        form = ContactForm(offices=offices)
        full = render_template_string('{% include "_partials/contact_fields.html" %}', form=form)
        assert 'id="first_name"' in full and 'value="bethesda-md"' in full
        assert blank_fields_html(offices) == full


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "up"


# ---- sending the form ----------------------------------------------------------

def test_valid_article_post_stores_lead_and_redirects_to_thanks(app, client):
    slug = article_slug(app)
    url = f"/articles/{slug}?utm_source=news&utm_medium=email&utm_campaign=fall"
    client.environ_base["HTTP_REFERER"] = "https://search.example/?q=ketamine"  # at GET time
    data = fill(client, url, help_with=["depression", "anxiety"], sms_consent="y", contact_method="text")
    client.environ_base.pop("HTTP_REFERER")
    response = client.post(f"/articles/{slug}", data=data)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/thanks/")
    for private in ("Maria", "Lopez", "maria", "555", "20814"):
        assert private not in location

    page = client.get(location)
    assert page.status_code == 200
    text = text_of(main_html(page.get_data(as_text=True)))
    lead = only_lead(app)
    assert REFERENCE_RE.fullmatch(lead.reference)
    assert lead.reference in text
    assert "Bethesda, MD" in text and "(301) 555-0162" in text
    assert "988" in text and "Suicide & Crisis Lifeline" in text

    assert (lead.first_name, lead.last_name, lead.email) == ("Maria", "Lopez", "maria@example.com")
    assert lead.phone == "+13015550162"
    assert lead.zip_code == "20814" and lead.location.slug == "bethesda-md"
    assert lead.help_with == "depression,anxiety" and lead.sms_consent and lead.contact_method == "text"
    assert lead.source_article == slug and lead.source_path == f"/articles/{slug}"
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("news", "email", "fall")
    assert lead.referrer == "https://search.example/?q=ketamine"
    assert lead.consent_text.startswith("I agree") and lead.consent_version == app.config["INTAKE_CONSENT_VERSION"]
    assert lead.ip_hash and "127.0.0.1" not in lead.ip_hash
    assert lead.spam is False and lead.urgent is False


def test_consent_text_stored_is_the_label_shown(app, client):
    html = client.get("/contact").get_data(as_text=True)
    shown = [t for t in labels(html) if t.startswith("I agree")][0]
    client.post("/contact", data=fill(client, "/contact"))
    assert only_lead(app).consent_text == shown


def test_contact_post_without_choice_routes_by_zip(app, client):
    response = send(client, "/contact", zip_code="22030", email="x@example.com", phone="")
    assert response.status_code == 303
    lead = only_lead(app)
    assert lead.location.slug == "fairfax-va" and lead.source_article is None and lead.source_path == "/contact"
    assert lead.phone is None


def test_explicit_location_choice_wins(app, client):
    send(client, "/contact", zip_code="22030", location="annapolis-md")
    assert only_lead(app).location.slug == "annapolis-md"


def test_invalid_post_keeps_every_value_and_shows_errors_by_field(app, client):
    slug = article_slug(app)
    data = fill(client, f"/articles/{slug}", first_name="", email="not-an-email", phone="12", zip_code="2081",
                location="columbia-md", contact_method="email", sms_consent="y", help_with=["ptsd", "other"],
                message="Line one\r\nLine <two> & more", consent=None, last_name="O'Brien")
    response = client.post(f"/articles/{slug}", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert lead_count(app) == 0

    # Values kept: text, select, checkboxes, textarea.
    from tests.helpers import field_value
    assert field_value(html, "email") == "not-an-email"
    assert field_value(html, "phone") == "12"
    assert field_value(html, "zip_code") == "2081"
    assert field_value(html, "last_name") == "O'Brien"
    assert selected(html, "location") == "columbia-md"
    assert selected(html, "contact_method") == "email"
    assert checked(html, "sms_consent")
    assert checked(html, "help_with", "ptsd") and checked(html, "help_with", "other")
    assert not checked(html, "help_with", "anxiety")
    assert not checked(html, "consent")
    assert textarea(html, "message").replace("\r\n", "\n") == "Line one\nLine <two> & more"
    assert "Line <two>" not in html  # escaped, never rendered as markup
    assert field_value(html, "form_token") == data["form_token"]

    # The summary sits before the fields, takes focus, and links to each field.
    summary = re.search(r'<div class="error-summary"[^>]*>.*?</div>', html, flags=re.S).group(0)
    assert 'tabindex="-1"' in summary and "autofocus" in summary and 'role="alert"' in summary
    assert html.index("error-summary") < html.index('name="first_name"')
    for field_id in ("first_name", "email", "phone", "zip_code", "consent"):
        assert f'href="#{field_id}"' in summary, field_id
        error = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', html, flags=re.S)
        assert error, field_id
        control = re.search(rf'<input\b[^>]*\bid="{field_id}"[^>]*>', html).group(0)
        assert f"{field_id}-error" in re.search(r'aria-describedby="([^"]*)"', control).group(1)
        assert 'aria-invalid="true"' in control
    assert "Enter your first name." in html
    assert "5-digit ZIP code" in html
    assert "Tick the box to agree" in html
    # Fields without errors are not marked invalid.
    last = re.search(r'<input\b[^>]*\bid="last_name"[^>]*>', html).group(0)
    assert "aria-invalid" not in last


def test_email_or_phone_is_required_and_said_on_both(app, client):
    response = send(client, "/contact", email="", phone="")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and lead_count(app) == 0
    for field_id in ("email", "phone"):
        error = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', html, flags=re.S).group(1)
        assert "email address or a phone number" in text_of(error)
    summary = re.search(r'<div class="error-summary"[^>]*>.*?</div>', html, flags=re.S).group(0)
    assert text_of(summary).count("email address or a phone number") == 1


@pytest.mark.parametrize("email,phone", [("a@example.com", ""), ("", "202-555-0140")])
def test_email_or_phone_alone_is_enough(app, client, email, phone):
    assert send(client, "/contact", email=email, phone=phone).status_code == 303
    assert lead_count(app) == 1


def test_double_submit_makes_one_lead_and_same_thanks_page(app, client):
    data = fill(client, "/contact")
    first = client.post("/contact", data=data)
    second = client.post("/contact", data=data)
    assert first.status_code == second.status_code == 303
    assert lead_count(app) == 1
    one = text_of(main_html(client.get(first.headers["Location"]).get_data(as_text=True)))
    two = text_of(main_html(client.get(second.headers["Location"]).get_data(as_text=True)))
    assert one == two and only_lead(app).reference in two


def test_back_and_resend_after_an_error_still_one_lead(app, client):
    data = fill(client, "/contact", first_name="")
    assert client.post("/contact", data=data).status_code == 200
    data["first_name"] = "Maria"
    assert client.post("/contact", data=data).status_code == 303
    assert client.post("/contact", data=data).status_code == 303
    assert lead_count(app) == 1


def test_repeat_inquiry_at_same_office_joins_the_open_lead(app, client):
    send(client, "/contact", location="bethesda-md", message="First note")
    send(client, "/contact", location="bethesda-md", email="MARIA@example.com", phone="", message="Second note, every word")
    lead = only_lead(app)
    with app.app_context():
        inquiries = db.session.scalars(select(Inquiry).where(Inquiry.lead_id == lead.id)).all()
        assert [i.message for i in inquiries] == ["Second note, every word"]
        assert db.session.get(Lead, lead.id).repeat_count == 1


def test_match_at_another_office_opens_a_linked_lead(app, client):
    send(client, "/contact", location="bethesda-md")
    send(client, "/contact", location="fairfax-va")
    with app.app_context():
        leads = db.session.scalars(select(Lead).order_by(Lead.id)).all()
        assert [l.location.slug for l in leads] == ["bethesda-md", "fairfax-va"]
        assert leads[1].duplicate_of_id == leads[0].id


def test_csrf_failure_keeps_values_and_asks_to_send_again(app, client):
    slug = article_slug(app)
    data = fill(client, f"/articles/{slug}", help_with=["ptsd"], location="arlington-va",
                message="Please call after 5pm")
    data["csrf_token"] = "expired-or-forged"
    response = client.post(f"/articles/{slug}", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert lead_count(app) == 0
    assert "press Send again" in html
    from tests.helpers import field_value
    assert field_value(html, "first_name") == "Maria"
    assert field_value(html, "email") == "maria@example.com"
    assert selected(html, "location") == "arlington-va"
    assert checked(html, "help_with", "ptsd") and checked(html, "consent")
    assert textarea(html, "message") == "Please call after 5pm"
    fresh = field_value(html, "csrf_token")
    assert fresh and fresh != "expired-or-forged"
    assert "Contact our offices" in html and "</article>" in html

    # Pressing Send again on the re-rendered page works.
    resend = {**data, **form_fields(html)}
    assert client.post(f"/articles/{slug}", data=resend).status_code == 303
    assert lead_count(app) == 1


def test_csrf_failure_on_contact_page_and_with_no_session(app):
    client = app.test_client()
    data = dict(VALID, csrf_token="nope", form_token="x")
    response = client.post("/contact", data=data)
    assert response.status_code == 400
    assert "press Send again" in response.get_data(as_text=True)
    assert lead_count(app) == 0


# ---- spam: stored flagged, nothing sent, same thank-you page -------------------

def spam_lead(app) -> Lead:
    lead = only_lead(app)
    assert lead.spam is True and lead.spam_reason
    assert outbox_count(app) == 0
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "spam_flagged"))
    return lead


def test_a_human_submission_does_queue_messages(app, client):
    """The control for the spam tests below: without a spam sign, the office is told."""
    assert send(client, "/contact").status_code == 303
    assert only_lead(app).spam is False
    assert outbox_count(app) >= 1


def test_honeypot_filled_is_stored_flagged(app, client):
    response = send(client, "/contact", website="http://cheap.example")
    assert response.status_code == 303
    assert "honeypot" in spam_lead(app).spam_reason
    text = text_of(main_html(client.get(response.headers["Location"]).get_data(as_text=True)))
    assert "Thank you" in text and "988" in text


def test_sent_too_fast_is_flagged_and_slow_enough_is_not(make_app, frozen_clock):
    app = make_app(INTAKE_MIN_FILL_SECONDS="3")
    client = app.test_client()
    data = fill(client, "/contact")
    frozen_clock.advance(seconds=1)
    assert client.post("/contact", data=data).status_code == 303
    assert "after the form was shown" in spam_lead(app).spam_reason

    data = fill(client, "/contact", email="other@example.com", phone="")
    frozen_clock.advance(seconds=5)
    assert client.post("/contact", data=data).status_code == 303
    with app.app_context():
        human = db.session.scalar(select(Lead).where(Lead.email == "other@example.com"))
        assert human.spam is False


@pytest.mark.parametrize("token", ["", "garbage", "eyJpZCI6ICJ4In0.tampered"])
def test_missing_or_altered_form_token_is_flagged(app, client, token):
    assert send(client, "/contact", form_token=token).status_code == 303
    assert spam_lead(app).spam_reason == "form token missing or altered"


def test_altered_render_time_is_flagged(app, client):
    data = fill(client, "/contact")
    payload, signature = data["form_token"].rsplit(".", 1)
    data["form_token"] = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    assert client.post("/contact", data=data).status_code == 303
    assert spam_lead(app).spam_reason == "form token missing or altered"


def test_many_links_are_flagged(app, client):
    message = "see http://a.example http://b.example http://c.example"
    assert send(client, "/contact", message=message).status_code == 303
    lead = spam_lead(app)
    assert "links" in lead.spam_reason and lead.message == message


# ---- rate limit ----------------------------------------------------------------

def test_rate_limit_answers_friendly_page_with_office_phones(make_app):
    app = make_app(RATELIMIT_ENABLED="true")
    app.config["INTAKE_SUBMIT_LIMIT"] = "3 per minute;30 per day"  # read per request
    client = app.test_client()
    for n in range(3):
        assert send(client, "/contact", email=f"p{n}@example.com", phone="").status_code == 303
    # Reading pages is never limited.
    assert client.get("/contact").status_code == 200
    limited = send(client, "/contact", email="p9@example.com", phone="")
    assert limited.status_code == 429
    html = limited.get_data(as_text=True)
    assert html.count('href="tel:+1') == 6
    assert "988" in html
    assert lead_count(app) == 3
    # The limit is shared by the article forms.
    slug = article_slug(app)
    assert send(client, f"/articles/{slug}", email="p10@example.com", phone="").status_code == 429


def test_default_limit_is_five_a_minute(make_app):
    app = make_app(RATELIMIT_ENABLED="true")
    assert app.config["INTAKE_SUBMIT_LIMIT"] == "5 per minute;30 per day"
    client = app.test_client()
    codes = [send(client, "/contact", email=f"q{n}@example.com", phone="").status_code for n in range(6)]
    assert codes == [303] * 5 + [429]


def test_rate_limit_fails_open_when_redis_is_unreachable(make_app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    app = make_app(RATELIMIT_ENABLED="true", RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed_port}/0")
    client = app.test_client()
    response = send(client, "/contact")
    assert response.status_code == 303
    assert lead_count(app) == 1


# ---- thanks page ---------------------------------------------------------------

def test_urgent_thanks_page_opens_with_988_and_911(app, client):
    response = send(client, "/contact", message="Honestly I have been thinking about suicide lately.")
    html = main_html(client.get(response.headers["Location"]).get_data(as_text=True))
    lead = only_lead(app)
    assert lead.urgent
    text = text_of(html)
    first_988, first_911 = text.index("988"), text.index("911")
    assert max(first_988, first_911) < text.index("Thank you") < text.index(lead.reference)
    assert "call or text" in text.lower()[:first_988 + 40]


def test_thanks_page_of_a_normal_lead_does_not_open_with_crisis_box(app, client):
    response = send(client, "/contact")
    text = text_of(main_html(client.get(response.headers["Location"]).get_data(as_text=True)))
    assert text.index("Thank you") < text.index("988")


def test_thanks_link_is_signed_and_expires(app, client):
    response = send(client, "/contact")
    reference = only_lead(app).reference
    assert client.get(f"/thanks/{reference}").status_code == 404
    assert client.get(response.headers["Location"] + "x").status_code == 404

    class OldSigner(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 2 * 24 * 3600

    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="thanks", signer=OldSigner).dumps(reference)
    assert client.get(f"/thanks/{old}").status_code == 404
    fresh = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="thanks").dumps(reference)
    assert client.get(f"/thanks/{fresh}").status_code == 200


# ---- privacy -------------------------------------------------------------------

def test_no_patient_detail_in_logs(app, client, caplog):
    caplog.set_level("DEBUG")
    details = {"first_name": "Quintessa", "last_name": "Vandermeer", "email": "quintessa.v@example.com",
               "phone": "(703) 555-0127", "zip_code": "22201", "message": "Zebrafish marmalade thoughts"}
    response = send(client, "/contact", **details)
    assert response.status_code == 303
    send(client, "/contact", **dict(details, first_name=""))  # an invalid one too
    logged = caplog.text
    for value in (*details.values(), "+17035550127", "quintessa", "Zebrafish"):
        assert value not in logged, value


def test_csrf_failure_off_the_public_form_is_the_plain_400(app, client):
    response = client.post("/staff/login", data={"email": "a@example.org", "password": "x", "csrf_token": "bad"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "press Send again" not in html and 'name="first_name"' not in html
    assert "a@example.org" not in html


def test_post_to_unknown_article_is_404_and_makes_no_lead(app, client):
    data = fill(client, "/contact")
    assert client.post("/articles/no-such-article", data=data).status_code == 404
    assert lead_count(app) == 0
