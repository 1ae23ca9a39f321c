"""Sign-up and sign-in. A user and its signup grant are created in one transaction."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from credit_app import credits
from credit_app.auth import passwords, throttle
from credit_app.auth.validation import SignupInput, normalize_email
from credit_app.db import read_scope, session_scope
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
    # Hash first: Argon2 takes a fifth of a second, and the transaction (on SQLite, the
    # database's write lock) only begins with the first statement below.
    password_hash = passwords.hash_password(data.password)
    if session.scalar(select(User.id).where(User.email == data.email)) is not None:
        raise EmailTaken(data.email)
    user = User(email=data.email, name=data.name, image=data.image, password_hash=password_hash)
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
    *,
    email: str,
    password: str,
    settings: Settings,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> LoginOutcome:
    """Check credentials. Owns its transactions so that Argon2 runs between them, never
    while a write lock is held: read the throttle and the hash, verify, then record the
    failure (or clear it). Failures are returned, not raised."""
    now = now or utcnow()
    email = normalize_email(email)
    with read_scope(engine) as session:
        wait = throttle.retry_after(
            session,
            email=email,
            now=now,
            free_failures=settings.login_free_failures,
            max_delay=settings.login_max_delay_seconds,
        )
        found = session.execute(
            select(User.id, User.password_hash).where(User.email == email)
        ).first()
    if wait:
        return LoginOutcome(
            error=f"Too many failed attempts. Try again in {wait} seconds.", retry_after=wait
        )
    ok = passwords.verify_password(found.password_hash if found else None, password)
    with session_scope(engine) as session:
        if not ok:
            throttle.record_failure(session, email=email, now=now)
            return LoginOutcome(error=GENERIC_LOGIN_ERROR)
        throttle.clear(session, email=email)
    return LoginOutcome(user_id=found.id)
