"""Server-side sessions: the browser holds a random token, the database only its hash.

Each session also has a `live_token`, a second random secret that never leaves the server:
the open tabs of that session share their live account state under it (state/account.py).
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlmodel import Session

from credit_app.models import AuthSession, utcnow


@dataclass(frozen=True)
class SignedIn:
    user_id: uuid.UUID
    live_token: str


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(session: Session, *, user_id: uuid.UUID, ttl: timedelta) -> str:
    """Start a session and return its token (shown to the browser once, never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        AuthSession(
            user_id=user_id,
            token_hash=_hash_token(token),
            live_token=secrets.token_hex(32),
            expires_at=utcnow() + ttl,
        )
    )
    session.flush()
    return token


def _live(now: datetime):
    return AuthSession.revoked_at.is_(None), AuthSession.expires_at > now


def check_session(session: Session, token: str, *, now: datetime | None = None) -> SignedIn | None:
    """Who a live session belongs to, or None when unknown, expired or revoked."""
    if not token:
        return None
    found = session.execute(
        select(AuthSession.user_id, AuthSession.live_token).where(
            AuthSession.token_hash == _hash_token(token), *_live(now or utcnow())
        )
    ).first()
    return SignedIn(found.user_id, found.live_token) if found else None


def live_tokens(session: Session, *, user_id: uuid.UUID, now: datetime | None = None) -> list[str]:
    """The live tokens of a user's sessions that are still valid: where changes are pushed."""
    return list(
        session.scalars(
            select(AuthSession.live_token).where(
                AuthSession.user_id == user_id, *_live(now or utcnow())
            )
        )
    )


def ended_between(session: Session, *, start: datetime, end: datetime) -> list[str]:
    """Live tokens of sessions revoked or expired in (start, end]: their tabs must be
    signed out, wherever the revocation happened (another worker, the CLI)."""
    return list(
        session.scalars(
            select(AuthSession.live_token).where(
                or_(
                    (AuthSession.revoked_at > start) & (AuthSession.revoked_at <= end),
                    (AuthSession.expires_at > start) & (AuthSession.expires_at <= end),
                )
            )
        )
    )


def revoke_session(session: Session, token: str) -> None:
    if token:
        session.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == _hash_token(token), AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def revoke_all_sessions(session: Session, *, user_id: uuid.UUID) -> int:
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount
