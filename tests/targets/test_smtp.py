"""Mail over the stack's aiosmtpd server, which offers no STARTTLS: plain delivery by default,
refused with a clear message when [smtp] require_tls is set."""
import pytest

from targets.errors import ConfigError
from targets.smtp import Mailer, MailSettings


def _settings(stack_state, **kw):
    return MailSettings(host="127.0.0.1", port=stack_state.ports["smtp"], operators=("ops@district.example",), **kw)


def test_starttls_only_when_offered_and_required_tls_refuses(stack_var, stack_state):
    before = set((stack_var / "mail").glob("*.eml"))
    Mailer(_settings(stack_state)).send("tls-policy plain", "3 files sent")
    new = [f.read_text() for f in set((stack_var / "mail").glob("*.eml")) - before]
    assert len(new) == 1 and "Subject: tls-policy plain" in new[0]
    with pytest.raises(ConfigError, match=r"\[smtp\] require_tls: 127\.0\.0\.1:\d+ does not offer STARTTLS"):
        Mailer(_settings(stack_state, require_tls=True)).send("tls-policy required", "x")
    assert len(set((stack_var / "mail").glob("*.eml")) - before) == 1
