"""The ledger: the only code that changes a balance.

Every change is one conditional balance update plus one append-only ledger row, inside the
caller's transaction (the caller owns the commit, so a change can join other writes, e.g.
creating the user it belongs to). Concurrency safety comes from the database, not Python:

- the balance changes by a conditional UPDATE (credits + delta >= 0) that also takes the
  user's row lock on PostgreSQL; on SQLite the engine begins every transaction with
  BEGIN IMMEDIATE, which serializes writers. The column's CHECK >= 0 is the last guard;
- the idempotency key is unique in the ledger, and is inserted while the lock is held, so
  two requests with one key cannot both change the balance.

The common path is two statements (UPDATE ... RETURNING, INSERT ... RETURNING), the same
as the hand-written SQL it is benchmarked against (benchmarks/spend_throughput.py).

Public entry points, one per kind of entry: `grant`, `spend`, `refund`, `clawback`,
`forfeit` (account deletion), and `capture_entry` (used by holds.capture). Each returns a
typed result whose `replayed` is True when the key had been used already and nothing
changed.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from credit_app.credits.errors import (
    HoldsStillActive,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidAmount,
    UnknownUser,
)
from credit_app.db import insert_unless_exists
from credit_app.models import EntryKind, GrantSource, LedgerEntry, Shortfall, User, utcnow

# The hot path uses the Core tables: ORM-enabled UPDATE/INSERT statements cost noticeably
# more Python time per call (benchmarks/spend_throughput.py) and buy nothing here.
# SQLModel's type stubs do not declare the `__table__` that SQLAlchemy's declarative
# mapping sets on every table model (library typing noise, not a missing attribute).
_USERS = User.__table__  # type: ignore[attr-defined]
_LEDGER = LedgerEntry.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LedgerResult:
    """One ledger entry: what a grant, spend, refund or capture wrote (or had written)."""

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
    check_amount(amount)
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
    check_amount(amount)
    return _apply(
        session,
        user_id=user_id,
        delta=-amount,
        kind=EntryKind.SPEND,
        idempotency_key=idempotency_key,
        feature=feature,
        description=description,
    )


def refund(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    feature: str | None,
    description: str | None = None,
) -> LedgerResult:
    """Give back `amount` credits of a spend whose work failed: a visible REFUND entry.
    The key names the refunded cause (keys.tool_refund), so a cause is refunded once."""
    check_amount(amount)
    return _apply(
        session,
        user_id=user_id,
        delta=amount,
        kind=EntryKind.REFUND,
        idempotency_key=idempotency_key,
        feature=feature,
        description=description,
    )


def capture_entry(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    feature: str | None,
    description: str | None = None,
) -> LedgerResult:
    """Write the CAPTURE entry that settles a hold: `amount` credits leave the balance.
    Only holds.capture calls this, after lowering `held` in the same transaction; use
    `capture` (from credit_app.credits) to settle a hold."""
    check_amount(amount)
    return _apply(
        session,
        user_id=user_id,
        delta=-amount,
        kind=EntryKind.CAPTURE,
        idempotency_key=idempotency_key,
        feature=feature,
        description=description,
    )


def balance(session: Session, *, user_id: uuid.UUID) -> int:
    credits = session.scalar(select(col(User.credits)).where(col(User.id) == user_id))
    if credits is None:
        raise UnknownUser(user_id)
    return credits


def available(session: Session, *, user_id: uuid.UUID) -> int:
    """Credits that can be spent now: the balance minus active holds."""
    row = session.execute(
        select(col(User.credits), col(User.held)).where(col(User.id) == user_id)
    ).first()
    if row is None:
        raise UnknownUser(user_id)
    return row.credits - row.held


def recent_entries(session: Session, *, user_id: uuid.UUID, limit: int = 10) -> list[LedgerEntry]:
    statement = (
        select(LedgerEntry)
        .where(col(LedgerEntry.user_id) == user_id)
        .order_by(col(LedgerEntry.id).desc())
        .limit(limit)
    )
    return list(session.scalars(statement))


def entry_delta(session: Session, *, key: str) -> int | None:
    """The delta of the entry written under idempotency key `key`; None if there is none."""
    return session.scalar(
        select(col(LedgerEntry.delta)).where(col(LedgerEntry.idempotency_key) == key)
    )


def net_taken_under(session: Session, *, prefix: str) -> int:
    """Credits claimed back by the entries whose idempotency key starts with `prefix`: what
    they took, net of what they gave back (e.g. a won dispute's restore), plus the
    shortfalls clawbacks under those keys recorded (credits already spent, so not taken).
    0 when nothing matches. Keys are grouped by prefix in `keys` (e.g. purchase_prefix)."""
    taken = session.scalar(
        select(func.coalesce(func.sum(-col(LedgerEntry.delta)), 0)).where(
            col(LedgerEntry.idempotency_key).startswith(prefix, autoescape=True)
        )
    )
    short = session.scalar(
        select(func.coalesce(func.sum(col(Shortfall.credits)), 0)).where(
            col(Shortfall.reference).startswith(prefix, autoescape=True)
        )
    )
    # COALESCE makes both sums 0 when nothing matches: never NULL.
    return (taken or 0) + (short or 0)


def check_amount(amount: object) -> None:
    """Raise InvalidAmount unless `amount` is a positive whole number (not a bool)."""
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
    # 1. The conditional UPDATE changes the balance and, in the same round trip, takes the
    #    user's row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock).
    #    A concurrent change to this user waits here until we commit or roll back.
    users = _USERS.c
    new_balance = session.scalar(
        update(_USERS)
        # Spendable is what active holds leave free: credits - held (invariant 2).
        .where(users.id == user_id, users.credits - users.held + delta >= 0)
        .values(credits=users.credits + delta)
        .returning(users.credits)
    )
    if new_balance is None:
        # Refused or no such user. An identical earlier request may have succeeded and
        # spent the credits this one sees missing: that is a replay, not a refusal.
        if (existing := _entry_by_key(session, idempotency_key)) is not None:
            return _replay(existing, user_id=user_id, kind=kind, delta=delta)
        raise InsufficientCredits(required=-delta, available=available(session, user_id=user_id))

    # 2. Record the change, unless the key was used before: then undo step 1 inside this
    #    transaction, so a repeated request changes nothing and returns the first result.
    #    Under the row lock, an earlier use of the key for this user has committed and is
    #    visible (READ COMMITTED takes a fresh snapshot per statement).
    inserted = session.execute(
        insert_unless_exists(session, _LEDGER, key="idempotency_key")
        .values(
            user_id=user_id,
            kind=kind,
            source=source,
            feature=feature,
            description=description,
            delta=delta,
            balance_after=new_balance,
            idempotency_key=idempotency_key,
            created_at=utcnow(),
        )
        .returning(_LEDGER.c.id, _LEDGER.c.created_at)
    ).first()
    if inserted is None:
        session.execute(
            update(_USERS).where(users.id == user_id).values(credits=users.credits - delta)
        )
        existing = _entry_by_key(session, idempotency_key)
        assert existing is not None  # it conflicted, and rows are never deleted
        return _replay(existing, user_id=user_id, kind=kind, delta=delta)

    return LedgerResult(
        entry_id=inserted.id,
        user_id=user_id,
        delta=delta,
        balance_after=new_balance,
        created_at=inserted.created_at,
        replayed=False,
    )


def _entry_by_key(session: Session, idempotency_key: str) -> LedgerEntry | None:
    return session.scalar(
        select(LedgerEntry).where(col(LedgerEntry.idempotency_key) == idempotency_key)
    )


def _replay(
    existing: LedgerEntry, *, user_id: uuid.UUID, kind: EntryKind, delta: int
) -> LedgerResult:
    if (existing.user_id, existing.kind, existing.delta) != (user_id, kind, delta):
        raise IdempotencyConflict(existing.idempotency_key)
    assert existing.id is not None
    return LedgerResult(
        entry_id=existing.id,
        user_id=existing.user_id,
        delta=existing.delta,
        balance_after=existing.balance_after,
        created_at=existing.created_at,
        replayed=True,
    )


@dataclass(frozen=True)
class ClawbackResult:
    """What a clawback took, and what it could not take (recorded as a Shortfall)."""

    taken: int
    shortfall: int
    # True when this key was used before: nothing more was taken.
    replayed: bool


def clawback(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    description: str,
) -> ClawbackResult:
    """Take back up to `amount` credits (a refund or dispute), never below zero.

    What the user has already spent (or holds for running work) cannot be taken; that part
    is recorded as a Shortfall for admins. Repeating the key takes nothing more.
    """
    check_amount(amount)
    locked = session.execute(
        select(col(User.credits), col(User.held)).where(col(User.id) == user_id).with_for_update()
    ).first()
    if locked is None:
        raise UnknownUser(user_id)
    existing = _entry_by_key(session, idempotency_key)
    recorded_short = session.scalar(
        select(col(Shortfall.credits)).where(col(Shortfall.reference) == idempotency_key)
    )
    if existing is not None or recorded_short is not None:
        taken = -existing.delta if existing is not None else 0
        return ClawbackResult(taken=taken, shortfall=recorded_short or 0, replayed=True)

    # Credits reserved by an active hold pay for work already running; leave them.
    taken = min(amount, locked.credits - locked.held)
    if taken:
        _apply(
            session,
            user_id=user_id,
            delta=-taken,
            kind=EntryKind.CLAWBACK,
            idempotency_key=idempotency_key,
            description=description,
        )
    if amount > taken:
        session.add(Shortfall(user_id=user_id, reference=idempotency_key, credits=amount - taken))
        session.flush()
    return ClawbackResult(taken=taken, shortfall=amount - taken, replayed=False)


def forfeit(
    session: Session, *, user_id: uuid.UUID, idempotency_key: str, description: str
) -> LedgerResult | None:
    """Give up the whole balance in one FORFEIT entry (the account is being deleted), so
    the cached balance becomes 0 and still equals the ledger's sum. None when there was
    nothing to forfeit (a zero balance writes no entry: deltas are never 0). Repeating the
    key returns the first entry (replayed) and takes nothing more.

    Credits under an active hold pay for work still running: release or capture the holds
    first (HoldsStillActive otherwise), so nothing is taken out from under a hold."""
    locked = session.execute(
        select(col(User.credits), col(User.held)).where(col(User.id) == user_id).with_for_update()
    ).first()
    if locked is None:
        raise UnknownUser(user_id)
    if (existing := _entry_by_key(session, idempotency_key)) is not None:
        return _replay(existing, user_id=user_id, kind=EntryKind.FORFEIT, delta=existing.delta)
    if locked.held:
        raise HoldsStillActive(user_id, locked.held)
    if locked.credits == 0:
        return None
    return _apply(
        session,
        user_id=user_id,
        delta=-locked.credits,
        kind=EntryKind.FORFEIT,
        idempotency_key=idempotency_key,
        description=description,
    )
