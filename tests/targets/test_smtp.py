"""Mail over the stack's aiosmtpd server, which offers STARTTLS with its own certificate: sent
over TLS when the certificate is trusted ([smtp] cafile), refused with a clear message when it
is not; to a server without STARTTLS plain by default and refused when [smtp] require_tls is
set; text with an HTML alternative as one multipart message; a server that stops answering
fails the send within [smtp] timeout."""
import email
import time

import pytest
from aiosmtpd.controller import Controller

from stack import free_port
from targets.errors import ConfigError, TransientError
from targets.smtp import Mailer, MailSettings
from tests.netproxy import TcpProxy


def _settings(stack_var, stack_state, **kw):
    kw.setdefault("cafile", str(stack_var / "smtp" / "cert.pem"))
    return MailSettings(host="127.0.0.1", port=stack_state.ports["smtp"], operators=("ops@district.example",), **kw)


def _new(stack_var, before):
    return [f.read_text() for f in set((stack_var / "mail").glob("*.eml")) - before]


def test_mail_goes_over_tls_to_a_trusted_certificate_only(stack_var, stack_state):
    before = set((stack_var / "mail").glob("*.eml"))
    Mailer(_settings(stack_var, stack_state, require_tls=True)).send("tls-policy trusted", "3 files sent")
    new = _new(stack_var, before)
    assert len(new) == 1 and "Subject: tls-policy trusted" in new[0] and "X-Stack-TLS: yes" in new[0]
    with pytest.raises(ConfigError, match=r"its certificate is not trusted \(.*\); name the CA that signed it in "
                                          r"\[smtp\] cafile"):
        Mailer(_settings(stack_var, stack_state, cafile=None)).send("tls-policy untrusted", "x")
    assert len(_new(stack_var, before)) == 1


class _Keep:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


def test_a_server_without_starttls_gets_plain_mail_unless_tls_is_required():
    keep = _Keep()
    controller = Controller(keep, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        plain = MailSettings(host="127.0.0.1", port=controller.port, operators=("ops@district.example",))
        Mailer(plain).send("tls-policy plain", "3 files sent")
        assert len(keep.messages) == 1
        with pytest.raises(ConfigError, match=r"\[smtp\] require_tls: 127\.0\.0\.1:\d+ does not offer STARTTLS"):
            Mailer(MailSettings(**{**plain.__dict__, "require_tls": True})).send("tls-policy required", "x")
        assert len(keep.messages) == 1
    finally:
        controller.stop()


def test_text_and_html_travel_as_one_multipart_alternative(stack_var, stack_state):
    before = set((stack_var / "mail").glob("*.eml"))
    Mailer(_settings(stack_var, stack_state)).send("report", "12 rows loaded", to=["client@example.org"],
                                                   html="<p>12 rows loaded</p>")
    message = email.message_from_string(_new(stack_var, before)[0])
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.get_payload()] == ["text/plain", "text/html"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("after", [0, 200])  # before the greeting; in the middle of the TLS handshake
def test_a_server_that_stops_answering_fails_within_the_timeout(stack_var, stack_state, after):
    proxy = TcpProxy(stack_state.ports["smtp"], stall_after_bytes=after).start()
    try:
        settings = _settings(stack_var, stack_state, timeout=2)
        settings = MailSettings(**{**settings.__dict__, "port": proxy.port})
        started = time.monotonic()
        with pytest.raises(TransientError, match=r"SMTP 127\.0\.0\.1:\d+: .*timed out"):
            Mailer(settings).send("stalled", "x")
        assert time.monotonic() - started < 15
    finally:
        proxy.stop()
