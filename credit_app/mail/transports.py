"""Where delivered mail goes: an SMTP server (SMTP_URL), or a folder of .eml files when no
server is configured and the app only serves this machine (the embedded default)."""

import os
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from credit_app.models import utcnow
from credit_app.settings import Settings

SMTP_TIMEOUT_SECONDS = 15


class MailSettingsError(RuntimeError):
    """The mail settings describe a deployment that must not start; says what to fix."""


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


def build_message(*, sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain="credit-app")
    message.set_content(body)
    return message


@dataclass(frozen=True)
class FolderTransport:
    """Each message as one .eml file in `folder`, written whole (a reader never sees half
    a message): what a developer opens instead of an inbox."""

    folder: Path

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(message.as_bytes())
        final = self.folder / f"{stamp}-{os.path.basename(temporary)[1:-4]}.eml"
        os.replace(temporary, final)


@dataclass(frozen=True)
class SmtpTransport:
    """smtp://[user:password@]host[:port] (STARTTLS when offered; required with a
    password, so it never crosses the network in the clear) or smtps://... (TLS at once)."""

    url: str

    def send(self, message: EmailMessage) -> None:
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if parts.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                host, parts.port or 465, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            client = smtplib.SMTP(host, parts.port or 25, timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            client.ehlo()
            if parts.scheme == "smtp" and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif parts.scheme == "smtp" and password:
                raise MailSettingsError("no STARTTLS offered: not sending the password in clear")
            if user:
                client.login(user, password or "")
            client.send_message(message)


def transport_for(settings: Settings) -> Transport:
    """The configured transport, or MailSettingsError: a public APP_URL with no SMTP_URL
    would accept sign-ups and resets whose mail never leaves the server."""
    if settings.smtp_url:
        parts = urlsplit(settings.smtp_url)
        if parts.scheme not in ("smtp", "smtps"):
            raise MailSettingsError(
                "refusing to start: SMTP_URL must start with smtp:// or smtps://, not "
                f"{parts.scheme or '(none)'}://"
            )
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or port == -1:
            raise MailSettingsError(
                "refusing to start: SMTP_URL needs a mail server's host (and a numeric port, "
                "if any): smtp://user:password@host:587"
            )
        return SmtpTransport(settings.smtp_url)
    if not settings.app_is_loopback:
        raise MailSettingsError(
            f"refusing to start: APP_URL={settings.app_url} is public and SMTP_URL is not set, "
            "so verification and password-reset mail could not be delivered. Set SMTP_URL "
            "(smtp://user:password@host:587)."
        )
    return FolderTransport(settings.outbox_dir)
