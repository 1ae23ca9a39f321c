"""Lot expiry as a job: write the expiry of every lot past its date, one user at a time.

Each user is one transaction that first takes the user's row lock, then writes one EXPIRE
entry per due lot keyed by the lot (ledger.expire_due), so two runs at once (the app's
minute task and `credit-app expire`) cannot expire a lot twice: the second waits for the
lock, then finds the lot's free credits gone, or its key used. A run that dies half-way
leaves every finished user committed and the rest for the next run. Spends never wait for
this job: a spend that meets a lot past its date writes that expiry itself first.
"""

import uuid
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from credit_app.credits import ledger
from credit_app.db import session_scope
from credit_app.models import CreditLot


def due_users(session: Session, *, now: datetime) -> list[uuid.UUID]:
    """Users with a lot past its date that still has free (unpinned) credits."""
    return list(
        session.scalars(
            select(col(CreditLot.user_id))
            .where(
                col(CreditLot.expires_at) <= now,
                col(CreditLot.remaining) > col(CreditLot.reserved),
            )
            .distinct()
        )
    )


def expire_user(session: Session, *, user_id: uuid.UUID, now: datetime) -> int:
    """Expire one user's due lots under their row lock; returns the credits expired."""
    ledger.lock_user(session, user_id)
    return ledger.expire_due(session, user_id=user_id, now=now)


def expire_lots(*, now: datetime, engine: Engine | None = None) -> tuple[int, int]:
    """Expire every due lot, one transaction per user. Returns (users, credits expired)."""
    with session_scope(engine) as session:
        users = due_users(session, now=now)
    total = 0
    for user_id in users:
        with session_scope(engine) as session:
            total += expire_user(session, user_id=user_id, now=now)
    return len(users), total
