"""What each e-mail says. Plain text: every client shows it, and a link is copyable."""

from dataclasses import dataclass
from enum import StrEnum


class MailKind(StrEnum):
    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"
    # To the new address: confirm it before it replaces the old one.
    CONFIRM_NEW_EMAIL = "confirm_new_email"
    # To the old address, after the change: so a hijacked account does not go unnoticed.
    EMAIL_CHANGED = "email_changed"
    PASSWORD_CHANGED = "password_changed"
    ACCOUNT_DELETED = "account_deleted"
    # An auto top-up charge failed (declined, or the bank wants the person to confirm).
    TOPUP_FAILED = "topup_failed"


@dataclass(frozen=True)
class Mail:
    kind: MailKind
    subject: str
    body: str


def _greeting(name: str | None) -> str:
    return f"Hello {name}," if name else "Hello,"


_SIGNATURE = "\n\n— Credit App\n"
_NOT_YOU = "If this was not you, you can ignore this message."


def verify_email(name: str | None, link: str, valid_hours: int) -> Mail:
    return Mail(
        MailKind.VERIFY_EMAIL,
        "Confirm your email address",
        f"{_greeting(name)}\n\nConfirm the address for your Credit App account by opening "
        f"this link (it works for {valid_hours} hours):\n\n{link}\n\n{_NOT_YOU}{_SIGNATURE}",
    )


def password_reset(name: str | None, link: str, valid_minutes: int) -> Mail:
    return Mail(
        MailKind.PASSWORD_RESET,
        "Reset your password",
        f"{_greeting(name)}\n\nSomeone asked to reset the password of your Credit App "
        f"account. To choose a new one, open this link within {valid_minutes} minutes; it "
        f"works once:\n\n{link}\n\nAll your other sessions will be signed out. If you did "
        f"not ask, ignore this message: your password stays as it is.{_SIGNATURE}",
    )


def confirm_new_email(name: str | None, new_email: str, link: str, valid_hours: int) -> Mail:
    return Mail(
        MailKind.CONFIRM_NEW_EMAIL,
        "Confirm your new email address",
        f"{_greeting(name)}\n\nTo use {new_email} for your Credit App account, open this "
        f"link within {valid_hours} hours:\n\n{link}\n\nUntil then your account keeps its "
        f"current address. {_NOT_YOU}{_SIGNATURE}",
    )


def email_changed(name: str | None, new_email: str) -> Mail:
    return Mail(
        MailKind.EMAIL_CHANGED,
        "Your email address was changed",
        f"{_greeting(name)}\n\nYour Credit App account now uses {new_email}; this address "
        f"will no longer receive its mail. If you did not make this change, reply to this "
        f"message at once.{_SIGNATURE}",
    )


def password_changed(name: str | None, *, kept_this_session: bool) -> Mail:
    """`kept_this_session`: changed on the account page (the device that changed it stays
    signed in), not by a reset link (which signs out every session)."""
    signed_out = "every other session was" if kept_this_session else "every session was"
    return Mail(
        MailKind.PASSWORD_CHANGED,
        "Your password was changed",
        f"{_greeting(name)}\n\nThe password of your Credit App account was just changed, "
        f"and {signed_out} signed out. If you did not make this change, reset your password "
        f"from the log-in page at once.{_SIGNATURE}",
    )


def account_deleted(name: str | None) -> Mail:
    return Mail(
        MailKind.ACCOUNT_DELETED,
        "Your account was deleted",
        f"{_greeting(name)}\n\nYour Credit App account was deleted as you asked: your "
        f"subscription is cancelled, your remaining credits are gone and your personal "
        f"details are erased. This is the last message you will get from us.{_SIGNATURE}",
    )


def topup_failed(name: str | None, *, reason: str, switched_off: bool, link: str) -> Mail:
    """An auto top-up charge failed; `link` leads to paying with another card."""
    off = (
        "After three failed payments in a row, auto top-up has switched itself off; turn "
        "it on again on your dashboard once your card works."
        if switched_off
        else "We will try again the next time your balance falls below your threshold."
    )
    return Mail(
        MailKind.TOPUP_FAILED,
        "Auto top-up could not charge your card",
        f"{_greeting(name)}\n\nAuto top-up tried to buy credits with your saved card, but "
        f"the payment did not go through: {reason}\n\n{off}\n\nTo pay with another card "
        f"(it is saved for auto top-up), open:\n{link}{_SIGNATURE}",
    )
