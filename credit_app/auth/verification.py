"""Verified addresses: a link mailed at sign-up (and on request) proves the person reads
mail at their address. When REQUIRE_VERIFIED_EMAIL is on (the default on a public APP_URL),
spending needs a verified address, so sign-ups scripted with made-up addresses get welcome
credits they cannot use.

A verification token carries the address it was sent to (`EmailToken.new_email`): if the
account's address changed since, the old link verifies nothing.
"""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from credit_app import mail, routes
from credit_app.auth import email_tokens
from credit_app.auth.mail_limits import MailRateLimits, process_mail_limits, wait_text
from credit_app.db import in_read, in_transaction
from credit_app.mail import messages
from credit_app.models import EmailTokenPurpose, User, utcnow
from credit_app.settings import Settings, get_settings

PURPOSE = EmailTokenPurpose.VERIFY_EMAIL
VERIFY_FIRST = (
    "Confirm your email address to use the tools: open the link we sent you, or choose "
    '"Resend the link" at the top of this page.'
)
ALREADY_VERIFIED = "Your email address is already confirmed."
LINK_SENT = "We sent a new link to {email}. It works for {hours} hours."


def _valid_hours() -> int:
    return int(email_tokens.VALID_FOR[PURPOSE].total_seconds() // 3600)


def queue_verification(session: Session, user: User, *, app_url: str) -> None:
    """Issue a verification token for the user's current address and queue its mail, in
    the caller's transaction (the only link that works from now on)."""
    token = email_tokens.issue(session, user_id=user.id, purpose=PURPOSE, new_email=user.email)
    link = routes.absolute(app_url, routes.with_token(routes.VERIFY_EMAIL, token))
    mail.enqueue(
        session,
        messages.verify_email(user.name, link, _valid_hours()),
        to=user.email,
        user_id=user.id,
    )


def confirm_address(session: Session, token: str, *, now: datetime | None = None) -> bool:
    """Use a verification token: True if it was live and still names the account's
    address (which is then verified)."""
    now = now or utcnow()
    found = email_tokens.redeem(session, token, purpose=PURPOSE, now=now)
    if found is None:
        return False
    user = session.get(User, found.user_id)
    if user is None or user.deleted_at is not None or user.email != found.new_email:
        return False
    if user.email_verified_at is None:
        user.email_verified_at = now
        session.add(user)
    return True


def is_verified(session: Session, user_id: uuid.UUID) -> bool:
    verified_at = session.scalar(select(col(User.email_verified_at)).where(col(User.id) == user_id))
    return verified_at is not None


def may_spend(session: Session, user_id: uuid.UUID, *, settings: Settings | None = None) -> bool:
    """Whether the user may spend credits as far as their address goes: always, unless
    REQUIRE_VERIFIED_EMAIL is on and the address is not verified."""
    settings = settings or get_settings()
    return not settings.verified_email_required or is_verified(session, user_id)


# What the app calls: each in its own short transaction, off the event loop.


async def confirm(token: str, *, engine: Engine | None = None) -> bool:
    """`confirm_address` in its own transaction."""
    if not token or len(token) > email_tokens.TOKEN_MAX:
        return False
    return await in_transaction(confirm_address, token, engine=engine)


async def spending_refusal(
    user_id: uuid.UUID, *, settings: Settings | None = None, engine: Engine | None = None
) -> str | None:
    """Why the user may not spend yet (a message to show), or None when they may."""
    allowed = await in_read(may_spend, user_id, settings=settings, engine=engine)
    return None if allowed else VERIFY_FIRST


@dataclass(frozen=True)
class ResendOutcome:
    message: str = ""  # what happened, for the person
    error: str = ""  # why nothing was sent


def _resend(session: Session, user_id: uuid.UUID, app_url: str) -> ResendOutcome:
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        return ResendOutcome(error="Your account could not be found.")
    if user.email_verified_at is not None:
        return ResendOutcome(message=ALREADY_VERIFIED)
    queue_verification(session, user, app_url=app_url)
    return ResendOutcome(message=LINK_SENT.format(email=user.email, hours=_valid_hours()))


async def resend(
    user_id: uuid.UUID,
    *,
    settings: Settings | None = None,
    limits: MailRateLimits | None = None,
    engine: Engine | None = None,
) -> ResendOutcome:
    """A new verification link for a signed-in user (the older ones stop working), at most
    a few per hour."""
    settings = settings or get_settings()
    limits = limits or process_mail_limits()
    if await in_read(is_verified, user_id, engine=engine):
        return ResendOutcome(message=ALREADY_VERIFIED)
    # A thread, because the limiter's storage may be Redis (network I/O).
    wait = await asyncio.to_thread(limits.verify_mail_wait, user_id)
    if wait:
        return ResendOutcome(
            error=f"You asked for several links already. Try again in {wait_text(wait)}."
        )
    return await in_transaction(_resend, user_id, settings.app_url, engine=engine)
