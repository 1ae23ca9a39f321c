"""Holds: reserve credits before long work, then capture what it cost or release them.

A hold does not change the balance: it raises `users.held`, and spending checks
`credits - held`. Capture turns (part of) a hold into a ledger spend; release and expiry
just lower `held`. Every step locks the user's row through a conditional UPDATE, like the
ledger, so holds and spends never overdraw each other, on SQLite and PostgreSQL.
An expired hold releases itself: when its user next reserves credits, every minute in the
app (state/background.py), and with `credit-app expire`.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session

from credit_app.credits import keys
from credit_app.credits.errors import CreditError, InsufficientCredits, UnknownUser
from credit_app.credits.ledger import LedgerResult, _apply, _check_amount, available
from credit_app.db import insert_unless_exists
from credit_app.models import EntryKind, Hold, HoldStatus, User, utcnow

DEFAULT_HOLD_TTL = timedelta(minutes=10)


class HoldNotActive(CreditError):
    def __init__(self, hold_id: int, status: str) -> None:
        super().__init__(f"hold {hold_id} is {status}, not active")
        self.hold_id = hold_id
        self.status = status


@dataclass(frozen=True)
class HoldResult:
    hold_id: int
    amount: int
    status: str
    expires_at: datetime
    replayed: bool


def _change_held(session: Session, user_id: uuid.UUID, by: int) -> int | None:
    """Raise (by > 0, only if available) or lower `held`; returns the new value or None."""
    condition = User.credits - User.held >= by if by > 0 else User.held + by >= 0
    return session.scalar(
        update(User)
        .where(User.id == user_id, condition)
        .values(held=User.held + by)
        .returning(User.held)
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
    _check_amount(amount)
    now = now or utcnow()
    if _change_held(session, user_id, amount) is None:
        if (existing := _hold_by_key(session, idempotency_key)) is not None:
            return _hold_result(existing, replayed=True)
        # Stale holds of this user may be what is in the way: let them go, try once more.
        if not expire_stale(session, now=now, user_id=user_id) or (
            _change_held(session, user_id, amount) is None
        ):
            raise InsufficientCredits(
                required=amount, available=available(session, user_id=user_id)
            )
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
        .returning(Hold.id)
    )
    if hold_id is None:  # the key was used before: undo the reservation, answer as before
        _change_held(session, user_id, -amount)
        return _hold_result(_hold_by_key(session, idempotency_key), replayed=True)
    return HoldResult(hold_id, amount, HoldStatus.ACTIVE, now + ttl, replayed=False)


def capture(
    session: Session, *, user_id: uuid.UUID, hold_id: int, amount: int, description: str
) -> LedgerResult | None:
    """Spend `amount` (0..held) of an active hold and release the rest. Returns the spend
    (None for a zero capture). Capturing an already captured hold returns its spend."""
    hold = _locked_hold(session, user_id, hold_id)
    key = keys.hold_capture(hold.id)
    if hold.status == HoldStatus.CAPTURED:
        return _capture_entry(session, key, hold, description)
    if hold.status != HoldStatus.ACTIVE:
        raise HoldNotActive(hold.id, hold.status)
    if not 0 <= amount <= hold.amount:
        raise ValueError(f"capture must be between 0 and the held {hold.amount}, got {amount}")
    _change_held(session, user_id, -hold.amount)
    hold.status, hold.captured, hold.settled_at = HoldStatus.CAPTURED, amount, utcnow()
    session.flush()
    return _capture_entry(session, key, hold, description)


def _capture_entry(session, key, hold, description) -> LedgerResult | None:
    if hold.captured == 0:
        return None
    return _apply(
        session,
        user_id=hold.user_id,
        delta=-hold.captured,
        kind=EntryKind.CAPTURE,
        idempotency_key=key,
        feature=hold.feature,
        description=description,
    )


def release(session: Session, *, user_id: uuid.UUID, hold_id: int) -> str:
    """Give the held credits back untouched. Releasing twice is harmless."""
    hold = _locked_hold(session, user_id, hold_id)
    if hold.status == HoldStatus.ACTIVE:
        _settle(session, hold, HoldStatus.RELEASED)
    return hold.status


def expire_stale(
    session: Session, *, now: datetime | None = None, user_id: uuid.UUID | None = None
) -> int:
    """Release every active hold past its expiry (optionally one user's). Safe to run
    concurrently and repeatedly: each hold is re-checked under its user's lock, and one
    that another run (or a capture) settled first is skipped."""
    statement = select(Hold.id, Hold.user_id).where(
        Hold.status == HoldStatus.ACTIVE, Hold.expires_at <= (now or utcnow())
    )
    if user_id is not None:
        statement = statement.where(Hold.user_id == user_id)
    expired = 0
    for hold_id, owner in session.execute(statement.order_by(Hold.id)).all():
        hold = _locked_hold(session, owner, hold_id)
        if hold.status == HoldStatus.ACTIVE:
            _settle(session, hold, HoldStatus.EXPIRED)
            expired += 1
    return expired


def _settle(session: Session, hold: Hold, status: HoldStatus) -> None:
    _change_held(session, hold.user_id, -hold.amount)
    hold.status, hold.settled_at = status, utcnow()
    session.flush()


def _locked_hold(session: Session, user_id: uuid.UUID, hold_id: int) -> Hold:
    # Lock order user -> hold everywhere, so capture/release/expire cannot deadlock.
    if session.scalar(select(User.id).where(User.id == user_id).with_for_update()) is None:
        raise UnknownUser(user_id)
    hold = session.scalar(
        select(Hold).where(Hold.id == hold_id, Hold.user_id == user_id).with_for_update()
    )
    if hold is None:
        raise HoldNotActive(hold_id, "unknown")
    return hold


def _hold_by_key(session: Session, key: str) -> Hold | None:
    return session.scalar(select(Hold).where(Hold.idempotency_key == key))


def _hold_result(hold: Hold, *, replayed: bool) -> HoldResult:
    return HoldResult(hold.id, hold.amount, hold.status, hold.expires_at, replayed)
