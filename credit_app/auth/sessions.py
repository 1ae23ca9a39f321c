"""Server-side sessions: the browser holds a random token, the database only its hash.

Each session also has a `live_token`, a second random secret that never leaves the server:
the open tabs of that session share their live account state under it (state/live.py).

The functions taking a `session` work inside the caller's transaction. The async ones
(`start_session`, `resolve_session`, `end_session`, `live_sessions_of`, `ended_since`, and
for the account page `sessions_of`, `revoke_one`, `revoke_others`) are what the app
calls: each runs in its own transaction on a worker thread, on `engine` (the app's by
default).
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, Engine, or_, select, update
from sqlmodel import Session, col

from credit_app.db import delete_oldest, in_read, in_transaction
from credit_app.models import AuthSession, utcnow
from credit_app.settings import get_settings


@dataclass(frozen=True)
class SignedIn:
    user_id: uuid.UUID
    live_token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(session: Session, *, user_id: uuid.UUID, ttl: timedelta) -> str:
    """Start a session and return its token (shown to the browser once, never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        AuthSession(
            user_id=user_id,
            token_hash=hash_token(token),
            live_token=secrets.token_hex(32),
            expires_at=utcnow() + ttl,
        )
    )
    session.flush()
    return token


def _live(now: datetime):
    return col(AuthSession.revoked_at).is_(None), col(AuthSession.expires_at) > now


def check_session(session: Session, token: str, *, now: datetime | None = None) -> SignedIn | None:
    """Who a live session belongs to, or None when unknown, expired or revoked."""
    if not token:
        return None
    found = session.execute(
        select(col(AuthSession.user_id), col(AuthSession.live_token)).where(
            col(AuthSession.token_hash) == hash_token(token), *_live(now or utcnow())
        )
    ).first()
    return SignedIn(found.user_id, found.live_token) if found else None


def live_tokens(session: Session, *, user_id: uuid.UUID, now: datetime | None = None) -> list[str]:
    """The live tokens of a user's sessions that are still valid: where changes are pushed."""
    return list(
        session.scalars(
            select(col(AuthSession.live_token)).where(
                col(AuthSession.user_id) == user_id, *_live(now or utcnow())
            )
        )
    )


def ended_between(session: Session, *, start: datetime, end: datetime) -> list[str]:
    """Live tokens of sessions revoked or expired in (start, end]: their tabs must be
    signed out, wherever the revocation happened (another worker, the CLI)."""
    revoked_at, expires_at = col(AuthSession.revoked_at), col(AuthSession.expires_at)
    return list(
        session.scalars(
            select(col(AuthSession.live_token)).where(
                or_(
                    (revoked_at > start) & (revoked_at <= end),
                    (expires_at > start) & (expires_at <= end),
                )
            )
        )
    )


def revoke_session(session: Session, token: str) -> None:
    if token:
        session.execute(
            update(AuthSession)
            .where(
                col(AuthSession.token_hash) == hash_token(token),
                col(AuthSession.revoked_at).is_(None),
            )
            .values(revoked_at=utcnow())
        )


def revoke_all_sessions(session: Session, *, user_id: uuid.UUID) -> int:
    result = session.execute(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    assert isinstance(result, CursorResult)  # what an UPDATE without RETURNING gives
    return result.rowcount


@dataclass(frozen=True)
class SessionInfo:
    """What the account page lists of a signed-in browser: never its token or hash."""

    id: int
    created_at: datetime
    expires_at: datetime
    # The session of the browser asking (the one a revoke-others keeps).
    current: bool


def list_sessions(
    session: Session, *, user_id: uuid.UUID, current_token: str, now: datetime | None = None
) -> list[SessionInfo]:
    """A user's live sessions, newest first, the asking browser's marked `current`."""
    current_hash = hash_token(current_token) if current_token else ""
    rows = session.execute(
        select(
            col(AuthSession.id),
            col(AuthSession.created_at),
            col(AuthSession.expires_at),
            col(AuthSession.token_hash),
        )
        .where(col(AuthSession.user_id) == user_id, *_live(now or utcnow()))
        .order_by(col(AuthSession.created_at).desc(), col(AuthSession.id).desc())
    ).all()
    return [
        SessionInfo(row.id, row.created_at, row.expires_at, row.token_hash == current_hash)
        for row in rows
    ]


def revoke_session_of(session: Session, *, user_id: uuid.UUID, session_id: int) -> bool:
    """Revoke one of `user_id`'s sessions by its id (from the account page: hostile input,
    so another user's id changes nothing). True when a live session was revoked."""
    result = session.execute(
        update(AuthSession)
        .where(
            col(AuthSession.id) == session_id,
            col(AuthSession.user_id) == user_id,
            col(AuthSession.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def revoke_other_sessions(session: Session, *, user_id: uuid.UUID, keep_token: str) -> int:
    """Revoke every session of `user_id` but the one behind `keep_token` (this browser
    stays signed in); returns how many were revoked. The open tabs of the revoked ones are
    signed out by the background loop (background.sign_out_ended_sessions)."""
    result = session.execute(
        update(AuthSession)
        .where(
            col(AuthSession.user_id) == user_id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.token_hash) != hash_token(keep_token),
        )
        .values(revoked_at=utcnow())
    )
    assert isinstance(result, CursorResult)
    return result.rowcount


# What the app calls: each in its own transaction, off the event loop.


async def start_session(
    user_id: uuid.UUID, *, ttl: timedelta | None = None, engine: Engine | None = None
) -> str:
    """Sign `user_id` in: a new session (SESSION_TTL_HOURS unless `ttl`), its token back."""
    ttl = ttl if ttl is not None else get_settings().session_ttl
    return await in_transaction(create_session, user_id=user_id, ttl=ttl, engine=engine)


async def resolve_session(
    token: str, *, now: datetime | None = None, engine: Engine | None = None
) -> SignedIn | None:
    """Who `token` signs in, or None: unknown, expired or revoked (read-only)."""
    if not token:
        return None
    return await in_read(check_session, token, now=now, engine=engine)


async def end_session(token: str, *, engine: Engine | None = None) -> None:
    """Log out: revoke the session behind `token` (nothing happens for an unknown one)."""
    if token:
        await in_transaction(revoke_session, token, engine=engine)


async def ended_since(
    since: datetime | None, *, now: datetime | None = None, engine: Engine | None = None
) -> tuple[datetime, list[str]]:
    """Live tokens of the sessions revoked or expired in (since, now], and `now`: where the
    next look starts. `since=None` is the first look: it only learns the time."""
    now = now or utcnow()
    if since is None:
        return now, []
    return now, await in_read(ended_between, start=since, end=now, engine=engine)


async def live_sessions_of(user_id: uuid.UUID, *, engine: Engine | None = None) -> list[str]:
    """The live tokens of `user_id`'s valid sessions: where a change to their account is
    pushed (read-only)."""
    return await in_read(live_tokens, user_id=user_id, engine=engine)


async def sessions_of(
    user_id: uuid.UUID, *, current_token: str, engine: Engine | None = None
) -> list[SessionInfo]:
    """`list_sessions` in a read of its own."""
    return await in_read(list_sessions, user_id=user_id, current_token=current_token, engine=engine)


async def revoke_one(user_id: uuid.UUID, session_id: int, *, engine: Engine | None = None) -> bool:
    """`revoke_session_of` in a transaction of its own."""
    return await in_transaction(
        revoke_session_of, user_id=user_id, session_id=session_id, engine=engine
    )


async def revoke_others(
    user_id: uuid.UUID, *, keep_token: str, engine: Engine | None = None
) -> int:
    """`revoke_other_sessions` in a transaction of its own."""
    return await in_transaction(
        revoke_other_sessions, user_id=user_id, keep_token=keep_token, engine=engine
    )


def prune_ended(session: Session, *, before: datetime) -> int:
    """Forget (a batch of) sessions that expired or were revoked before `before`: nobody
    can use them, and the audit log keeps who signed out whom."""
    sessions = col(AuthSession.expires_at) < before, col(AuthSession.revoked_at) < before
    return delete_oldest(session, AuthSession, or_(*sessions))
