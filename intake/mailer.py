"""The SMTP side of the outbox: safe message building and a Flask-Mail connection with a time-out.

Flask-Mail opens ``smtplib`` without a time-out and starts TLS without a
verifying context; ``SafeConnection`` fixes both, so a hanging relay cannot
stall a worker and a relay with a bad certificate is never trusted.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import smtplib
import ssl
from datetime import datetime
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


# A Subject that may go out as is: printable ASCII, no encoded-word opener, short enough not to fold.
_PLAIN_SUBJECT = re.compile(r"^[\x20-\x7e]{0,69}$")
_MESSAGE_ID = re.compile(r"^<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>$")


def _subject_header(subject: str) -> str:
    """The Subject value: as is when plain ASCII, else RFC 2047 base64 encoded words, one per line.

    Encoding the whole value also turns a typed "=?" into encoded text, so it
    can never be read as an encoded word of its own (CVE-2024-6923). Each word
    holds whole characters of at most 39 UTF-8 bytes (64 columns encoded,
    73 with "Subject: ").
    """
    value = header_text(subject)
    if _PLAIN_SUBJECT.match(value) and "=?" not in value:
        return value
    data, words, start = value.encode("utf-8"), [], 0
    while start < len(data):
        end = min(start + 39, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never split a character's bytes
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return "\r\n ".join(words)


def _quoted_printable(text: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends: 7-bit lines of at most 76 columns, and no
    "=_" anywhere (QP writes "=" as "=3D"), so it can never contain our boundary."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _part_headers(subtype: str) -> bytes:
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n").encode("ascii")


def build_message(*, sender: str, recipients: list[str], subject: str, body_text: str, body_html: str,
                  message_id: str, date: datetime) -> bytes:
    """A text (+ HTML) message, as the bytes to send, whose headers hold only our own values.

    Every address must already be a bare addr-spec and the Message-ID a plain
    <left@right>; the subject is stripped of control characters and encoded
    whole when it is not plain ASCII, so no typed text can add a header
    (CVE-2024-6923). The message has one fixed shape, so it is written here
    directly: the stdlib's EmailMessage took 1.8 ms of CPU per message to
    build and flatten, a third of the outbox worker's time, and the stdlib of
    Python 3.11 before 3.11.10 both lacks the CVE-2024-6923 fix and drops the
    spaces between encoded words when it folds a long non-ASCII subject
    (tests/test_mailer.py fails on both with EmailMessage). Parsing it back
    with the stdlib is what the tests check.
    """
    for address in [sender, *recipients]:
        if not is_bare_address(address):
            raise ValueError("not a bare email address")
    message_id = header_text(message_id)
    if not _MESSAGE_ID.match(message_id):
        raise ValueError("not a plain Message-ID")
    to = ", ".join(recipients)
    if len(to) > 70:  # fold between addresses to keep header lines short (RFC 5322 2.1.1)
        to = ",\r\n ".join(recipients)
    head = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {_subject_header(subject)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-generated",  # RFC 3834: tells auto-responders not to answer.
        "MIME-Version: 1.0",
    ]
    if not body_html:
        return ("\r\n".join(head) + "\r\n").encode("ascii") + _part_headers("plain") + b"\r\n" + \
            _quoted_printable(body_text)
    # QP bodies never hold "=_", so this boundary cannot occur inside a part.
    boundary = f"=_{secrets.token_hex(16)}"
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    return b"".join([
        ("\r\n".join(head) + "\r\n").encode("ascii"),
        delimiter, _part_headers("plain"), b"\r\n", _quoted_printable(body_text),
        delimiter, _part_headers("html"), b"\r\n", _quoted_printable(body_html),
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ])


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

    def send_raw(self, message: bytes, sender: str, recipients: list[str]) -> dict:
        """Send one built message; returns the recipients the relay refused (partial refusal)."""
        assert self.host is not None
        return self.host.sendmail(sender, recipients, message)


def connect() -> SafeConnection:
    """A connection to the configured relay, to be used as a context manager."""
    mail = current_app.extensions["mail"]
    return SafeConnection(mail, timeout=current_app.config["INTAKE_SMTP_TIMEOUT"])


def mail_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))
