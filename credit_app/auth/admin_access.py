"""Who may use the admin console, checked on the server for every admin event and page.

An admin is a user whose role is `admin` (`credit-app make-admin EMAIL`). The console
trusts nothing the browser says: each admin handler resolves the session token again and
asks `resolve_admin`, which answers only for a live session of a live admin account that
is at most ADMIN_SESSION_MAX old (an admin session lasts at most 12 hours, however long
the person's session would otherwise live). A role revoked mid-session ends admin access
on the next event.

Actions that move credits or roles also need the admin's password typed again within
REAUTH_WINDOW (`reauthenticate`), so a walked-away-from browser cannot grant credits.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, Engine, select, update
from sqlmodel import Session, col

from credit_app.auth import profile
from credit_app.auth.sessions import hash_token
from credit_app.db import in_read, in_transaction
from credit_app.models import AuthSession, Role, User, utcnow

ADMIN_SESSION_MAX = timedelta(hours=12)
REAUTH_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class AdminAccess:
    admin_id: uuid.UUID
    # The admin typed their password within REAUTH_WINDOW in this session.
    reauthenticated: bool


def admin_access(session: Session, token: str, *, now: datetime) -> AdminAccess | None:
    """The admin behind `token`, or None: no live session, not (or no longer) an admin, a
    deleted account, or a session older than ADMIN_SESSION_MAX."""
    if not token:
        return None
    row = session.execute(
        select(col(AuthSession.user_id), col(AuthSession.reauthenticated_at))
        .join(User, col(User.id) == col(AuthSession.user_id))
        .where(
            col(AuthSession.token_hash) == hash_token(token),
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > now,
            col(AuthSession.created_at) > now - ADMIN_SESSION_MAX,
            col(User.role) == Role.ADMIN,
            col(User.deleted_at).is_(None),
        )
    ).first()
    if row is None:
        return None
    fresh = row.reauthenticated_at is not None and row.reauthenticated_at > now - REAUTH_WINDOW
    return AdminAccess(admin_id=row.user_id, reauthenticated=fresh)


async def resolve_admin(
    token: str, *, now: datetime | None = None, engine: Engine | None = None
) -> AdminAccess | None:
    """`admin_access` in a read of its own (what every admin event handler calls first)."""
    if not token:
        return None
    return await in_read(admin_access, token, now=now or utcnow(), engine=engine)


def _mark_reauthenticated(session: Session, token: str, now: datetime) -> None:
    session.execute(
        update(AuthSession)
        .where(col(AuthSession.token_hash) == hash_token(token))
        .values(reauthenticated_at=now)
    )


async def reauthenticate(
    token: str, password: str, *, client: str, engine: Engine | None = None
) -> str:
    """Check an admin's password again (throttled like a sign-in); "" when it was right
    (this session counts as re-authenticated for REAUTH_WINDOW), else what to say."""
    access = await resolve_admin(token, engine=engine)
    if access is None:
        return "Your admin session has ended. Sign in again."
    error = await profile.confirm_password(access.admin_id, password, client=client, engine=engine)
    if not error:
        await in_transaction(_mark_reauthenticated, token, utcnow(), engine=engine)
    return error


def set_role(session: Session, *, user_id: uuid.UUID, role: Role) -> str | None:
    """Give a user `role`; the role they had before (None: no such live account)."""
    before = session.scalar(
        select(col(User.role))
        .where(col(User.id) == user_id, col(User.deleted_at).is_(None))
        .with_for_update()
    )
    if before is None:
        return None
    result = session.execute(update(User).where(col(User.id) == user_id).values(role=role))
    assert isinstance(result, CursorResult)
    return before
