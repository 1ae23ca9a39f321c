"""Slow down password guessing per email: after a few failures, exponential back-off.

Kept in the database, not in memory, so it holds across app workers and restarts.
"""

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlmodel import Session

from credit_app.db import insert_unless_exists
from credit_app.models import LoginThrottle


def backoff_seconds(failures: int, *, free_failures: int, max_delay: int) -> int:
    """How long after the last failure the next attempt must wait: nothing for the first
    few failures, then 1, 2, 4, ... seconds, capped."""
    if failures < free_failures:
        return 0
    return min(2 ** (failures - free_failures), max_delay)


def retry_after(
    session: Session, *, email: str, now: datetime, free_failures: int, max_delay: int
) -> int:
    """Seconds the next attempt for `email` must still wait (0: may try now)."""
    row = session.scalar(select(LoginThrottle).where(LoginThrottle.email == email))
    if row is None:
        return 0
    delay = backoff_seconds(row.failures, free_failures=free_failures, max_delay=max_delay)
    remaining = row.last_failure_at + timedelta(seconds=delay) - now
    return max(0, int(remaining.total_seconds() + 0.999))


def record_failure(session: Session, *, email: str, now: datetime) -> None:
    """Count one more failure. Insert-if-missing then increment, so concurrent failures
    for a new email neither collide on the key nor lose a count."""
    session.execute(
        insert_unless_exists(session, LoginThrottle, key="email").values(
            email=email, failures=0, last_failure_at=now
        )
    )
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.email == email)
        .values(failures=LoginThrottle.failures + 1, last_failure_at=now)
    )


def clear(session: Session, *, email: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.email == email))
