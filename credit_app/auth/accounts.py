"""Sign-up and sign-in. A user and its signup grant are created in one transaction."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from credit_app import credits
from credit_app.auth import passwords, throttle
from credit_app.auth.validation import SignupInput, normalize_email
from credit_app.models import GrantSource, User, utcnow
from credit_app.settings import Settings

GENERIC_LOGIN_ERROR = "Email or password is incorrect."


class EmailTaken(Exception):
    def __init__(self, email: str) -> None:
        super().__init__(f"{email} is already registered")
        self.email = email


def signup_grant_key(user_id: uuid.UUID) -> str:
    return f"signup:{user_id}"


def register(session: Session, data: SignupInput, *, initial_credits: int) -> User:
    """Create the user and grant the starting credits, or raise EmailTaken.

    The caller's transaction covers both, so no user exists without its grant.
    """
    if session.scalar(select(User.id).where(User.email == data.email)) is not None:
        raise EmailTaken(data.email)
    user = User(
        email=data.email,
        name=data.name,
        image=data.image,
        password_hash=passwords.hash_password(data.password),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent signup with the same email won the race
        raise EmailTaken(data.email) from exc
    if initial_credits > 0:
        credits.grant(
            session,
            user_id=user.id,
            amount=initial_credits,
            idempotency_key=signup_grant_key(user.id),
            source=GrantSource.SIGNUP,
            description="Welcome credits",
        )
    session.refresh(user)
    return user


@dataclass(frozen=True)
class LoginOutcome:
    user_id: uuid.UUID | None = None
    error: str | None = None
    retry_after: int = 0


def authenticate(
    session: Session, *, email: str, password: str, settings: Settings, now: datetime | None = None
) -> LoginOutcome:
    """Check credentials. Returns (not raises) failures, so the caller commits the
    failure count along with everything else."""
    now = now or utcnow()
    email = normalize_email(email)
    wait = throttle.retry_after(
        session,
        email=email,
        now=now,
        free_failures=settings.login_free_failures,
        max_delay=settings.login_max_delay_seconds,
    )
    if wait:
        return LoginOutcome(
            error=f"Too many failed attempts. Try again in {wait} seconds.", retry_after=wait
        )
    user = session.scalar(select(User).where(User.email == email))
    if not passwords.verify_password(user.password_hash if user else None, password):
        throttle.record_failure(session, email=email, now=now)
        return LoginOutcome(error=GENERIC_LOGIN_ERROR)
    throttle.clear(session, email=email)
    return LoginOutcome(user_id=user.id)
