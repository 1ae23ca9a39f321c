"""The ledger: the only code that changes a balance.

Every change is one conditional balance update plus one append-only ledger row, inside the
caller's transaction (the caller owns the commit, so a change can join other writes, e.g.
creating the user it belongs to). Concurrency safety comes from the database:

- the user's row is locked first (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the
  engine begins every transaction with BEGIN IMMEDIATE, which serializes writers), so the
  idempotency-key lookup and the balance check cannot race another change to that user;
- the UPDATE is still conditional (credits + delta >= 0) and the column has CHECK >= 0,
  so even a caller that bypassed the lock could not store a negative balance.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from credit_app.credits.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    InvalidAmount,
    UnknownUser,
)
from credit_app.models import EntryKind, GrantSource, LedgerEntry, User


@dataclass(frozen=True)
class LedgerResult:
    entry_id: int
    user_id: uuid.UUID
    delta: int
    balance_after: int
    created_at: datetime
    # True when this call repeated an earlier one with the same key and changed nothing.
    replayed: bool


def grant(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    source: GrantSource | str,
    description: str | None = None,
) -> LedgerResult:
    """Add `amount` credits. Repeating the same key returns the first result."""
    _check_amount(amount)
    return _apply(
        session,
        user_id=user_id,
        delta=amount,
        kind=EntryKind.GRANT,
        idempotency_key=idempotency_key,
        source=str(source),
        description=description,
    )


def spend(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    feature: str,
    description: str | None = None,
) -> LedgerResult:
    """Take `amount` credits or raise InsufficientCredits, writing nothing."""
    _check_amount(amount)
    return _apply(
        session,
        user_id=user_id,
        delta=-amount,
        kind=EntryKind.SPEND,
        idempotency_key=idempotency_key,
        feature=feature,
        description=description,
    )


def balance(session: Session, *, user_id: uuid.UUID) -> int:
    credits = session.scalar(select(User.credits).where(User.id == user_id))
    if credits is None:
        raise UnknownUser(user_id)
    return credits


def recent_entries(session: Session, *, user_id: uuid.UUID, limit: int = 10) -> list[LedgerEntry]:
    statement = (
        select(LedgerEntry)
        .where(LedgerEntry.user_id == user_id)
        .order_by(LedgerEntry.id.desc())
        .limit(limit)
    )
    return list(session.scalars(statement))


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidAmount(amount)


def _apply(
    session: Session,
    *,
    user_id: uuid.UUID,
    delta: int,
    kind: EntryKind,
    idempotency_key: str,
    source: str | None = None,
    feature: str | None = None,
    description: str | None = None,
) -> LedgerResult:
    available = session.scalar(select(User.credits).where(User.id == user_id).with_for_update())
    if available is None:
        raise UnknownUser(user_id)

    # Under the lock, an earlier change with this key (by this or any other process) has
    # either committed and is visible here, or has not touched this user yet.
    existing = session.scalar(
        select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)
    )
    if existing is not None:
        if (existing.user_id, existing.kind, existing.delta) != (user_id, kind, delta):
            raise IdempotencyConflict(idempotency_key)
        return _result(existing, replayed=True)

    if available + delta < 0:
        raise InsufficientCredits(required=-delta, available=available)

    new_balance = session.scalar(
        update(User)
        .where(User.id == user_id, User.credits + delta >= 0)
        .values(credits=User.credits + delta)
        .returning(User.credits)
        .execution_options(synchronize_session=False)
    )
    if new_balance is None:  # unreachable while the lock holds; kept as the last line
        raise InsufficientCredits(required=-delta, available=available)

    entry = LedgerEntry(
        user_id=user_id,
        kind=kind,
        source=source,
        feature=feature,
        description=description,
        delta=delta,
        balance_after=new_balance,
        idempotency_key=idempotency_key,
    )
    session.add(entry)
    try:
        session.flush()
    except IntegrityError as exc:
        # Only possible when the same key races in for a *different* user, whose lock
        # we do not hold: that is a conflicting reuse, not a retry.
        raise IdempotencyConflict(idempotency_key) from exc
    return _result(entry, replayed=False)


def _result(entry: LedgerEntry, *, replayed: bool) -> LedgerResult:
    assert entry.id is not None
    return LedgerResult(
        entry_id=entry.id,
        user_id=entry.user_id,
        delta=entry.delta,
        balance_after=entry.balance_after,
        created_at=entry.created_at,
        replayed=replayed,
    )
