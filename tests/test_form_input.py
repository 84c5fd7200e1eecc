"""Hostile and odd input in every field: a clear message or a safe stored value, never a 500."""

from __future__ import annotations

import dns.exception
import dns.resolver
import pytest

from intake.public.forms import normalise_email, normalise_phone
from tests.helpers import field_value
from tests.public_helpers import fill, lead_count, only_lead, textarea

HTML = '<script>alert(1)</script><img src=x onerror=alert(2)>'
SQL = "Robert'); DROP TABLE lead;--"
TEXT_FIELDS = ["first_name", "last_name", "email", "phone", "zip_code", "message"]
ODD = {
    "html": HTML,
    "sql": SQL,
    "crlf": "a\r\nBcc: victim@example.com\r\n",
    "null": "ab\x00cd",
    "empty": "",
    "spaces": "   \t  ",
    "emoji": "😀🙏🏽",
    "rtl": "\u202eevil\u202c",
    "long": "x" * 10_000,
    "unicode": "Zoë Ñúñez-Łukasz 山田",
}


def post(client, **values):
    return client.post("/contact", data=fill(client, "/contact", **values))


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("kind", list(ODD))
def test_every_field_with_odd_input_never_500s_or_renders_markup(app, client, field, kind):
    value = ODD[kind]
    response = post(client, **{field: value})
    assert response.status_code in (200, 303), response.status_code
    html = response.get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    if response.status_code == 200:
        assert lead_count(app) == 0
        assert 'class="error-summary"' in html
        # The page keeps what was typed (one-line fields trimmed of outer spaces).
        if field == "message":
            kept, expected = textarea(html, field).replace("\r\n", "\n"), value.replace("\r\n", "\n")
        else:
            kept, expected = field_value(html, field), value.strip()
        assert kept == expected or kind == "null"
    else:
        lead = only_lead(app)
        stored = {"first_name": lead.first_name, "last_name": lead.last_name, "email": lead.email,
                  "phone": lead.phone, "zip_code": lead.zip_code, "message": lead.message}[field]
        assert "\x00" not in (stored or "") and "\r" not in (stored or "")
        if field in ("first_name", "last_name") and kind in ("html", "sql", "unicode", "emoji"):
            assert stored == value  # kept as typed, escaped only on output
        page = client.get(response.headers["Location"])
        assert page.status_code == 200


@pytest.mark.parametrize("kind", ["html", "sql", "null", "crlf", "long"])
@pytest.mark.parametrize("field", ["utm_source", "utm_medium", "utm_campaign", "referrer", "form_token", "website",
                                   "location", "contact_method", "help_with", "consent", "sms_consent"])
def test_hidden_and_choice_fields_with_odd_input_never_500(app, client, field, kind):
    response = post(client, **{field: ODD[kind]})
    assert response.status_code in (200, 303)
    html = response.get_data(as_text=True)
    assert "<script>alert(1)" not in html
    if response.status_code == 303:
        lead = only_lead(app)
        for value in (lead.utm_source, lead.utm_medium, lead.utm_campaign, lead.referrer):
            assert value is None or ("\x00" not in value and "\r" not in value and len(value) <= 500)


def test_first_name_required_and_whitespace_only_is_empty(app, client):
    html = post(client, first_name="   ").get_data(as_text=True)
    assert "Enter your first name." in html and lead_count(app) == 0


def test_names_are_trimmed_and_unicode_kept(app, client):
    assert post(client, first_name="  Zoë  ", last_name=" 山田 😀 ").status_code == 303
    lead = only_lead(app)
    assert (lead.first_name, lead.last_name) == ("Zoë", "山田 😀")


@pytest.mark.parametrize("name", ["Ann\x00", "Ann\r\nBcc: x@example.com", "A\x1bB"])
def test_control_characters_in_names_are_refused_clearly(app, client, name):
    html = post(client, first_name=name).get_data(as_text=True)
    assert "control characters" in html and lead_count(app) == 0


def test_name_longer_than_100_is_refused(app, client):
    html = post(client, first_name="A" * 101).get_data(as_text=True)
    assert "under 100 characters" in html and lead_count(app) == 0
    assert post(client, first_name="A" * 100).status_code == 303


def test_message_limit_is_2000(app, client):
    html = post(client, message="y" * 2001).get_data(as_text=True)
    assert "2,000 characters or fewer" in html and lead_count(app) == 0
    assert post(client, message="y" * 2000).status_code == 303
    assert len(only_lead(app).message) == 2000


def test_message_line_breaks_kept_and_control_characters_dropped(app, client):
    assert post(client, message="one\r\ntwo\rthree\x00\x07\tend").status_code == 303
    assert only_lead(app).message == "one\ntwo\nthree\tend"


def test_message_html_is_stored_as_text(app, client):
    assert post(client, message=HTML).status_code == 303
    assert only_lead(app).message == HTML


@pytest.mark.parametrize("zip_code,ok", [("20036", True), ("20036-1234", True), ("2003", False), ("200361", False),
                                         ("２００３６", False), ("20036 1234", False), ("abcde", False), ("", True)])
def test_zip_code_forms(app, client, zip_code, ok):
    response = post(client, zip_code=zip_code)
    assert (response.status_code == 303) is ok
    if ok:
        assert only_lead(app).zip_code == (zip_code or None)


@pytest.mark.parametrize("raw,e164", [("(202) 555-0140", "+12025550140"), ("202.555.0140", "+12025550140"),
                                      ("+1 301 555 0162", "+13015550162"), ("1-703-555-0127", "+17035550127")])
def test_phone_stored_in_e164(app, client, raw, e164):
    assert post(client, phone=raw, email="").status_code == 303
    assert only_lead(app).phone == e164


@pytest.mark.parametrize("raw", ["12", "555-1234", "call me", "+1 999 555 0140", "0" * 30])
def test_invalid_phone_gets_a_clear_message(raw):
    with pytest.raises(ValueError, match="phone number"):
        normalise_phone(raw)


@pytest.mark.parametrize("raw", ["plainaddress", "a@b", "a@@example.com", "a b@example.com", "x@example..com",
                                 "Name <a@example.com>", "a@example.com\r\nBcc: b@example.com"])
def test_invalid_email_gets_a_clear_message(app, raw):
    with app.app_context(), pytest.raises(ValueError, match="email address"):
        normalise_email(raw, check_dns=False)


def test_email_domain_lowercased_local_part_kept(app, client):
    assert post(client, email="Maria.L@Example.COM").status_code == 303
    assert only_lead(app).email == "Maria.L@example.com"


class Resolver(dns.resolver.Resolver):
    """A resolver that answers every question with one outcome, without a network."""

    def __init__(self, outcome):
        super().__init__(configure=False)
        self.nameservers = ["127.0.0.1"]
        self.outcome = outcome

    def resolve(self, *args, **kwargs):
        raise self.outcome


@pytest.mark.parametrize("outcome,accepted", [
    (dns.resolver.NXDOMAIN(), False),
    (dns.exception.Timeout(), True),
    (dns.resolver.NoNameservers(), True),
    (dns.resolver.NoAnswer(), True),
])
def test_dns_check_rejects_only_a_missing_domain(app, outcome, accepted):
    with app.app_context():
        if accepted:
            assert normalise_email("a@example.com", check_dns=True, resolver=Resolver(outcome)) == "a@example.com"
        else:
            with pytest.raises(ValueError, match="does not exist"):
                normalise_email("a@example.com", check_dns=True, resolver=Resolver(outcome))


def test_dns_check_is_off_by_default_and_wired_to_the_form(make_app):
    app = make_app()
    assert app.config["INTAKE_CHECK_EMAIL_DNS"] is False
    app = make_app(INTAKE_CHECK_EMAIL_DNS="true")
    app.config["INTAKE_DNS_RESOLVER"] = Resolver(dns.resolver.NXDOMAIN())
    client = app.test_client()
    html = post(client, email="a@no-such-domain.example").get_data(as_text=True)
    assert "does not exist" in html and lead_count(app) == 0
    app.config["INTAKE_DNS_RESOLVER"] = Resolver(dns.exception.Timeout())
    assert post(client, email="a@slow-domain.example").status_code == 303


def test_too_large_request_is_413_with_plain_page(app, client):
    data = fill(client, "/contact", message="z" * (70 * 1024))
    response = client.post("/contact", data=data)
    assert response.status_code == 413
    assert "too much to send" in response.get_data(as_text=True).lower()
    assert lead_count(app) == 0
