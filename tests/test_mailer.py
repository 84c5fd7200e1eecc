"""mailer: time-outs on every connection, TLS that verifies, headers that hold only our values."""

from __future__ import annotations

import smtplib
import ssl
import subprocess
from datetime import datetime, timezone

import pytest

from intake import mailer, outbox
from tests.conftest import free_port
from tests.outbox_helpers import outbox_rows, parse, queue_plain, run_relay, silent_relay

NOW = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "relay.pem", folder / "relay.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def build(**overrides) -> bytes:
    values = dict(sender="intake@example.org", recipients=["a@example.org"], subject="s", body_text="b\n",
                  body_html="", message_id="<1@example.org>", date=NOW)
    values.update(overrides)
    return mailer.build_message(**values)


def test_build_message_headers_are_exactly_ours():
    raw = build(recipients=["a@example.org", "b@example.org"],
                subject="New inquiry 7QXM-3K2P · Bethesda, MD\r\nBcc: x@evil.example",
                body_text="Hello\n", body_html="<p>Hello</p>")
    parsed = parse(raw)
    assert sorted(parsed.keys()) == sorted(["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
                                            "Content-Type", "MIME-Version"])
    assert parsed["Subject"] == "New inquiry 7QXM-3K2P · Bethesda, MD Bcc: x@evil.example"
    assert parsed["Date"] == "Mon, 02 Nov 2026 14:00:00 +0000"
    assert parsed["To"].addresses[1].addr_spec == "b@example.org"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.defects == [] and all(p.defects == [] for p in parsed.walk())


def content(part) -> str:
    return part.get_content().replace("\r\n", "\n")


@pytest.mark.parametrize("body", [
    "plain ascii\n",
    "no final newline",
    "Ünïcödé — “quotes” · 東京\n",
    "a line far longer than seventy-six columns " * 6 + "\n",
    ".a leading dot\n..two\nFrom the start of a line\n=?utf-8?q?x?= and =3D and =_ and --\n",
    "trailing space \nand tab\t\nwindows\r\nline ends\rold mac\n",
    "",
])
def test_bodies_come_back_exactly_and_every_line_is_short_7bit(body):
    expected = body.replace("\r\n", "\n").replace("\r", "\n")
    expected = expected if expected.endswith("\n") else expected + "\n"
    html = f"<p>{body}</p>"
    raw = build(body_text=body, body_html=html)
    assert raw.isascii() and all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    text_part, html_part = parse(raw).iter_parts()
    assert content(text_part) == expected
    assert content(html_part) == html.replace("\r\n", "\n").replace("\r", "\n") + "\n"
    single = parse(build(body_text=body))
    assert single.get_content_type() == "text/plain" and content(single) == expected


@pytest.mark.parametrize("subject", [
    "Test 1", "New inquiry 7QXM-3K2P · Bethesda, MD", "=?utf-8?q?=0D=0ABcc:_x@evil.example?=",
    "A long plain subject " * 9, "Ünïcödé " * 20, "東京 " * 30, "😀" * 40, "a😀" * 30, "",
])
def test_subjects_come_back_exactly(subject):
    raw = build(subject=subject)
    assert parse(raw)["Subject"] == subject.strip()
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in header_block.split(b"\r\n"))
    assert sorted(parse(raw).keys()) == sorted(["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
                                                "Content-Type", "Content-Transfer-Encoding", "MIME-Version"])


def test_many_recipients_fold_between_addresses():
    recipients = [f"office-{i}@example.org" for i in range(12)]
    raw = build(recipients=recipients)
    assert [a.addr_spec for a in parse(raw)["To"].addresses] == recipients
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"))


@pytest.mark.parametrize("message_id", ["<1@example.org>\r\nBcc: x@evil.example", "no-brackets@example.org",
                                        "<ünï@example.org>", "<a b@example.org>", "<>"])
def test_only_plain_message_ids_reach_a_header(message_id):
    with pytest.raises(ValueError):
        build(message_id=message_id)


@pytest.mark.parametrize("address", [
    "Eve <eve@example.com>", "eve@example.com\r\nBcc: x@evil.example", "a@b.example, c@d.example",
    "=?utf-8?q?=0D=0A?=@example.com", "\"quoted\"@example.com", "ünïcode@example.com", "no-at-sign", "",
])
def test_only_bare_addresses_reach_a_header(address):
    assert not mailer.is_bare_address(address)
    with pytest.raises(ValueError):
        mailer.build_message(sender="intake@example.org", recipients=[address], subject="s", body_text="b",
                             body_html="", message_id="<1@example.org>", date=NOW)


def test_message_id_domain_comes_from_the_base_url():
    assert mailer.message_domain("https://intake.clinic.example:8443/x") == "intake.clinic.example"
    assert mailer.new_message_id("https://intake.clinic.example").endswith("@intake.clinic.example>")


def test_every_connection_has_the_time_out(make_app):
    with run_relay() as (port, _):
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, INTAKE_SMTP_TIMEOUT="3.5")
        with app.app_context(), mailer.connect() as conn:
            assert conn.host.sock.gettimeout() == 3.5


def test_a_silent_relay_raises_instead_of_hanging(make_app):
    with silent_relay() as (port, _):
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, INTAKE_SMTP_TIMEOUT="0.3")
        with app.app_context(), pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            with mailer.connect():
                pass


@pytest.mark.parametrize("mode", ["MAIL_USE_TLS", "MAIL_USE_SSL"])
def test_tls_with_an_untrusted_certificate_is_refused_and_retried(make_app, certificate, mode):
    context = server_context(certificate)
    extra = {"tls_context": context, "require_starttls": True} if mode == "MAIL_USE_TLS" else \
        {"ssl_context": context}
    with run_relay(**extra) as (port, recorder):
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, **{mode: "true"})
        queue_plain(app, 1)
        with app.app_context():
            assert outbox.deliver_due().outcomes == {"failed": 1}
        assert outbox_rows(app)[0].last_error == "SSLCertVerificationError"
        assert recorder.messages == []


@pytest.mark.parametrize("mode", ["MAIL_USE_TLS", "MAIL_USE_SSL"])
def test_tls_with_a_trusted_certificate_delivers(make_app, certificate, mode, monkeypatch):
    # OpenSSL's default store honours SSL_CERT_FILE: trust only our relay's certificate.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    context = server_context(certificate)
    extra = {"tls_context": context, "require_starttls": True} if mode == "MAIL_USE_TLS" else \
        {"ssl_context": context}
    with run_relay(**extra) as (port, recorder):
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, **{mode: "true"})
        queue_plain(app, 2)
        with app.app_context():
            assert outbox.deliver_due().outcomes == {"sent": 2}
        assert len(recorder.messages) == 2


def test_starttls_missing_never_falls_back_to_plain_text(make_app):
    with run_relay() as (port, recorder):  # offers no STARTTLS
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS="true")
        queue_plain(app, 1)
        with app.app_context():
            assert outbox.deliver_due().outcomes == {"failed": 1}
        assert outbox_rows(app)[0].last_error == "SMTPNotSupportedError"
        assert recorder.messages == []


# ---- send-test-mail ---------------------------------------------------------------

def test_send_test_mail_sends_one_message(make_app):
    with run_relay() as (port, recorder):
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        result = app.test_cli_runner().invoke(args=["send-test-mail", "ops@example.org"])
        assert result.exit_code == 0, result.output
        assert f"Sent to ops@example.org via 127.0.0.1:{port}" in result.output
        (received,) = recorder.wait_for(1)
        assert received["to"] == ["ops@example.org"]
        assert received["message"]["Subject"] == "Intake test message"


def test_send_test_mail_reports_a_refusal(make_app):
    with run_relay() as (port, recorder):
        recorder.rcpt_reply = "550 5.1.1 no such mailbox"
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        result = app.test_cli_runner().invoke(args=["send-test-mail", "ops@example.org"])
        assert result.exit_code == 1
        assert "not sent" in result.output and "550 SMTPRecipientsRefused" in result.output


def test_send_test_mail_reports_a_dead_relay(make_app):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    result = app.test_cli_runner().invoke(args=["send-test-mail", "ops@example.org"])
    assert result.exit_code == 1 and "ConnectionRefusedError" in result.output


def test_send_test_mail_without_a_server_or_with_a_bad_address(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["send-test-mail", "ops@example.org"])
    assert result.exit_code == 1 and "MAIL_SERVER is not set" in result.output
    result = runner.invoke(args=["send-test-mail", "Ops <ops@example.org>\r\nBcc: x@evil.example"])
    assert result.exit_code == 2
