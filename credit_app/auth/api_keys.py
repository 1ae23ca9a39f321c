"""API keys for the credits API: issued once, stored as a hash, checked on every request.

A key is `cak_` + 40 random URL-safe characters (about 240 bits): guessing one is out of
reach, so its SHA-256 alone is stored (a lookup by hash, like session tokens), never the
key. Its first characters (`prefix`) are kept to tell keys apart on a page. A key has a
scope (read, or spend as well), may expire, and is revoked at once: every request checks
the database, so a revoked key fails on its next request on every worker.

    issue(session, owner=, name=, scope=, expires_at=, now=)   -> Issued (the key, once)
    authenticate(session, raw, now=)                             -> KeyAccess | None
    revoke(session, key_id=, owner=, now=)                       -> revoked now?
    list_keys(session, owner=)                                   -> [KeyInfo]
    revoke_all_of(session, user_id=, now=)                       -> keys revoked

`owner` is the user a user key acts as, or None for a service key (the operator's backend,
which names the user in each call). Who issued or revoked a key is audited by the caller
(admin.api_keys for the CLI and the console).
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, func, select, update
from sqlmodel import Session, col

from credit_app.models import ApiKey, ApiKeyScope, User

KEY_PREFIX = "cak_"
SHOWN = 12  # characters of the key kept to tell keys apart ("cak_Xy3k9Qa1")
NAME_MAX = 64
# Live keys one account may have: each key has its own rate limit, so unlimited keys
# would be an unlimited budget (service keys are the operator's and are not counted).
MAX_LIVE_KEYS = 20
# A request writes last_used_at at most this often (not a row write per request).
LAST_USED_EVERY = timedelta(minutes=1)


class KeyRefused(ValueError):
    """A key could not be issued or revoked as asked; the message says why."""


@dataclass(frozen=True)
class KeyInfo:
    id: int
    user_id: uuid.UUID | None
    name: str
    prefix: str
    scope: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Issued:
    info: KeyInfo
    key: str  # shown once, never stored


@dataclass(frozen=True)
class KeyAccess:
    key_id: int
    user_id: uuid.UUID | None  # None: a service key
    scope: ApiKeyScope

    @property
    def may_spend(self) -> bool:
        return self.scope is ApiKeyScope.SPEND


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _info(row: ApiKey) -> KeyInfo:
    assert row.id is not None
    return KeyInfo(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        scope=row.scope,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def issue(
    session: Session,
    *,
    owner: uuid.UUID | None,
    name: str,
    scope: str,
    expires_at: datetime | None,
    now: datetime,
) -> Issued:
    """A new key for `owner` (None: a service key). Raises KeyRefused for a blank or too
    long name, an unknown scope, a past expiry, or an owner that is not a live account."""
    name = " ".join(str(name).split())
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise KeyRefused(f"Name the key (1 to {NAME_MAX} printable characters).")
    try:
        chosen = ApiKeyScope(scope)
    except ValueError:
        raise KeyRefused("The scope is read or spend.") from None
    if expires_at is not None and expires_at <= now:
        raise KeyRefused("The expiry must be in the future.")
    if owner is not None:
        # The owner's row locked: two issues at once cannot both pass the count below.
        live = session.scalar(
            select(col(User.id))
            .where(col(User.id) == owner, col(User.deleted_at).is_(None))
            .with_for_update()
        )
        if live is None:
            raise KeyRefused("No such account (or it was deleted).")
        working = session.execute(
            select(func.count())
            .select_from(ApiKey)
            .where(
                col(ApiKey.user_id) == owner,
                col(ApiKey.revoked_at).is_(None),
                col(ApiKey.expires_at).is_(None) | (col(ApiKey.expires_at) > now),
            )
        ).scalar_one()
        if working >= MAX_LIVE_KEYS:
            raise KeyRefused(
                f"An account can have {MAX_LIVE_KEYS} working keys; revoke one you no longer use."
            )
    raw = KEY_PREFIX + secrets.token_urlsafe(30)
    row = ApiKey(
        user_id=owner,
        name=name,
        prefix=raw[:SHOWN],
        key_hash=hash_key(raw),
        scope=chosen,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return Issued(info=_info(row), key=raw)


def authenticate(session: Session, raw: str, *, now: datetime) -> KeyAccess | None:
    """Who a presented key acts for, or None: unknown, malformed, revoked or expired (or
    its owner's account deleted)."""
    if not raw.startswith(KEY_PREFIX) or len(raw) > 128 or not raw.isascii():
        return None
    row = session.execute(
        select(
            col(ApiKey.id),
            col(ApiKey.user_id),
            col(ApiKey.scope),
            col(ApiKey.last_used_at),
        )
        .outerjoin(User, col(User.id) == col(ApiKey.user_id))
        .where(
            col(ApiKey.key_hash) == hash_key(raw),
            col(ApiKey.revoked_at).is_(None),
            col(ApiKey.expires_at).is_(None) | (col(ApiKey.expires_at) > now),
            col(ApiKey.user_id).is_(None) | col(User.deleted_at).is_(None),
        )
    ).first()
    if row is None:
        return None
    if row.last_used_at is None or row.last_used_at <= now - LAST_USED_EVERY:
        session.execute(update(ApiKey).where(col(ApiKey.id) == row.id).values(last_used_at=now))
    return KeyAccess(key_id=row.id, user_id=row.user_id, scope=ApiKeyScope(row.scope))


def revoke(
    session: Session, *, key_id: int, owner: uuid.UUID | None, now: datetime, any_owner: bool
) -> KeyInfo:
    """Revoke one key: `owner`'s own (a person on their account page), or any key with
    `any_owner` (an operator). Raises KeyRefused for no such key (or another's); revoking
    a revoked key changes nothing and answers it as it is."""
    statement = select(ApiKey).where(col(ApiKey.id) == key_id).with_for_update()
    if not any_owner:
        statement = statement.where(col(ApiKey.user_id) == owner)
    row = session.scalars(statement).first()
    if row is None:
        raise KeyRefused("No such key.")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        session.flush()
    return _info(row)


def revoke_all_of(session: Session, *, user_id: uuid.UUID, now: datetime) -> int:
    """Every key of a user, revoked (their account is being deleted)."""
    result = session.execute(
        update(ApiKey)
        .where(col(ApiKey.user_id) == user_id, col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount


def list_keys(session: Session, *, owner: uuid.UUID | None, service: bool = False) -> list[KeyInfo]:
    """`owner`'s keys (or, with `service`, the service keys), newest first."""
    statement = select(ApiKey).order_by(col(ApiKey.id).desc())
    if service:
        statement = statement.where(col(ApiKey.user_id).is_(None))
    else:
        statement = statement.where(col(ApiKey.user_id) == owner)
    return [_info(row) for row in session.scalars(statement)]
