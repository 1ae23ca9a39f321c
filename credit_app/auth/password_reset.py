"""Password reset by e-mail.

Asking (`request_reset`) always gets the same answer, whether or not the address has an
account: the page cannot be used to find out who is a customer. Requests are limited per
client address (PASSWORD_RESET_RATE_LIMIT), and mails per address (silently: the answer
stays the same), so nobody can flood an inbox.

Completing (`complete_reset`) uses the mailed single-use token (auth.email_tokens: hashed,
60 minutes, only the latest works), checks the new password with sign-up's rules, hashes it
on the password pool (never inside a transaction), then in one transaction: sets it, signs
out every session of the account, clears the log-in back-off for the address (the owner must
get in at once) and queues the "password changed" mail. The person then logs in with it.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from credit_app import mail, routes
from credit_app.auth import email_tokens, passwords, sessions, throttle
from credit_app.auth.mail_limits import MailRateLimits, process_mail_limits, wait_text
from credit_app.auth.validation import LOGIN_EMAIL_MISSING, login_email_key, signup_field_error
from credit_app.db import in_read, in_transaction
from credit_app.mail import messages
from credit_app.models import CLIENT_ADDRESS_MAX, EmailTokenPurpose, User, utcnow
from credit_app.settings import Settings, get_settings

PURPOSE = EmailTokenPurpose.RESET_PASSWORD
EMAIL_INVALID = "Enter a valid email address, like name@example.com."
LINK_INVALID = "This link has expired or was already used. Ask for a new one below."
HASHING_BUSY = "Too many requests right now. Try again in a moment."


def valid_minutes() -> int:
    return int(email_tokens.VALID_FOR[PURPOSE].total_seconds() // 60)


def request_sent(email: str) -> str:
    """The one answer to a reset request, whether or not `email` has an account."""
    return (
        f"If an account uses {email}, we sent it a link to choose a new password. The link "
        f"works for {valid_minutes()} minutes. Nothing arrived? Check your spam folder, or "
        f"ask again."
    )


@dataclass(frozen=True)
class RequestOutcome:
    sent: str = ""  # request_sent(): said whether or not there is an account
    error: str = ""  # bad input or too many requests: says nothing about accounts


def _queue_reset(session: Session, email_key: str, app_url: str) -> None:
    user = session.scalar(
        select(User).where(col(User.email_key) == email_key, col(User.deleted_at).is_(None))
    )
    if user is None:
        return
    token = email_tokens.issue(session, user_id=user.id, purpose=PURPOSE, new_email=user.email)
    link = routes.absolute(app_url, routes.with_token(routes.RESET_PASSWORD, token))
    mail.enqueue(
        session,
        messages.password_reset(user.name, link, valid_minutes()),
        to=user.email,
        user_id=user.id,
    )


async def request_reset(
    *,
    email: str,
    client: str,
    settings: Settings | None = None,
    limits: MailRateLimits | None = None,
    engine: Engine | None = None,
) -> RequestOutcome:
    """Mail a reset link to `email` if an account uses it. The outcome is the same either
    way; only empty or malformed input and the client's rate limit are told apart."""
    if not email.strip():
        return RequestOutcome(error=LOGIN_EMAIL_MISSING)
    key = login_email_key(email)
    if key is None:
        return RequestOutcome(error=EMAIL_INVALID)
    settings = settings or get_settings()
    limits = limits or process_mail_limits()
    # Threads, because the limiter's storage may be Redis (network I/O).
    wait = await asyncio.to_thread(limits.reset_request_wait, client[:CLIENT_ADDRESS_MAX])
    if wait:
        return RequestOutcome(
            error=f"Too many requests from your network. Try again in {wait_text(wait)}."
        )
    if await asyncio.to_thread(limits.reset_mail_allowed, key):
        await in_transaction(_queue_reset, key, settings.app_url, engine=engine)
    return RequestOutcome(sent=request_sent(email.strip()))


async def link_is_live(token: str, *, engine: Engine | None = None) -> bool:
    """Whether a reset link still works (to show the form, or say at once that it does
    not). It stays usable: only completing the reset uses it up."""
    if not token or len(token) > email_tokens.TOKEN_MAX:
        return False
    found = await in_read(email_tokens.peek, token, purpose=PURPOSE, engine=engine)
    return found is not None


@dataclass(frozen=True)
class ResetOutcome:
    done: bool = False
    password_error: str = ""  # the new password breaks a rule: fix it and send again
    link_error: str = ""  # the link no longer works: ask for a new one


def _set_password(session: Session, token: str, password_hash: str, now: datetime) -> bool:
    found = email_tokens.redeem(session, token, purpose=PURPOSE, now=now)
    if found is None:
        return False
    user = session.get(User, found.user_id)
    if user is None or user.deleted_at is not None:
        return False
    user.password_hash = password_hash
    # The link reached the account's address: that proves the address too.
    if user.email_verified_at is None and user.email == found.new_email:
        user.email_verified_at = now
    session.add(user)
    sessions.revoke_all_sessions(session, user_id=user.id)
    throttle.forgive_everywhere(session, email_key=user.email_key, now=now)
    mail.enqueue(
        session,
        messages.password_changed(user.name, kept_this_session=False),
        to=user.email,
        user_id=user.id,
    )
    return True


async def complete_reset(
    *, token: str, password: str, engine: Engine | None = None
) -> ResetOutcome:
    """Set a new password through a reset link; every session of the account ends."""
    if not await link_is_live(token, engine=engine):
        return ResetOutcome(link_error=LINK_INVALID)
    if error := signup_field_error("password", password):
        return ResetOutcome(password_error=error)
    try:
        with passwords.process_pool().turn() as turn:
            password_hash = await asyncio.wrap_future(turn.hash(password))
    except passwords.PasswordHashingBusy:
        return ResetOutcome(password_error=HASHING_BUSY)
    done = await in_transaction(_set_password, token, password_hash, utcnow(), engine=engine)
    return ResetOutcome(done=True) if done else ResetOutcome(link_error=LINK_INVALID)
