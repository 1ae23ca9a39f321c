"""Invariant checks over the whole ledger (DESIGN.md section 4), for `credit-app reconcile`."""

import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from credit_app.models import Hold, HoldStatus, LedgerEntry, User


@dataclass(frozen=True)
class Drift:
    user_id: uuid.UUID
    email: str
    cached_balance: int
    ledger_sum: int

    def describe(self) -> str:
        return (
            f"{self.email} ({self.user_id}): cached balance {self.cached_balance}, "
            f"ledger sum {self.ledger_sum}, drift {self.cached_balance - self.ledger_sum:+d}"
        )


def find_drift(session: Session) -> list[Drift]:
    """Users whose cached balance differs from their ledger sum, or is negative."""
    ledger_sum = func.coalesce(func.sum(col(LedgerEntry.delta)), 0)
    user_id, email, credits = col(User.id), col(User.email), col(User.credits)
    statement = (
        select(user_id, email, credits, ledger_sum)
        .outerjoin(LedgerEntry, col(LedgerEntry.user_id) == user_id)
        .group_by(user_id, email, credits)
        .having(or_(credits != ledger_sum, credits < 0))
        .order_by(email)
    )
    return [Drift(*row) for row in session.execute(statement)]


@dataclass(frozen=True)
class HoldDrift:
    user_id: uuid.UUID
    email: str
    cached_held: int
    active_holds: int

    def describe(self) -> str:
        return (
            f"{self.email} ({self.user_id}): held {self.cached_held}, "
            f"active holds sum {self.active_holds}"
        )


def find_hold_drift(session: Session) -> list[HoldDrift]:
    """Users whose cached `held` differs from the sum of their active holds."""
    active = func.coalesce(func.sum(col(Hold.amount)), 0)
    user_id, email, held = col(User.id), col(User.email), col(User.held)
    statement = (
        select(user_id, email, held, active)
        .outerjoin(Hold, (col(Hold.user_id) == user_id) & (col(Hold.status) == HoldStatus.ACTIVE))
        .group_by(user_id, email, held)
        .having(held != active)
        .order_by(email)
    )
    return [HoldDrift(*row) for row in session.execute(statement)]
