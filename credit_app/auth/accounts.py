"""Sign-up and sign-in. A user and its signup grant are created in one transaction.

Both run on an event loop without holding a thread while they wait: each database step is
a short transaction on a worker thread (`db.in_transaction`, `db.in_read`) on `engine` (the
app's by default), Argon2 runs on the password pool (passwords.py), and no step holds a
write transaction (on SQLite, the database's write lock) while Argon2 runs. auth.entry adds
the session a successful one starts.
"""

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from credit_app import clock, credits
from credit_app.auth import passwords, throttle, verification
from credit_app.auth.rate_limits import ClientRateLimits, too_many_from_network
from credit_app.auth.validation import (
    PASSWORD_MAX,
    SignupInput,
    email_key,
    login_email_key,
    validate_signup,
)
from credit_app.credits import keys, policy
from credit_app.db import in_read, in_transaction
from credit_app.models import CLIENT_ADDRESS_MAX, GrantSource, User, utcnow
from credit_app.settings import Settings, get_settings

GENERIC_LOGIN_ERROR = "Email or password is incorrect."
MISSING_CREDENTIALS = "Enter your email and password."
HASHING_BUSY = "Too many sign-in attempts right now. Try again in a moment."
EMAIL_TAKEN = "An account with this email already exists."


class EmailTaken(Exception):
    def __init__(self, email: str) -> None:
        super().__init__(f"{email} is already registered")
        self.email = email


def user_id_by_email(session: Session, email: str) -> uuid.UUID | None:
    """The account an address belongs to, whatever its case, Unicode form or width."""
    key = login_email_key(email)
    if key is None:
        return None
    return session.scalar(select(col(User.id)).where(col(User.email_key) == key))


def register(
    session: Session,
    data: SignupInput,
    *,
    password_hash: str,
    initial_credits: int,
    app_url: str | None = None,
) -> User:
    """Create the user, grant the starting credits and queue the mail that verifies the
    address (its link under `app_url`, APP_URL by default), or raise EmailTaken.

    The caller's transaction covers all three, so no user exists without its grant, and no
    mail goes out for a sign-up that rolled back. Hash the password before opening it:
    Argon2 must not run while the write lock is held.
    """
    key = email_key(data.email)
    if session.scalar(select(col(User.id)).where(col(User.email_key) == key)) is not None:
        raise EmailTaken(data.email)
    user = User(
        email=data.email,
        email_key=key,
        name=data.name,
        image=data.image,
        password_hash=password_hash,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent signup with the same address won the race
        raise EmailTaken(data.email) from exc
    if initial_credits > 0:
        now = clock.now()
        credits.grant(
            session,
            user_id=user.id,
            amount=initial_credits,
            idempotency_key=keys.signup_grant(user.id),
            source=GrantSource.SIGNUP,
            description="Welcome credits",
            terms=policy.welcome_terms(now),
            now=now,
        )
    verification.queue_verification(session, user, app_url=app_url or get_settings().app_url)
    session.refresh(user)
    return user


@dataclass(frozen=True)
class SignupOutcome:
    user_id: uuid.UUID | None = None
    # Messages by form field (email, name, password, image).
    errors: dict[str, str] = field(default_factory=dict)
    # The new session's token, when a session was started too (auth.entry).
    session_token: str | None = None


def _create_user(
    session: Session, data: SignupInput, password_hash: str, initial_credits: int
) -> uuid.UUID:
    return register(session, data, password_hash=password_hash, initial_credits=initial_credits).id


async def sign_up(
    *,
    email: str,
    name: str,
    password: str,
    image: str = "",
    client: str,
    limits: ClientRateLimits,
    initial_credits: int,
    engine: Engine | None = None,
) -> SignupOutcome:
    """Validate, count the attempt against the client's sign-up limit, hash, create.
    Invalid input costs nothing and does not count; a refusal hashes and writes nothing."""
    data, errors = validate_signup(email, name, password, image)
    if data is None:
        return SignupOutcome(errors=errors)
    # A thread, because the limiter's storage may be Redis (network I/O).
    wait = await asyncio.to_thread(limits.signup_wait, client[:CLIENT_ADDRESS_MAX])
    if wait:
        return SignupOutcome(errors={"email": too_many_from_network(wait)})
    try:
        with passwords.process_pool().turn() as turn:
            password_hash = await asyncio.wrap_future(turn.hash(data.password))
    except passwords.PasswordHashingBusy:
        return SignupOutcome(errors={"email": HASHING_BUSY})
    try:
        user_id = await in_transaction(
            _create_user, data, password_hash, initial_credits, engine=engine
        )
    except EmailTaken:
        return SignupOutcome(errors={"email": EMAIL_TAKEN})
    return SignupOutcome(user_id=user_id)


@dataclass(frozen=True)
class LoginOutcome:
    user_id: uuid.UUID | None = None
    error: str | None = None
    retry_after: int = 0
    # The new session's token, when a session was started too (auth.entry).
    session_token: str | None = None


@dataclass(frozen=True)
class _Account:
    """What a sign-in attempt read before checking the password."""

    user_id: uuid.UUID | None
    password_hash: str | None  # None: no such user (the dummy hash is checked instead)


@dataclass(frozen=True)
class _LoginAttempt:
    """One sign-in attempt's database steps, each its own short transaction."""

    email_key: str
    client: str
    now: datetime
    settings: Settings

    @property
    def _backoff(self) -> dict[str, int]:
        return {
            "free_failures": self.settings.login_free_failures,
            "max_delay": self.settings.login_max_delay_seconds,
        }

    def look_up(self, session: Session) -> _Account | LoginOutcome:
        state = throttle.current(session, email_key=self.email_key, client=self.client)
        found = session.execute(
            select(col(User.id), col(User.password_hash)).where(
                col(User.email_key) == self.email_key
            )
        ).first()
        if state is not None and (wait := throttle.seconds_until(state.blocked_until, self.now)):
            # Still waiting: refuse without taking the write lock.
            return LoginOutcome(error=throttle.too_many_failures(wait), retry_after=wait)
        return _Account(
            user_id=found.id if found else None,
            password_hash=found.password_hash if found else None,
        )

    def claim(self, session: Session) -> int:
        return throttle.claim_attempt(
            session, email_key=self.email_key, client=self.client, now=self.now, **self._backoff
        )

    def succeeded(self, session: Session) -> None:
        """The attempt was counted as a failure when claimed; a success wipes the slate."""
        throttle.forgive(session, email_key=self.email_key, client=self.client)


async def authenticate(
    *,
    email: str,
    password: str,
    client: str,
    settings: Settings,
    limits: ClientRateLimits,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> LoginOutcome:
    """Check credentials; failures are returned, not raised. In order, each refusal
    cheaper than the next and none of them hashing: the input (writes nothing), the
    client's rate limit, a turn on the password pool (taken before any database work, so
    a flood is refused without touching the database), the back-off for this (email,
    client); then the attempt counted (claim), Argon2, and on success the count cleared."""
    if not email.strip() or not password:
        return LoginOutcome(error=MISSING_CREDENTIALS)
    key = login_email_key(email)
    if key is None or len(password) > PASSWORD_MAX:
        return LoginOutcome(error=GENERIC_LOGIN_ERROR)
    attempt = _LoginAttempt(
        email_key=key,
        client=client[:CLIENT_ADDRESS_MAX],
        now=now or utcnow(),
        settings=settings,
    )
    # A thread, because the limiter's storage may be Redis (network I/O).
    wait = await asyncio.to_thread(limits.login_wait, attempt.client)
    if wait:
        return LoginOutcome(error=too_many_from_network(wait), retry_after=wait)
    try:
        with passwords.process_pool().turn() as turn:
            account = await in_read(attempt.look_up, engine=engine)
            if isinstance(account, LoginOutcome):
                return account
            wait = await in_transaction(attempt.claim, engine=engine)
            if wait:
                return LoginOutcome(error=throttle.too_many_failures(wait), retry_after=wait)
            ok = await asyncio.wrap_future(turn.verify(account.password_hash, password))
    except passwords.PasswordHashingBusy:
        return LoginOutcome(error=HASHING_BUSY)
    if not ok:
        return LoginOutcome(error=GENERIC_LOGIN_ERROR)
    await in_transaction(attempt.succeeded, engine=engine)
    return LoginOutcome(user_id=account.user_id)
