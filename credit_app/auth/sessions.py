"""Server-side sessions: the browser holds a random token, the database only its hash."""

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session

from credit_app.models import AuthSession, utcnow


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(session: Session, *, user_id: uuid.UUID, ttl: timedelta) -> str:
    """Start a session and return its token (shown to the browser once, never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        AuthSession(user_id=user_id, token_hash=_hash_token(token), expires_at=utcnow() + ttl)
    )
    session.flush()
    return token


def resolve_session(
    session: Session, token: str, *, now: datetime | None = None
) -> uuid.UUID | None:
    """The user id of a live session, or None when unknown, expired or revoked."""
    if not token:
        return None
    now = now or utcnow()
    return session.scalar(
        select(AuthSession.user_id).where(
            AuthSession.token_hash == _hash_token(token),
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
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
