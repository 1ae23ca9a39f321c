"""Changes a signed-in person makes to their own account (the account page): name, e-mail
address (confirmed by a link sent to the new one), password, time zone; and, for account
deletion (accounts.deletion), erasing the account's personal fields.

Every change that needs the current password checks it like a sign-in does: a turn on the
password pool taken before any database work, the attempt counted against the log-in
back-off for (this address, this client) before Argon2 runs, the count cleared on success.
A stolen session therefore cannot guess the password faster here than on the log-in page.
Invalid input is refused before anything is hashed or written.
"""

import asyncio
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from urllib.parse import unquote

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from credit_app import mail, routes
from credit_app.auth import email_tokens, passwords, sessions, throttle
from credit_app.auth.accounts import EMAIL_TAKEN, HASHING_BUSY
from credit_app.auth.validation import (
    PASSWORD_MAX,
    email_key,
    normalize_email,
    signup_field_error,
)
from credit_app.db import in_read, in_transaction
from credit_app.mail import messages
from credit_app.models import (
    CLIENT_ADDRESS_MAX,
    TIME_ZONE_MAX,
    EmailToken,
    EmailTokenPurpose,
    LoginThrottle,
    User,
    utcnow,
)
from credit_app.settings import Settings, get_settings

CURRENT_PASSWORD_MISSING = "Enter your current password."
CURRENT_PASSWORD_WRONG = "This is not your current password."
SAME_EMAIL = "This is already your email address."
LINK_INVALID = "This link has expired or was already used. Ask for a new one on your account page."
EMAIL_TAKEN_SINCE = "Another account has started using this address since the link was sent."
TIME_ZONE_INVALID = "Choose a time zone from the list."
ACCOUNT_GONE = "This account no longer exists."

CHANGE_EMAIL = EmailTokenPurpose.CHANGE_EMAIL
# What a deleted account's unusable password hash is: no Argon2 hash looks like this, so
# every check of it fails (passwords._verify treats it as an invalid hash).
ERASED_PASSWORD_HASH = "!account-deleted"
ERASED_EMAIL_DOMAIN = "deleted.invalid"


@dataclass(frozen=True)
class ProfileOutcome:
    """A change's result: `errors` by form field ("" or missing: fine), else done."""

    errors: dict[str, str] = field(default_factory=dict)
    # What the page says once it is done (e.g. where the confirmation link went).
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


def valid_hours() -> int:
    return int(email_tokens.VALID_FOR[CHANGE_EMAIL].total_seconds() // 3600)


# --- the current password ---------------------------------------------------------------


@dataclass(frozen=True)
class _Owner:
    password_hash: str
    email_key: str


def _owner(session: Session, user_id: uuid.UUID) -> _Owner | None:
    row = session.execute(
        select(col(User.password_hash), col(User.email_key)).where(
            col(User.id) == user_id, col(User.deleted_at).is_(None)
        )
    ).first()
    return _Owner(row.password_hash, row.email_key) if row else None


async def _check_password(
    turn: passwords.Turn,
    user_id: uuid.UUID,
    password: str,
    *,
    client: str,
    settings: Settings,
    engine: Engine | None,
) -> str:
    """ "" when `password` is the account's, else the message for the password field.
    Counted against the log-in back-off like a sign-in attempt; call inside a pool turn."""
    if not password:
        return CURRENT_PASSWORD_MISSING
    owner = await in_read(_owner, user_id, engine=engine)
    if owner is None:
        return ACCOUNT_GONE
    if len(password) > PASSWORD_MAX:
        return CURRENT_PASSWORD_WRONG
    pair = {"email_key": owner.email_key, "client": client[:CLIENT_ADDRESS_MAX]}
    wait = await in_transaction(
        throttle.claim_attempt,
        **pair,
        now=utcnow(),
        free_failures=settings.login_free_failures,
        max_delay=settings.login_max_delay_seconds,
        engine=engine,
    )
    if wait:
        return throttle.too_many_failures(wait)
    if not await asyncio.wrap_future(turn.verify(owner.password_hash, password)):
        return CURRENT_PASSWORD_WRONG
    await in_transaction(throttle.forgive, **pair, engine=engine)
    return ""


async def confirm_password(
    user_id: uuid.UUID,
    password: str,
    *,
    client: str,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> str:
    """ "" when `password` is the account's current one, else what to say (wrong, missing,
    too many attempts, busy). For confirmations such as deleting the account."""
    if not password:
        return CURRENT_PASSWORD_MISSING
    try:
        with passwords.process_pool().turn() as turn:
            return await _check_password(
                turn,
                user_id,
                password,
                client=client,
                settings=settings or get_settings(),
                engine=engine,
            )
    except passwords.PasswordHashingBusy:
        return HASHING_BUSY


# --- name -------------------------------------------------------------------------------


def _set_name(session: Session, user_id: uuid.UUID, name: str) -> bool:
    result = session.execute(
        update(User)
        .where(col(User.id) == user_id, col(User.deleted_at).is_(None))
        .values(name=name)
        .returning(col(User.id))
    ).first()
    return result is not None


async def change_name(
    user_id: uuid.UUID, name: str, *, engine: Engine | None = None
) -> ProfileOutcome:
    """The sign-up rule for names (spaces collapsed, 1 to 64 characters)."""
    if error := signup_field_error("name", name):
        return ProfileOutcome(errors={"name": error})
    clean = " ".join(name.split())
    if not await in_transaction(_set_name, user_id, clean, engine=engine):
        return ProfileOutcome(errors={"name": ACCOUNT_GONE})
    return ProfileOutcome(message="Your name was saved.")


# --- e-mail address ---------------------------------------------------------------------


def _email_refusal(session: Session, user_id: uuid.UUID, key: str) -> str:
    """Why `key` cannot become this user's address ("" when it can): it already is, or
    another account (deleted ones included: their placeholders never collide) has it."""
    owner = session.scalar(select(col(User.id)).where(col(User.email_key) == key))
    if owner is None:
        return ""
    return SAME_EMAIL if owner == user_id else EMAIL_TAKEN


def _send_confirmation(session: Session, user_id: uuid.UUID, new_email: str, app_url: str) -> str:
    """Issue the change_email token and queue its link to the new address, unless the
    address was taken meanwhile (then its message, and nothing is written)."""
    if refusal := _email_refusal(session, user_id, email_key(new_email)):
        return refusal
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        return ACCOUNT_GONE
    token = email_tokens.issue(session, user_id=user_id, purpose=CHANGE_EMAIL, new_email=new_email)
    link = routes.absolute(app_url, routes.with_token(routes.ACCOUNT_CONFIRM_EMAIL, token))
    mail.enqueue(
        session,
        messages.confirm_new_email(user.name, new_email, link, valid_hours()),
        to=new_email,
        user_id=user_id,
    )
    return ""


async def request_email_change(
    user_id: uuid.UUID,
    *,
    new_email: str,
    password: str,
    client: str,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> ProfileOutcome:
    """Send a confirmation link to `new_email`; the address changes only when it is
    opened (confirm_email_change). Refused, writing nothing: an invalid address (sign-up's
    rules), the current one, one another account uses (sign-up's email_key: case, Unicode
    form and width do not make a new address), a wrong current password."""
    settings = settings or get_settings()
    errors: dict[str, str] = {}
    if error := signup_field_error("email", new_email):
        errors["email"] = error
    if not password:
        errors["password"] = CURRENT_PASSWORD_MISSING
    if errors:
        return ProfileOutcome(errors=errors)
    clean = normalize_email(new_email)
    assert clean is not None  # signup_field_error accepted it
    if refusal := await in_read(_email_refusal, user_id, email_key(clean), engine=engine):
        return ProfileOutcome(errors={"email": refusal})
    if error := await confirm_password(
        user_id, password, client=client, settings=settings, engine=engine
    ):
        return ProfileOutcome(errors={"password": error})
    if refusal := await in_transaction(
        _send_confirmation, user_id, clean, settings.app_url, engine=engine
    ):
        return ProfileOutcome(errors={"email": refusal})
    return ProfileOutcome(
        message=f"We sent a link to {clean}. Your address changes when you open it "
        f"(within {valid_hours()} hours); until then you keep using the current one."
    )


@dataclass(frozen=True)
class EmailChanged:
    """A confirmed change: what billing needs to update the Stripe customer."""

    user_id: uuid.UUID
    old_email: str
    new_email: str
    stripe_customer_id: str | None


class EmailChangeRefused(Exception):
    """The link cannot change the address (expired, used, or the address was taken)."""


def confirm_email_change(
    session: Session, token: str, *, now: datetime | None = None
) -> EmailChanged:
    """Use a change_email link: the account takes the new address (proven: it is where
    the link was read), the old address is told (email_changed mail). Raises
    EmailChangeRefused; the caller's transaction then rolls back and nothing changes."""
    now = now or utcnow()
    found = email_tokens.redeem(session, token, purpose=CHANGE_EMAIL, now=now)
    if found is None or not found.new_email:
        raise EmailChangeRefused(LINK_INVALID)
    user = session.scalar(select(User).where(col(User.id) == found.user_id).with_for_update())
    if user is None or user.deleted_at is not None:
        raise EmailChangeRefused(LINK_INVALID)
    new_key = email_key(found.new_email)
    if _email_refusal(session, user.id, new_key) == EMAIL_TAKEN:
        raise EmailChangeRefused(EMAIL_TAKEN_SINCE)
    old_email = user.email
    user.email, user.email_key, user.email_verified_at = found.new_email, new_key, now
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # another account took the address at this very moment
        raise EmailChangeRefused(EMAIL_TAKEN_SINCE) from exc
    if old_email != found.new_email:
        mail.enqueue(
            session,
            messages.email_changed(user.name, found.new_email),
            to=old_email,
            user_id=user.id,
        )
    return EmailChanged(user.id, old_email, found.new_email, user.stripe_customer_id)


async def confirm_email(token: str, *, engine: Engine | None = None) -> EmailChanged:
    """`confirm_email_change` in a transaction of its own (raises EmailChangeRefused; a
    refused link changes nothing)."""
    if not token or len(token) > email_tokens.TOKEN_MAX:
        raise EmailChangeRefused(LINK_INVALID)
    return await in_transaction(confirm_email_change, token, engine=engine)


# --- password ---------------------------------------------------------------------------


def _set_password(
    session: Session, user_id: uuid.UUID, password_hash: str, keep_token: str
) -> int | None:
    """The new hash, every other session revoked, the owner told. None: no such account."""
    user = session.scalar(
        select(User).where(col(User.id) == user_id, col(User.deleted_at).is_(None))
    )
    if user is None:
        return None
    user.password_hash = password_hash
    session.add(user)
    revoked = sessions.revoke_other_sessions(session, user_id=user_id, keep_token=keep_token)
    mail.enqueue(
        session,
        messages.password_changed(user.name, kept_this_session=True),
        to=user.email,
        user_id=user_id,
    )
    return revoked


async def change_password(
    user_id: uuid.UUID,
    *,
    current_password: str,
    new_password: str,
    keep_token: str,
    client: str,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> ProfileOutcome:
    """Check the current password, hash the new one (sign-up's rules) on the password
    pool, then in one transaction: store it, sign out every other session (the one behind
    `keep_token`, this browser, stays), queue the password_changed mail."""
    settings = settings or get_settings()
    errors: dict[str, str] = {}
    if not current_password:
        errors["current_password"] = CURRENT_PASSWORD_MISSING
    if error := signup_field_error("password", new_password):
        errors["new_password"] = error
    if errors:
        return ProfileOutcome(errors=errors)
    try:
        with passwords.process_pool().turn() as turn:
            if error := await _check_password(
                turn, user_id, current_password, client=client, settings=settings, engine=engine
            ):
                return ProfileOutcome(errors={"current_password": error})
            password_hash = await asyncio.wrap_future(turn.hash(new_password))
    except passwords.PasswordHashingBusy:
        return ProfileOutcome(errors={"current_password": HASHING_BUSY})
    revoked = await in_transaction(_set_password, user_id, password_hash, keep_token, engine=engine)
    if revoked is None:
        return ProfileOutcome(errors={"current_password": ACCOUNT_GONE})
    others = "every other session was signed out" if revoked else "no other session was open"
    return ProfileOutcome(message=f"Your password was changed; {others}.")


# --- time zone --------------------------------------------------------------------------


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@cache
def time_zone_choices() -> tuple[str, ...]:
    """The zones the account page offers: the region/city names (and UTC), sorted; the
    legacy aliases ("US/Eastern", "EST5EDT") are valid too but not listed."""
    listed = {
        zone
        for zone in _zones()
        if "/" in zone and not zone.startswith(("Etc/", "SystemV/", "US/", "posix", "right"))
    }
    return ("UTC", *sorted(listed))


def valid_time_zone(value: object) -> str | None:
    """`value` when it names an IANA zone this machine knows, else None. For input from a
    browser (a cookie, a form): anything at all may arrive."""
    if not isinstance(value, str) or not value or len(value) > 3 * TIME_ZONE_MAX:
        return None
    zone = unquote(value).strip()  # a cookie may carry it URL-encoded ("Europe%2FParis")
    return zone if len(zone) <= TIME_ZONE_MAX and zone in _zones() else None


def _set_time_zone(session: Session, user_id: uuid.UUID, zone: str, only_if_unset: bool) -> bool:
    statement = update(User).where(col(User.id) == user_id, col(User.deleted_at).is_(None))
    if only_if_unset:
        statement = statement.where(col(User.time_zone).is_(None))
    return (
        session.execute(statement.values(time_zone=zone).returning(col(User.id))).first()
        is not None
    )


async def change_time_zone(
    user_id: uuid.UUID, zone: str, *, engine: Engine | None = None
) -> ProfileOutcome:
    """Set the account's time zone (the account page's choice)."""
    clean = valid_time_zone(zone)
    if clean is None:
        return ProfileOutcome(errors={"time_zone": TIME_ZONE_INVALID})
    if not await in_transaction(_set_time_zone, user_id, clean, False, engine=engine):
        return ProfileOutcome(errors={"time_zone": ACCOUNT_GONE})
    return ProfileOutcome(message=f"Your time zone is now {clean}.")


async def adopt_browser_time_zone(
    user_id: uuid.UUID, raw: object, *, engine: Engine | None = None
) -> bool:
    """After a sign-up or log-in: the zone the browser reported (the `tz` cookie), kept
    only while the account has none (a zone chosen on the account page is never
    overwritten) and only when it is a real zone name. True when it was stored."""
    zone = valid_time_zone(raw)
    if zone is None:
        return False
    return await in_transaction(_set_time_zone, user_id, zone, True, engine=engine)


# --- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    email: str
    name: str
    time_zone: str  # "" when not known yet
    pending_email: str  # the address a live change_email link would switch to, or ""


def _profile(session: Session, user_id: uuid.UUID) -> Profile | None:
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        return None
    pending = session.scalar(
        select(col(EmailToken.new_email))
        .where(
            col(EmailToken.user_id) == user_id,
            col(EmailToken.purpose) == CHANGE_EMAIL,
            col(EmailToken.used_at).is_(None),
            col(EmailToken.expires_at) > utcnow(),
        )
        .order_by(col(EmailToken.id).desc())
        .limit(1)
    )
    return Profile(user.email, user.name or "", user.time_zone or "", pending or "")


async def profile_of(user_id: uuid.UUID, *, engine: Engine | None = None) -> Profile | None:
    """What the account page shows; None for an unknown or deleted account."""
    return await in_read(_profile, user_id, engine=engine)


# --- deletion ---------------------------------------------------------------------------


def erased_email(user_id: uuid.UUID) -> str:
    """A deleted account's address: unique (the id), never deliverable (.invalid is
    reserved, RFC 2606), and nothing of the person's."""
    return f"deleted-{user_id.hex}@{ERASED_EMAIL_DOMAIN}"


def erase_personal_data(session: Session, *, user_id: uuid.UUID, now: datetime) -> None:
    """Account deletion's part in auth, inside the caller's transaction: the personal
    fields erased (address and its key replaced by a unique placeholder, name, image,
    time zone and Stripe customer cleared, the password made unusable), `deleted_at` set,
    every session revoked (their open tabs are signed out by the background loop), every
    e-mail token and the log-in back-off rows of the address deleted."""
    user = session.get(User, user_id)
    if user is None:
        return
    session.execute(delete(LoginThrottle).where(col(LoginThrottle.email_key) == user.email_key))
    email_tokens.retire_all(session, user_id=user_id)
    sessions.revoke_all_sessions(session, user_id=user_id)
    placeholder = erased_email(user_id)
    user.email, user.email_key = placeholder, placeholder
    user.name = user.image = user.time_zone = user.stripe_customer_id = None
    user.stripe_customer_livemode = None
    user.email_verified_at = None
    user.password_hash = ERASED_PASSWORD_HASH
    user.deleted_at = now
    session.add(user)
    session.flush()
