"""Slow down password guessing per (email, client address): after a few failures, attempts
must be spaced out, exponentially more.

Keyed on the client address too, so someone else's failures never lock the owner out when
they sign in from their own network. Kept in the database, not in memory, so it holds
across app workers and restarts.

Every attempt is counted before its password is checked (an attempt is a failure until it
succeeds), with one conditional UPDATE that only matches while no back-off is running: of
several simultaneous guesses, at most the free ones go through, then exactly one per
back-off window; the others match no row and are refused. No Python lock is involved, so
this holds across threads, processes and machines, on SQLite and PostgreSQL.
"""

import math
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import CursorResult, Engine, delete, select, update
from sqlmodel import Session, col

from credit_app import wording
from credit_app.db import in_transaction, insert_unless_exists
from credit_app.models import LoginThrottle, utcnow


def too_many_failures(seconds: int) -> str:
    return f"Too many failed attempts. Try again in {wording.seconds(seconds)}."


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
    return (col(LoginThrottle.email_key) == email_key) & (col(LoginThrottle.client) == client)


def current(session: Session, *, email_key: str, client: str) -> ThrottleState | None:
    row = session.execute(
        select(col(LoginThrottle.failures), col(LoginThrottle.blocked_until)).where(
            _key(email_key, client)
        )
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
    """Count one attempt for this (email, client) before the password is checked: 0 when
    it may go ahead, else the seconds until the next one may. Call inside a write
    transaction; a success afterwards clears the count (`clear`)."""
    # Insert-if-missing then increment, so concurrent first attempts for a new pair
    # neither collide on the key nor lose a count.
    session.execute(
        insert_unless_exists(session, LoginThrottle, key=["email_key", "client"]).values(
            email_key=email_key, client=client, failures=0, blocked_until=now
        )
    )
    # On PostgreSQL concurrent attempts wait here for the first one's row lock, then
    # re-check the condition against the `blocked_until` it set.
    counted = session.execute(
        update(LoginThrottle)
        .where(_key(email_key, client), col(LoginThrottle.blocked_until) <= now)
        .values(failures=col(LoginThrottle.failures) + 1)
        .returning(col(LoginThrottle.failures))
    ).scalar_one_or_none()
    if counted is None:
        state = current(session, email_key=email_key, client=client)
        return max(1, seconds_until(state.blocked_until, now)) if state else 1
    delay = backoff_seconds(counted, free_failures=free_failures, max_delay=max_delay)
    if delay:
        session.execute(
            update(LoginThrottle)
            .where(_key(email_key, client))
            .values(blocked_until=now + timedelta(seconds=delay))
        )
    return 0


def forgive(session: Session, *, email_key: str, client: str) -> None:
    """A success wipes the count. The row and its `blocked_until` stay: attempts that were
    already on their way when this one got in are still refused, instead of finding no row
    and starting over with free attempts."""
    session.execute(update(LoginThrottle).where(_key(email_key, client)).values(failures=0))


# A pair idle this long starts over: one row per (email, address) ever tried would
# otherwise grow without bound under a spray of random emails.
FORGET_AFTER = timedelta(days=1)


def forget_idle(session: Session, *, now: datetime) -> int:
    """Delete the rows of pairs not tried for FORGET_AFTER; returns how many."""
    result = session.execute(
        delete(LoginThrottle).where(col(LoginThrottle.blocked_until) < now - FORGET_AFTER)
    )
    assert isinstance(result, CursorResult)  # what a DELETE without RETURNING gives
    return result.rowcount


async def forget_idle_pairs(*, now: datetime | None = None, engine: Engine | None = None) -> int:
    """`forget_idle` in its own transaction (the app's periodic clean-up)."""
    return await in_transaction(forget_idle, now=now or utcnow(), engine=engine)


def forgive_everywhere(session: Session, *, email_key: str, now: datetime) -> None:
    """Clear the back-off of an address from every client: its password was just reset
    through a link sent to it, so guesses at the old one mean nothing any more, and the
    owner must be able to sign in with the new one at once."""
    session.execute(
        update(LoginThrottle)
        .where(col(LoginThrottle.email_key) == email_key)
        .values(failures=0, blocked_until=now)
    )
