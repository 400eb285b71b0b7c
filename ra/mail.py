"""Handing e-mails to the SMTP server of ``[smtp]`` in regca.toml (ca/config.py SmtpConfig):
one connection per round, STARTTLS and log-in when configured. Nothing here logs an address
or a password."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Iterator
from email.message import EmailMessage

from ca.config import SmtpConfig
from ca.errors import DependencyUnavailable

__all__ = ["Mailer", "connect"]


class Mailer:
    def __init__(self, smtp: smtplib.SMTP, sender: str):
        self._smtp, self.sender = smtp, sender

    def send(self, message: EmailMessage) -> None:
        """Raises ``smtplib.SMTPException`` when the server refuses this message."""
        if "From" not in message:
            message["From"] = self.sender
        self._smtp.send_message(message, from_addr=self.sender)


@contextlib.contextmanager
def connect(config: SmtpConfig) -> Iterator[Mailer]:
    try:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    except OSError as exc:
        raise DependencyUnavailable(f"SMTP server {config.host}:{config.port} does not "
                                    f"answer ({exc})") from None
    try:
        if config.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.user:
            smtp.login(config.user, config.password() or "")
        yield Mailer(smtp, config.sender)
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
