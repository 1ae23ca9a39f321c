"""Invariant checks over the whole ledger (DESIGN.md section 4), for `credit-app reconcile`."""

import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlmodel import Session

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
    ledger_sum = func.coalesce(func.sum(LedgerEntry.delta), 0)
    statement = (
        select(User.id, User.email, User.credits, ledger_sum)
        .outerjoin(LedgerEntry, LedgerEntry.user_id == User.id)
        .group_by(User.id, User.email, User.credits)
        .having(or_(User.credits != ledger_sum, User.credits < 0))
        .order_by(User.email)
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
    active = func.coalesce(func.sum(Hold.amount), 0)
    statement = (
        select(User.id, User.email, User.held, active)
        .outerjoin(Hold, (Hold.user_id == User.id) & (Hold.status == HoldStatus.ACTIVE))
        .group_by(User.id, User.email, User.held)
        .having(User.held != active)
        .order_by(User.email)
    )
    return [HoldDrift(*row) for row in session.execute(statement)]
