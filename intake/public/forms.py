"""The contact form: labels as the contract words them, rules for each field.

Values are trimmed and normalised here; the form hands leads.submit_lead a
LeadSubmission that needs no further cleaning.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import dns.resolver
import phonenumbers
from email_validator import EmailNotValidError, EmailUndeliverableError, validate_email
from email_validator.deliverability import validate_email_deliverability
from flask import current_app
from flask_wtf import FlaskForm
from itsdangerous import BadData, URLSafeSerializer
from markupsafe import Markup
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..leads import LeadSubmission
from ..models import CONTACT_METHODS, HELP_TOPICS

MESSAGE_LIMIT = 2000
NAME_LIMIT = 100
NEAREST = "Nearest office to my ZIP code"
CONSENT_TEXT = (
    "I agree that the office may contact me about this inquiry by the means I chose above, "
    "and that what I send here is kept to answer it."
)
SMS_CONSENT_TEXT = "OK to send me texts about my inquiry (optional)"
ZIP_RE = re.compile(r"^[0-9]{5}(?:-[0-9]{4})?$", re.ASCII)
DNS_TIMEOUT_SECONDS = 4
TOKEN_SALT = "contact-form"
HIDDEN_FIELDS = ("csrf_token", "form_token", "utm_source", "utm_medium", "utm_campaign", "referrer")


# ---- small cleaners, shared by fields and hidden values ------------------------

def has_control_chars(value: str, allowed: str = "") -> bool:
    """True when ``value`` holds a control character (null bytes included) not in ``allowed``."""
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value)


def strip_control_chars(value: str, allowed: str = "") -> str:
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cc" or ch in allowed)


def clean_hidden(value: str | None, limit: int) -> str | None:
    """A value the browser sends back unseen (UTM, referrer): untrusted, so trimmed and cut."""
    value = strip_control_chars(value or "").strip()[:limit]
    return value or None


def strip_value(value):
    return value.strip() if isinstance(value, str) else value


# ---- checks usable without a form ----------------------------------------------

def normalise_email(value: str, *, check_dns: bool, resolver=None) -> str:
    """The address in a normalised form, or ValueError with words for the patient.

    With ``check_dns`` only a definite "no such domain" rejects: a time-out, a
    missing MX record or an unreachable name server lets the address through.
    """
    try:
        checked = validate_email(value, check_deliverability=False, allow_display_name=False)
    except EmailNotValidError as exc:
        raise ValueError(f"Enter an email address like name@example.com. {exc}") from None
    if check_dns:
        kwargs = {"dns_resolver": resolver} if resolver is not None else {"timeout": DNS_TIMEOUT_SECONDS}
        try:
            validate_email_deliverability(checked.ascii_domain, checked.domain, **kwargs)
        except EmailUndeliverableError as exc:
            if isinstance(exc.__cause__, dns.resolver.NXDOMAIN):
                raise ValueError(f"The domain {checked.domain} does not exist. Please check the spelling.") from None
        except Exception:  # noqa: BLE001 - any DNS trouble is not the patient's fault
            current_app.logger.info("email domain check failed; address accepted")
    return checked.normalized


def normalise_phone(value: str) -> str:
    """The number in E.164 (US by default), or ValueError with words for the patient."""
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        raise ValueError("Enter a phone number like (202) 555-0140.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("That phone number does not look complete. Enter it like (202) 555-0140.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# ---- the one-time form token ---------------------------------------------------

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def issue_form_token(rendered_at: float) -> str:
    """A signed random id plus the render time: spent once, and dates the form."""
    return _serializer().dumps({"id": secrets.token_urlsafe(18), "t": round(rendered_at, 3)})


def read_form_token(value: str | None) -> tuple[str, float] | None:
    """The id and render time in a token, or None when it is missing or altered."""
    if not value or len(value) > 200:
        return None
    try:
        data = _serializer().loads(value)
        token_id, rendered_at = str(data["id"]), float(data["t"])
    except (BadData, KeyError, TypeError, ValueError):
        return None
    if not re.fullmatch(r"[A-Za-z0-9_-]{8,64}", token_id):
        return None
    return token_id, rendered_at


# ---- field rules ---------------------------------------------------------------

def name_rule(form, field) -> None:
    if field.data and has_control_chars(field.data):
        raise ValidationError("Please use letters, spaces and punctuation only; remove any special control characters.")


def zip_rule(form, field) -> None:
    if field.data and not ZIP_RE.match(field.data):
        raise ValidationError("Enter a 5-digit ZIP code, like 20036 (or ZIP+4, like 20036-1234).")


class ContactForm(FlaskForm):
    """One inquiry from a prospective patient. Locations are set per request."""

    first_name = StringField("First name", filters=[strip_value], validators=[
        DataRequired("Enter your first name."), Length(max=NAME_LIMIT, message="Keep your first name under 100 characters."),
        name_rule])
    last_name = StringField("Last name (optional)", filters=[strip_value], validators=[
        Optional(), Length(max=NAME_LIMIT, message="Keep your last name under 100 characters."), name_rule])
    email = StringField("Email", filters=[strip_value], validators=[Length(max=254, message="That email address is too long.")])
    phone = StringField("Phone", filters=[strip_value], validators=[Length(max=40, message="That phone number is too long.")])
    zip_code = StringField("ZIP code (optional)", filters=[strip_value], validators=[Optional(), zip_rule])
    location = SelectField("Preferred location", choices=[SelectChoice("", NEAREST)], default="")
    contact_method = SelectField("Preferred contact method", default="phone",
                                 choices=[SelectChoice(k, v) for k, v in CONTACT_METHODS.items()])
    sms_consent = BooleanField(SMS_CONSENT_TEXT)
    help_with = SelectMultipleField("What would you like help with? (optional)",
                                    choices=[SelectChoice(k, v) for k, v in HELP_TOPICS.items()])
    message = TextAreaField("Message (optional)", validators=[
        Length(max=MESSAGE_LIMIT, message="Please shorten your message to 2,000 characters or fewer.")])
    consent = BooleanField(CONSENT_TEXT, validators=[DataRequired("Tick the box to agree, so the office may contact you.")])

    form_token = HiddenField()
    utm_source = HiddenField()
    utm_medium = HiddenField()
    utm_campaign = HiddenField()
    referrer = HiddenField()
    website = StringField("Company website (leave empty)")  # honeypot

    def __init__(self, *args, offices: Sequence[tuple[str, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.location.choices = [SelectChoice("", NEAREST)] + [SelectChoice(slug, name) for slug, name in offices]
        self.email_normalised: str | None = None
        self.phone_e164: str | None = None

    # A sent form renders its own fields, with what was typed and the errors (see BlankContactForm).
    fields_html = None

    def hidden_values(self) -> dict[str, str]:
        """The hidden inputs' values as the template writes them: the tokens, UTM tags and referrer."""
        return {name: self[name]._value() for name in HIDDEN_FIELDS}

    def validate_email(self, field) -> None:
        if not field.data:
            return
        try:
            self.email_normalised = normalise_email(
                field.data, check_dns=current_app.config["INTAKE_CHECK_EMAIL_DNS"],
                resolver=current_app.config.get("INTAKE_DNS_RESOLVER"))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def validate_phone(self, field) -> None:
        if not field.data:
            return
        try:
            self.phone_e164 = normalise_phone(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if not self.email.data and not self.phone.data:
            message = "Enter an email address or a phone number (or both), so the office can reach you."
            self.email.errors = [*self.email.errors, message]
            self.phone.errors = [*self.phone.errors, message]
            valid = False
        return valid

    def to_submission(self, *, token: str, rendered_at: float, source_path: str, source_article: str | None,
                      ip_hash: str | None, consent_version: str) -> LeadSubmission:
        """What leads.submit_lead needs, from the validated fields and the request around them."""
        return LeadSubmission(
            token=token,
            first_name=self.first_name.data,
            last_name=self.last_name.data or "",
            email=self.email_normalised,
            phone=self.phone_e164,
            zip_code=self.zip_code.data or None,
            location_choice=self.location.data or None,
            contact_method=self.contact_method.data,
            help_with=list(self.help_with.data or []),
            message=self.clean_message(),
            sms_consent=bool(self.sms_consent.data),
            consent_text=CONSENT_TEXT,
            consent_version=consent_version,
            source_path=source_path[:300],
            source_article=source_article,
            utm_source=clean_hidden(self.utm_source.data, 100),
            utm_medium=clean_hidden(self.utm_medium.data, 100),
            utm_campaign=clean_hidden(self.utm_campaign.data, 100),
            referrer=clean_hidden(self.referrer.data, 500),
            ip_hash=ip_hash,
            honeypot=self.website.data or "",
            rendered_at=rendered_at,
        )

    def clean_message(self) -> str:
        """Line breaks kept as \\n, tabs kept, every other control character dropped."""
        text = (self.message.data or "").replace("\r\n", "\n").replace("\r", "\n")
        return strip_control_chars(text, allowed="\n\t").strip()

    def error_summary(self) -> list[tuple[str, str]]:
        """(field id, message) for the summary at the top, each message once."""
        seen, items = set(), []
        for field in self:
            for error in field.errors:
                if isinstance(error, str) and error not in seen:
                    seen.add(error)
                    items.append((field.id, error))
        return items


# ---- the untouched form, rendered once -----------------------------------------

FIELDS_TEMPLATE = "_partials/contact_fields.html"
BLANK_CACHE_SIZE = 8


@dataclass(frozen=True)
class BlankContactForm:
    """A form nobody has sent yet, as the form template needs it, without building WTForms fields.

    A GET page needs only the ready-made visible fields and this visitor's
    hidden values; building the seventeen WTForms fields to render none of
    them was a good share of a page's cost. A POST always gets a ContactForm.
    """

    fields_html: Markup
    hidden: dict[str, str]
    csrf_expired = False

    def hidden_values(self) -> dict[str, str]:
        return self.hidden

    def error_summary(self) -> list[tuple[str, str]]:
        return []


def blank_fields_html(offices: tuple[tuple[str, str], ...]) -> Markup:
    """The visible fields of a form nobody has filled in yet, rendered once per process.

    Building and rendering the WTForms fields was most of an article page's
    cost, yet before a POST they are the same for everyone: only the hidden
    tokens and UTM values differ, and those are outside this part. The key is
    the offices themselves (slug and name, in order), read on every request,
    so an office renamed, added or closed shows on the very next page in
    every process. A form with typed values or errors is never taken from here.
    """
    app = current_app._get_current_object()
    cache: dict = app.extensions.setdefault("intake_blank_contact_fields", {})
    html = cache.get(offices)
    if html is None:
        blank = ContactForm(formdata=None, offices=offices, meta={"csrf": False})
        html = Markup(app.jinja_env.get_template(FIELDS_TEMPLATE).render(form=blank))
        if len(cache) >= BLANK_CACHE_SIZE:  # offices change rarely; old keys are just dropped
            cache.clear()
        cache[offices] = html
    return html
