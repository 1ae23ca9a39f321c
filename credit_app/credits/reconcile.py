"""Invariant checks over the whole ledger (DESIGN.md section 4), for `credit-app reconcile`."""

import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from credit_app.models import (
    CreditLot,
    Hold,
    HoldStatus,
    LedgerEntry,
    LotAllocation,
    LotsStarted,
    User,
)


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


@dataclass(frozen=True)
class LotDrift:
    """A user's lots disagree with their balance or holds, or a lot is over-consumed, or
    an entry that added credits did not open exactly its lot."""

    user_id: uuid.UUID
    problem: str

    def describe(self) -> str:
        return f"{self.user_id}: {self.problem}"


def find_lot_drift(session: Session) -> list[LotDrift]:
    """Invariant 5 and the lots' own rules:
    - sum of remaining over a user's lots == their balance; sum of reserved == held;
    - no lot over-consumed: 0 <= reserved <= remaining <= amount (also CHECKed), and what
      left each lot (allocations) == amount - remaining;
    - every entry that added credits after lots began (lots_started) opened one lot of
      exactly its amount."""
    problems: list[LotDrift] = []
    remaining = func.coalesce(func.sum(col(CreditLot.remaining)), 0)
    reserved = func.coalesce(func.sum(col(CreditLot.reserved)), 0)
    rows = session.execute(
        select(col(User.id), col(User.credits), col(User.held), remaining, reserved)
        .outerjoin(CreditLot, col(CreditLot.user_id) == col(User.id))
        .group_by(col(User.id), col(User.credits), col(User.held))
        .having(or_(col(User.credits) != remaining, col(User.held) != reserved))
    )
    for user_id, credits, held, lot_sum, pinned in rows:
        problems.append(
            LotDrift(user_id, f"balance {credits} held {held}, lots {lot_sum} pinned {pinned}")
        )
    left = (
        select(
            col(LotAllocation.lot_id).label("lot_id"),
            func.sum(col(LotAllocation.credits)).label("taken"),
        )
        .group_by(col(LotAllocation.lot_id))
        .subquery()
    )
    taken = func.coalesce(left.c.taken, 0)
    for lot_id, user_id, amount, rest, gone in session.execute(
        select(
            col(CreditLot.id),
            col(CreditLot.user_id),
            col(CreditLot.amount),
            col(CreditLot.remaining),
            taken,
        )
        .outerjoin(left, left.c.lot_id == col(CreditLot.id))
        .where(
            or_(
                col(CreditLot.amount) - col(CreditLot.remaining) != taken,
                col(CreditLot.remaining) < 0,
            )
        )
    ):
        problems.append(
            LotDrift(user_id, f"lot {lot_id}: amount {amount}, remaining {rest}, taken {gone}")
        )
    started = session.scalar(select(func.max(col(LotsStarted.after_entry_id)))) or 0
    opened = (
        select(
            col(CreditLot.entry_id).label("entry_id"),
            func.count().label("lots"),
            func.sum(col(CreditLot.amount)).label("credits"),
        )
        .where(col(CreditLot.entry_id).is_not(None))
        .group_by(col(CreditLot.entry_id))
        .subquery()
    )
    for entry_id, user_id, delta, count, credits in session.execute(
        select(
            col(LedgerEntry.id),
            col(LedgerEntry.user_id),
            col(LedgerEntry.delta),
            func.coalesce(opened.c.lots, 0),
            opened.c.credits,
        )
        .outerjoin(opened, opened.c.entry_id == col(LedgerEntry.id))
        .where(col(LedgerEntry.id) > started, col(LedgerEntry.delta) > 0)
        .where(
            or_(func.coalesce(opened.c.lots, 0) != 1, opened.c.credits != col(LedgerEntry.delta))
        )
    ):
        problems.append(
            LotDrift(user_id, f"entry {entry_id} (+{delta}) opened {count} lots of {credits}")
        )
    return problems
