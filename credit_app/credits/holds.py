"""Holds: reserve credits before long work, then capture what it cost or release them.

A hold does not change the balance: it raises `users.held`, and spending checks
`credits - held`. It also pins its credits in the user's lots (credits.lots), in the burn
order, so nothing else spends them and they do not expire under the running work; a
reservation counts against the monthly spending limit like a spend. Capture turns (part
of) a hold into a ledger entry (EntryKind.CAPTURE, through ledger.capture_entry), paid by
the pinned lots; release and expiry just lower `held` and unpin (credits of a lot whose
date passed meanwhile expire then). What a hold did not spend stops counting against the
limit. Every step locks the user's row through a conditional UPDATE, like the ledger, so
holds and spends never overdraw each other, on SQLite and PostgreSQL.
An expired hold releases itself: when its user next reserves credits, every minute in the
app (credit_app/background.py), and with `credit-app expire`.

Every call returns a typed result whose `replayed` is True when it changed nothing because
the same request (the same key, the same hold) had been answered before.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session, col

from credit_app.credits import keys, lots
from credit_app.credits.errors import (
    HoldNotActive,
    InvalidCapture,
    UnknownUser,
)
from credit_app.credits.ledger import (
    balance,
    capture_entry,
    check_amount,
    give_back_to_limit,
    refusal,
    release_pins,
    take_spendable,
)
from credit_app.db import insert_unless_exists
from credit_app.models import Hold, HoldStatus, User, utcnow

__all__ = [
    "DEFAULT_HOLD_TTL",
    "CaptureResult",
    "HoldNotActive",
    "HoldResult",
    "ReleaseResult",
    "capture",
    "expire_stale",
    "release",
    "release_all",
    "reserve",
]

DEFAULT_HOLD_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class HoldResult:
    """A reserved hold."""

    hold_id: int
    amount: int
    status: HoldStatus
    expires_at: datetime
    # True when the key had reserved this hold before: nothing more was reserved.
    replayed: bool


@dataclass(frozen=True)
class CaptureResult:
    """A settled hold: `captured` credits spent (one CAPTURE entry), the rest given back."""

    hold_id: int
    captured: int
    # The balance after the capture (unchanged by a capture of 0).
    balance_after: int
    # The CAPTURE ledger entry; None when nothing was captured.
    entry_id: int | None
    # True when the hold had been captured before: nothing more was spent.
    replayed: bool


@dataclass(frozen=True)
class ReleaseResult:
    """A hold given back untouched (or found already settled)."""

    hold_id: int
    # What the hold is now: RELEASED, or how it was settled before (EXPIRED, CAPTURED).
    status: HoldStatus
    # True when the hold was no longer active: this call changed nothing.
    replayed: bool


def _lower_held(session: Session, user_id: uuid.UUID, by: int) -> None:
    held = col(User.held)
    session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .values(held=held - by)
        .execution_options(synchronize_session=False)
    )


def reserve(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    feature: str,
    ttl: timedelta = DEFAULT_HOLD_TTL,
    now: datetime | None = None,
) -> HoldResult:
    """Reserve `amount` credits, or raise InsufficientCredits. Same key: same hold."""
    check_amount(amount)
    now = now or utcnow()
    if take_spendable(session, user_id=user_id, amount=amount, now=now, hold=True) is None:
        if (existing := _hold_by_key(session, idempotency_key)) is not None:
            return _hold_result(existing, replayed=True)
        # Stale holds of this user may be what is in the way: let them go, try once more.
        if not expire_stale(session, now=now, user_id=user_id) or (
            take_spendable(session, user_id=user_id, amount=amount, now=now, hold=True) is None
        ):
            raise refusal(session, user_id=user_id, amount=amount, now=now)
    hold_id = session.scalar(
        insert_unless_exists(session, Hold, key="idempotency_key")
        .values(
            user_id=user_id,
            amount=amount,
            status=HoldStatus.ACTIVE,
            feature=feature,
            idempotency_key=idempotency_key,
            captured=0,
            created_at=now,
            expires_at=now + ttl,
        )
        .returning(col(Hold.id))
    )
    if hold_id is None:  # the key was used before: undo the reservation, answer as before
        _lower_held(session, user_id, amount)
        give_back_to_limit(session, user_id=user_id, amount=amount, used_at=now)
        existing = _hold_by_key(session, idempotency_key)
        assert existing is not None  # it conflicted, and holds are never deleted
        return _hold_result(existing, replayed=True)
    lots.pin(session, user_id=user_id, amount=amount, hold_id=hold_id)
    return HoldResult(hold_id, amount, HoldStatus.ACTIVE, now + ttl, replayed=False)


def capture(
    session: Session,
    *,
    user_id: uuid.UUID,
    hold_id: int,
    amount: int,
    description: str,
    now: datetime | None = None,
) -> CaptureResult:
    """Spend `amount` (0..held) of an active hold and release the rest. Capturing an
    already captured hold again for the same amount changes nothing and answers as the
    first capture did (replayed); for another amount it is HoldNotActive, so a caller that
    meant to capture `amount` never takes someone else's capture for its own.
    Raises HoldNotActive (released, expired or unknown) or InvalidCapture."""
    hold = _locked_hold(session, user_id, hold_id)
    if hold.status == HoldStatus.CAPTURED and hold.captured == amount:
        return _capture_result(session, hold, description, replayed=True, now=now or utcnow())
    if hold.status != HoldStatus.ACTIVE:
        raise HoldNotActive(hold_id, hold.status)
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= hold.amount:
        raise InvalidCapture(amount, hold.amount)
    now = now or utcnow()
    _lower_held(session, user_id, hold.amount)
    hold.status, hold.captured, hold.settled_at = HoldStatus.CAPTURED, amount, now
    session.flush()
    if amount < hold.amount:
        give_back_to_limit(
            session, user_id=user_id, amount=hold.amount - amount, used_at=hold.created_at
        )
    if amount == 0:
        release_pins(session, user_id=user_id, hold_id=hold_id, now=now)
    return _capture_result(session, hold, description, replayed=False, now=now)


def _capture_result(
    session: Session, hold: Hold, description: str, *, replayed: bool, now: datetime
) -> CaptureResult:
    assert hold.id is not None  # loaded from the database
    if hold.captured == 0:
        return CaptureResult(
            hold.id, 0, balance(session, user_id=hold.user_id), None, replayed=replayed
        )
    # Under the same key, a repeated capture gets the first entry back from the ledger.
    entry = capture_entry(
        session,
        user_id=hold.user_id,
        hold_id=hold.id,
        now=now,
        amount=hold.captured,
        idempotency_key=keys.hold_capture(hold.id),
        feature=hold.feature,
        description=description,
    )
    return CaptureResult(
        hold.id, hold.captured, entry.balance_after, entry.entry_id, replayed=replayed
    )


def release(
    session: Session, *, user_id: uuid.UUID, hold_id: int, now: datetime | None = None
) -> ReleaseResult:
    """Give the held credits back untouched. Releasing a settled hold changes nothing
    (replayed), so releasing twice is harmless."""
    hold = _locked_hold(session, user_id, hold_id)
    if hold.status != HoldStatus.ACTIVE:
        return ReleaseResult(hold_id, HoldStatus(hold.status), replayed=True)
    _settle(session, hold, HoldStatus.RELEASED, now or utcnow())
    return ReleaseResult(hold_id, HoldStatus.RELEASED, replayed=False)


def release_all(session: Session, *, user_id: uuid.UUID) -> int:
    """Release every active hold of one user (their account is being deleted): the work
    they reserved for can no longer be paid for. Returns how many were released."""
    active = session.scalars(
        select(col(Hold.id))
        .where(col(Hold.user_id) == user_id, col(Hold.status) == HoldStatus.ACTIVE)
        .order_by(col(Hold.id))
    ).all()
    released = 0
    for hold_id in active:
        assert hold_id is not None  # a primary key read from the table
        released += not release(session, user_id=user_id, hold_id=hold_id).replayed
    return released


def expire_stale(
    session: Session, *, now: datetime | None = None, user_id: uuid.UUID | None = None
) -> int:
    """Release every active hold past its expiry (optionally one user's). Safe to run
    concurrently and repeatedly: each hold is re-checked under its user's lock, and one
    that another run (or a capture) settled first is skipped. Returns how many expired."""
    statement = select(col(Hold.id), col(Hold.user_id)).where(
        col(Hold.status) == HoldStatus.ACTIVE, col(Hold.expires_at) <= (now or utcnow())
    )
    if user_id is not None:
        statement = statement.where(col(Hold.user_id) == user_id)
    expired = 0
    for hold_id, owner in session.execute(statement.order_by(col(Hold.id))).all():
        assert hold_id is not None  # a primary key read from the table
        hold = _locked_hold(session, owner, hold_id)
        if hold.status == HoldStatus.ACTIVE:
            _settle(session, hold, HoldStatus.EXPIRED, now or utcnow())
            expired += 1
    return expired


def _settle(session: Session, hold: Hold, status: HoldStatus, now: datetime) -> None:
    assert hold.id is not None  # loaded from the database
    _lower_held(session, hold.user_id, hold.amount)
    hold.status, hold.settled_at = status, now
    session.flush()
    give_back_to_limit(session, user_id=hold.user_id, amount=hold.amount, used_at=hold.created_at)
    release_pins(session, user_id=hold.user_id, hold_id=hold.id, now=now)


def _locked_hold(session: Session, user_id: uuid.UUID, hold_id: int) -> Hold:
    # Lock order user -> hold everywhere, so capture/release/expire cannot deadlock.
    locked_user = session.scalar(
        select(col(User.id)).where(col(User.id) == user_id).with_for_update()
    )
    if locked_user is None:
        raise UnknownUser(user_id)
    hold = session.scalar(
        select(Hold).where(col(Hold.id) == hold_id, col(Hold.user_id) == user_id).with_for_update()
    )
    if hold is None:
        raise HoldNotActive(hold_id, "unknown")
    return hold


def _hold_by_key(session: Session, key: str) -> Hold | None:
    return session.scalar(select(Hold).where(col(Hold.idempotency_key) == key))


def _hold_result(hold: Hold, *, replayed: bool) -> HoldResult:
    assert hold.id is not None  # loaded from the database
    return HoldResult(hold.id, hold.amount, HoldStatus(hold.status), hold.expires_at, replayed)
