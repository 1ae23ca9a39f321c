"""Slow down password guessing per (email, client address): after a few failures, attempts
must be spaced out, exponentially more.

Keyed on the client address too, so someone else's failures never lock the owner out when
they sign in from their own network. Kept in the database, not in memory, so it holds
across app workers and restarts.

Every attempt past the free ones claims its slot with one conditional UPDATE before the
password is checked: of several simultaneous guesses, exactly one moves `blocked_until`
forward and is verified; the others match no row and are refused. No Python lock is
involved, so this holds across threads, processes and machines, on SQLite and PostgreSQL.
"""

import math
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, select, update
from sqlmodel import Session

from credit_app.db import insert_unless_exists
from credit_app.models import LoginThrottle


def too_many_failures(seconds: int) -> str:
    return f"Too many failed attempts. Try again in {seconds} seconds."


class ThrottleState(NamedTuple):
    failures: int
    blocked_until: datetime


def backoff_seconds(failures: int, *, free_failures: int, max_delay: int) -> int:
    """How far apart attempts must be after `failures` failures: not at all for the first
    few, then 1, 2, 4, ... seconds, capped."""
    if failures < free_failures:
        return 0
    return min(2 ** (failures - free_failures), max_delay)


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `moment`, rounded up; 0 once it has passed."""
    return max(0, math.ceil((moment - now).total_seconds()))


def _key(email_key: str, client: str):
    return (LoginThrottle.email_key == email_key) & (LoginThrottle.client == client)


def current(session: Session, *, email_key: str, client: str) -> ThrottleState | None:
    row = session.execute(
        select(LoginThrottle.failures, LoginThrottle.blocked_until).where(_key(email_key, client))
    ).first()
    return ThrottleState(*row) if row else None


def claim_attempt(
    session: Session,
    *,
    email_key: str,
    client: str,
    now: datetime,
    free_failures: int,
    max_delay: int,
) -> int:
    """Take the one attempt allowed now for this (email, client): 0 when taken (the caller
    may check the password), else the seconds until the next one. Call inside a write
    transaction."""
    state = current(session, email_key=email_key, client=client)
    if state is None:
        return 0
    delay = backoff_seconds(state.failures, free_failures=free_failures, max_delay=max_delay)
    # Of concurrent claims, the first moves `blocked_until` past `now`; the rest no longer
    # match (on PostgreSQL they wait for its row lock, then re-check the condition).
    claimed = session.execute(
        update(LoginThrottle)
        .where(_key(email_key, client), LoginThrottle.blocked_until <= now)
        .values(blocked_until=now + timedelta(seconds=delay))
    ).rowcount
    if claimed:
        return 0
    state = current(session, email_key=email_key, client=client)
    return max(1, seconds_until(state.blocked_until, now)) if state else 0


def record_failure(
    session: Session,
    *,
    email_key: str,
    client: str,
    now: datetime,
    free_failures: int,
    max_delay: int,
) -> None:
    """Count one more failure and push the next allowed attempt out accordingly.
    Insert-if-missing then increment, so concurrent failures for a new pair neither
    collide on the key nor lose a count."""
    session.execute(
        insert_unless_exists(session, LoginThrottle, key=["email_key", "client"]).values(
            email_key=email_key, client=client, failures=0, blocked_until=now
        )
    )
    failures = session.execute(
        update(LoginThrottle)
        .where(_key(email_key, client))
        .values(failures=LoginThrottle.failures + 1)
        .returning(LoginThrottle.failures)
    ).scalar_one()
    delay = backoff_seconds(failures, free_failures=free_failures, max_delay=max_delay)
    session.execute(
        update(LoginThrottle)
        .where(_key(email_key, client))
        .values(blocked_until=now + timedelta(seconds=delay))
    )


def clear(session: Session, *, email_key: str, client: str) -> None:
    session.execute(delete(LoginThrottle).where(_key(email_key, client)))
