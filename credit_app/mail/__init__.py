"""E-mail: written to an outbox table in the transaction that decides to send it
(`outbox.enqueue`), delivered afterwards by a loop (`delivery.deliver_due`) through SMTP or,
on a machine with no mail server, into a folder of .eml files (`transports`).

A service below accounts and billing: it knows addresses and messages, nothing of credits.
"""

from credit_app.mail.delivery import deliver_due
from credit_app.mail.messages import MailKind
from credit_app.mail.outbox import enqueue, erase_mail_of
from credit_app.mail.transports import (
    FolderTransport,
    MailSettingsError,
    SmtpTransport,
    Transport,
    transport_for,
)

__all__ = [
    "FolderTransport",
    "MailKind",
    "MailSettingsError",
    "SmtpTransport",
    "Transport",
    "deliver_due",
    "enqueue",
    "erase_mail_of",
    "transport_for",
]
