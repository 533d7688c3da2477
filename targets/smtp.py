"""Mail through ``[smtp]``: host, port, username, password = ${VAR}, sender, ssl (TLS from the
start), STARTTLS whenever the server offers it (``no_tls = true`` never; ``require_tls = true``
refuses a server that does not offer it), ``cafile`` (the CA that signed the server's
certificate, when it is not a public one; the certificate and its name are always verified),
timeout, and ``operators`` (comma-separated addresses that get refusals, alerts and failure
mails). ``send`` writes plain text, or text and HTML as one multipart/alternative message."""
from __future__ import annotations

import contextlib
import email.policy
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

from targets.config import Section
from targets.errors import ConfigError, TransientError

logger = logging.getLogger(__name__)
# CRLF line ends; long subjects stay on one line (RFC 5322 allows 998 characters) rather than
# being folded into a header that some mail clients show with a leading space
_POLICY = email.policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int = 25
    sender: str = "district-etl@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_ssl: bool = False
    starttls: bool = True  # when the server offers it
    require_tls: bool = False
    timeout: float = 30.0
    operators: tuple[str, ...] = ()
    cafile: str | None = None

    @classmethod
    def from_config(cls, section: str = "smtp") -> "MailSettings":
        s = Section(section)
        return cls(host=s.str("host", required=True), port=s.int("port", 25), sender=s.str("sender", cls.sender),
                   username=s.str("username") or None, password=s.secret("password"), use_ssl=s.bool("ssl", False),
                   starttls=not s.bool("no_tls", False), require_tls=s.bool("require_tls", False),
                   timeout=s.float("timeout", 30.0), cafile=s.str("cafile") or None,
                   operators=tuple(a.strip() for a in (s.str("operators") or "").split(",") if a.strip()))


class Mailer:
    def __init__(self, settings: MailSettings):
        self.settings = settings

    @classmethod
    def from_config(cls) -> "Mailer":
        return cls(MailSettings.from_config())

    @contextlib.contextmanager
    def session(self):
        """A connected SMTP session: TLS as configured (the certificate verified), logged in."""
        s = self.settings
        try:
            context = ssl.create_default_context(cafile=s.cafile)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"[smtp] cafile {s.cafile}: {e}") from e
        try:
            if s.use_ssl:
                server = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                server = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with server:
                if not s.use_ssl:
                    server.ehlo()
                    if s.starttls and server.has_extn("starttls"):
                        server.starttls(context=context)
                        server.ehlo()
                    elif s.require_tls:
                        raise ConfigError(f"[smtp] require_tls: {s.host}:{s.port} does not offer STARTTLS; "
                                          "nothing was sent")
                if s.username:
                    server.login(s.username, s.password or "")
                yield server
        except ssl.SSLCertVerificationError as e:
            raise ConfigError(f"SMTP {s.host}:{s.port}: its certificate is not trusted ({e.verify_message}); "
                              "name the CA that signed it in [smtp] cafile. Nothing was sent") from e
        except (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as e:
            raise TransientError(f"SMTP {s.host}:{s.port}: {e}") from e

    def send(self, subject: str, body: str, to: list[str] | tuple[str, ...] | None = None,
             html: str | None = None, images: dict[str, bytes] | None = None) -> None:
        """Send a plain-text message, with an HTML alternative when ``html`` is given (to the
        operators when ``to`` is empty); ``images`` (content id -> PNG) go with the HTML as
        related parts, which it shows with ``<img src="cid:ID">``."""
        s = self.settings
        recipients = list(to or s.operators)
        if not recipients:
            raise ConfigError("[smtp] operators is empty and no recipient was given")
        msg = EmailMessage(policy=_POLICY)
        msg["From"], msg["To"], msg["Subject"] = s.sender, ", ".join(recipients), subject
        msg.set_content(body)
        if html is not None:
            msg.add_alternative(html, subtype="html")
            page = msg.get_payload()[-1]
            for cid, png in (images or {}).items():
                page.add_related(png, "image", "png", cid=f"<{cid}>", filename=f"{cid}.png")
        with self.session() as server:
            server.send_message(msg)
        logger.info("mailed '%s' to %d recipients", subject, len(recipients))
