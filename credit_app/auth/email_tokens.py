"""Single-use secrets sent by e-mail: verify an address, reset a password, confirm a new
address. The link carries the token; the database keeps only its SHA-256, so a copy of the
database opens no account. A token works once and until it expires, and issuing a new one
for the same purpose retires the older ones (only the latest link works).
"""

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlmodel import Session, col

from credit_app.db import delete_oldest
from credit_app.models import EmailToken, EmailTokenPurpose, utcnow

VALID_FOR = {
    EmailTokenPurpose.VERIFY_EMAIL: timedelta(hours=48),
    EmailTokenPurpose.RESET_PASSWORD: timedelta(minutes=60),
    EmailTokenPurpose.CHANGE_EMAIL: timedelta(hours=24),
}
# Longer than any token a link could carry is not ours.
TOKEN_MAX = 128


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session,
    *,
    user_id: uuid.UUID,
    purpose: EmailTokenPurpose,
    new_email: str | None = None,
    now: datetime | None = None,
) -> str:
    """A new token for `purpose` (the only one that works from now on); returned once, to
    be mailed, and never stored."""
    now = now or utcnow()
    session.execute(
        update(EmailToken)
        .where(
            col(EmailToken.user_id) == user_id,
            col(EmailToken.purpose) == purpose,
            col(EmailToken.used_at).is_(None),
        )
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        EmailToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=_hash(token),
            new_email=new_email,
            created_at=now,
            expires_at=now + VALID_FOR[purpose],
        )
    )
    session.flush()
    return token


def peek(
    session: Session, token: str, *, purpose: EmailTokenPurpose, now: datetime | None = None
) -> EmailToken | None:
    """The live token behind `token`, without using it (to show a form before the change)."""
    if not token or len(token) > TOKEN_MAX:
        return None
    return session.scalars(
        select(EmailToken).where(
            col(EmailToken.token_hash) == _hash(token),
            col(EmailToken.purpose) == purpose,
            col(EmailToken.used_at).is_(None),
            col(EmailToken.expires_at) > (now or utcnow()),
        )
    ).first()


def redeem(
    session: Session, token: str, *, purpose: EmailTokenPurpose, now: datetime | None = None
) -> EmailToken | None:
    """Use `token` up: its row if it was live (then never again), else None. Of two
    requests redeeming one token at once, one gets it (a conditional UPDATE)."""
    now = now or utcnow()
    found = peek(session, token, purpose=purpose, now=now)
    if found is None:
        return None
    result = session.execute(
        update(EmailToken)
        .where(col(EmailToken.id) == found.id, col(EmailToken.used_at).is_(None))
        .values(used_at=now)
    )
    assert isinstance(result, CursorResult)
    return found if result.rowcount == 1 else None


def retire_all(session: Session, *, user_id: uuid.UUID) -> None:
    """Forget every token of a user (their account is being deleted)."""
    session.execute(delete(EmailToken).where(col(EmailToken.user_id) == user_id))


def prune_spent(session: Session, *, before: datetime) -> int:
    """Forget (a batch of) links used or expired before `before`: they work no more."""
    spent = col(EmailToken.used_at) < before, col(EmailToken.expires_at) < before
    return delete_oldest(session, EmailToken, or_(*spent))
