"""The SMTP side of the outbox: safe message building and a Flask-Mail connection with a time-out.

Flask-Mail opens ``smtplib`` without a time-out and starts TLS without a
verifying context; ``SafeConnection`` fixes both, so a hanging relay cannot
stall a worker and a relay with a bad certificate is never trusted.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from flask import current_app
from flask_mail import Connection

# Anything that could end a header line or start a new one.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
# A bare address as we accept it: no spaces, quotes, angle brackets, commas or controls.
_BARE_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


class MailNotConfigured(RuntimeError):
    """No MAIL_SERVER: messages are recorded, not sent."""


def header_text(value: str) -> str:
    """Collapse control characters so a value can never end its header line."""
    return _CONTROL.sub(" ", value).strip()


def is_bare_address(value: str) -> bool:
    """True for a plain ASCII addr-spec that is safe to put in a To header as is.

    "=?" is refused too: no encoded word may reach a header (CVE-2024-6923).
    """
    return len(value) <= 254 and "=?" not in value and _BARE_ADDRESS.match(value) is not None


def message_domain(base_url: str) -> str:
    """The host part of INTAKE_BASE_URL: a fixed right-hand side for Message-IDs."""
    return urlsplit(base_url).hostname or "intake.invalid"


def new_message_id(base_url: str) -> str:
    return make_msgid(domain=message_domain(base_url))


def build_message(*, sender: str, recipients: list[str], subject: str, body_text: str, body_html: str,
                  message_id: str, date: datetime) -> EmailMessage:
    """A text + HTML message whose headers hold only our own values.

    Every address must already be a bare addr-spec; the subject is made of
    the reference and the office name, and is stripped of control characters
    anyway, so no typed text can add a header (CVE-2024-6923).
    """
    for address in [sender, *recipients]:
        if not is_bare_address(address):
            raise ValueError("not a bare email address")
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = header_text(subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = header_text(message_id)
    # RFC 3834: tells auto-responders not to answer.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body_text)
    if body_html:
        msg.add_alternative(body_html, subtype="html")
    return msg


class SafeConnection(Connection):
    """Flask-Mail's connection, with a time-out on every socket and verified TLS."""

    def __init__(self, mail, timeout: float):
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        if not self.mail.server:
            raise MailNotConfigured("MAIL_SERVER is not set")
        host: smtplib.SMTP
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=self.timeout,
                                    context=ssl.create_default_context())
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=self.timeout)
        try:
            if self.mail.use_tls:
                host.starttls(context=ssl.create_default_context())
            if self.mail.username and self.mail.password:
                host.login(self.mail.username, self.mail.password)
        except BaseException:
            host.close()
            raise
        return host

    def __exit__(self, exc_type, exc_value, tb) -> None:
        """Say QUIT when the relay still listens; never raise while closing."""
        if self.host is None:
            return
        try:
            if exc_type is None:
                self.host.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self.host.close()
            self.host = None

    def send_raw(self, message: EmailMessage, sender: str, recipients: list[str]) -> dict:
        """Send one built message; returns the recipients the relay refused (partial refusal)."""
        assert self.host is not None
        return self.host.send_message(message, from_addr=sender, to_addrs=recipients)


def connect() -> SafeConnection:
    """A connection to the configured relay, to be used as a context manager."""
    mail = current_app.extensions["mail"]
    return SafeConnection(mail, timeout=current_app.config["INTAKE_SMTP_TIMEOUT"])


def mail_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))
