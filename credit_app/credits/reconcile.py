"""Invariant checks over the whole ledger (DESIGN.md section 4), for `credit-app reconcile`."""

import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlmodel import Session

from credit_app.models import LedgerEntry, User


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
