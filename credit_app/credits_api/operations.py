"""What a credits API key may do with credits: read the balance and the ledger, spend,
reserve, capture and release, each for the one account the key acts for, in the
caller's transaction (credits move only through credit_app.credits).

    user_id = acting_user(access, named=body.user_id, spending=True)
    balance(session, user_id=, now=)                                   -> Balance
    spend(session, user_id=, amount=, feature=, description=, key=, now=)  -> Spent
    reserve(session, user_id=, amount=, feature=, key=, now=)          -> Reserved
    capture(session, user_id=, hold_id=, amount=, description=, now=)  -> Captured
    release(session, user_id=, hold_id=, now=)                         -> Released
    ledger_page(session, user_id=, limit=, before=, kinds=, feature=)  -> LedgerPage

Who acts for whom (`acting_user`): a user key acts as its owner only, and naming anyone
else is refused, never acted on (NotPermitted); a service key (the operator's backend)
must name the account in every call (UserRequired); a read key never moves credits
(NotPermitted). Every call then checks the account is there and not deleted
(NoSuchAccount), in its own transaction. Spending needs a verified address when the app
requires one (auth.verification), as in the app's pages.

The ledger's refusals pass through as they are (credits.InsufficientCredits, its
SpendingLimitReached, HoldNotActive, InvalidCapture); a hold that is not this account's
is NoSuchHold, the same as one that does not exist, so no key learns another's hold ids.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from credit_app import credits
from credit_app.auth import verification
from credit_app.auth.api_keys import KeyAccess
from credit_app.credits import keys, lot_views
from credit_app.credits.lot_views import LotGroup
from credit_app.models import EntryKind, Hold, HoldStatus, LedgerEntry, User

__all__ = [
    "READ_ONLY",
    "Balance",
    "Captured",
    "LedgerPage",
    "LotGroup",
    "NoSuchAccount",
    "NoSuchHold",
    "NotPermitted",
    "Released",
    "Reserved",
    "Spent",
    "UserRequired",
    "acting_user",
    "balance",
    "capture",
    "ledger_page",
    "release",
    "reserve",
    "spend",
]


class UserRequired(ValueError):
    """A service key called without naming the account it acts for."""

    def __init__(self) -> None:
        super().__init__("a service key must name the account: user_id")


class NotPermitted(Exception):
    """The key may not do this (a read key spending, a user key naming another account,
    an account whose address must be verified first); the message says which."""


READ_ONLY = "This key may only read: spending needs a key with the spend scope."


class NoSuchAccount(LookupError):
    """No live account with this id (never created, or deleted)."""

    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__(f"no account {user_id}")
        self.user_id = user_id


class NoSuchHold(LookupError):
    """No hold with this id belongs to the account."""

    def __init__(self, hold_id: int) -> None:
        super().__init__(f"no hold {hold_id}")
        self.hold_id = hold_id


@dataclass(frozen=True)
class Balance:
    user_id: uuid.UUID
    balance: int
    available: int
    lots: list[LotGroup]  # in the burn order (lot_views.balance_by_lot)

    @property
    def held(self) -> int:
        return self.balance - self.available


@dataclass(frozen=True)
class Spent:
    entry_id: int
    user_id: uuid.UUID
    amount: int
    balance: int
    available: int


@dataclass(frozen=True)
class Reserved:
    hold_id: int
    user_id: uuid.UUID
    amount: int
    available: int
    expires_at: datetime


@dataclass(frozen=True)
class Captured:
    hold_id: int
    user_id: uuid.UUID
    captured: int
    released: int  # what the hold reserved and did not spend, given back
    entry_id: int | None  # the CAPTURE entry; None for a hold captured with 0 (by a page)
    balance: int
    available: int


@dataclass(frozen=True)
class Released:
    hold_id: int
    user_id: uuid.UUID
    released: int
    available: int


@dataclass(frozen=True)
class LedgerPage:
    entries: list[LedgerEntry]  # newest first
    # The id to page on from (`before=`) for the next page; None: this is the last.
    next_before: int | None


def acting_user(access: KeyAccess, *, named: uuid.UUID | None, spending: bool) -> uuid.UUID:
    """The account a call with this key acts for; see the module doc."""
    if spending and not access.may_spend:
        raise NotPermitted(READ_ONLY)
    if access.user_id is None:
        if named is None:
            raise UserRequired()
        return named
    if named is not None and named != access.user_id:
        raise NotPermitted("A user's key acts for its own account only.")
    return access.user_id


def _live_account(session: Session, user_id: uuid.UUID) -> None:
    found = session.scalar(
        select(col(User.id)).where(col(User.id) == user_id, col(User.deleted_at).is_(None))
    )
    if found is None:
        raise NoSuchAccount(user_id)


def _may_spend(session: Session, user_id: uuid.UUID) -> None:
    _live_account(session, user_id)
    if not verification.may_spend(session, user_id):
        raise NotPermitted("The account's e-mail address must be verified before it spends.")


def balance(session: Session, *, user_id: uuid.UUID, now: datetime) -> Balance:
    """The balance, what is available and the live lots, read together (call it in one
    read transaction so the numbers agree)."""
    _live_account(session, user_id)
    return Balance(
        user_id=user_id,
        balance=credits.balance(session, user_id=user_id),
        available=credits.available(session, user_id=user_id),
        lots=lot_views.balance_by_lot(session, user_id=user_id, now=now),
    )


def spend(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    feature: str,
    description: str | None,
    key: str,
    now: datetime,
) -> Spent:
    """Spend through the ledger under the request's ledger key (keys.api_request)."""
    _may_spend(session, user_id)
    done = credits.spend(
        session,
        user_id=user_id,
        amount=amount,
        idempotency_key=key,
        feature=feature,
        description=description,
        now=now,
    )
    return Spent(
        entry_id=done.entry_id,
        user_id=user_id,
        amount=-done.delta,
        balance=done.balance_after,
        available=credits.available(session, user_id=user_id),
    )


def reserve(
    session: Session, *, user_id: uuid.UUID, amount: int, feature: str, key: str, now: datetime
) -> Reserved:
    _may_spend(session, user_id)
    hold = credits.reserve(
        session, user_id=user_id, amount=amount, idempotency_key=key, feature=feature, now=now
    )
    return Reserved(
        hold_id=hold.hold_id,
        user_id=user_id,
        amount=hold.amount,
        available=credits.available(session, user_id=user_id),
        expires_at=hold.expires_at,
    )


def _held(session: Session, user_id: uuid.UUID, hold_id: int, scope: str) -> int:
    """What the account's hold reserved; NoSuchHold when it is not theirs (or not there),
    or was not made through the API by this scope's keys: a hold a premium tool holds
    while it runs is the tool's to settle, and capturing it early for less would let the
    tool's own capture be taken for a replay."""
    _live_account(session, user_id)
    amount = session.scalar(
        select(col(Hold.amount)).where(
            col(Hold.id) == hold_id,
            col(Hold.user_id) == user_id,
            col(Hold.idempotency_key).startswith(keys.api_requests_of(scope), autoescape=True),
        )
    )
    if amount is None:
        raise NoSuchHold(hold_id)
    return amount


def capture(
    session: Session,
    *,
    user_id: uuid.UUID,
    hold_id: int,
    amount: int | None,
    description: str | None,
    scope: str,
    now: datetime,
) -> Captured:
    """Spend `amount` of the hold (None: all of it) and give the rest back. Capturing a
    captured hold again with the same amount answers as the first capture did (a retry);
    with another amount it is HoldNotActive, like a released or expired hold."""
    held = _held(session, user_id, hold_id, scope)
    wanted = held if amount is None else amount
    done = credits.capture(
        session,
        user_id=user_id,
        hold_id=hold_id,
        amount=wanted,
        description=description or "",
        now=now,
    )
    return Captured(
        hold_id=hold_id,
        user_id=user_id,
        captured=done.captured,
        released=held - done.captured,
        entry_id=done.entry_id,
        balance=done.balance_after,
        available=credits.available(session, user_id=user_id),
    )


def release(
    session: Session, *, user_id: uuid.UUID, hold_id: int, scope: str, now: datetime
) -> Released:
    """Give the whole hold back. Releasing a released hold again answers the same (a
    retry); a captured or expired hold is HoldNotActive."""
    held = _held(session, user_id, hold_id, scope)
    done = credits.release(session, user_id=user_id, hold_id=hold_id, now=now)
    if done.status != HoldStatus.RELEASED:
        raise credits.HoldNotActive(hold_id, done.status)
    return Released(
        hold_id=hold_id,
        user_id=user_id,
        released=held,
        available=credits.available(session, user_id=user_id),
    )


def ledger_page(
    session: Session,
    *,
    user_id: uuid.UUID,
    limit: int,
    before: int | None = None,
    kinds: tuple[EntryKind, ...] = (),
    feature: str | None = None,
) -> LedgerPage:
    """Up to `limit` of the account's entries with ids below `before` (None: the newest),
    newest first, filtered like /usage (kinds: any of them, () any; feature: the tool).
    Paging by id (the (user_id, id) index) never skips or repeats an entry, however many
    are written meanwhile."""
    _live_account(session, user_id)
    statement = select(LedgerEntry).where(col(LedgerEntry.user_id) == user_id)
    if before is not None:
        statement = statement.where(col(LedgerEntry.id) < before)
    if kinds:
        statement = statement.where(col(LedgerEntry.kind).in_(kinds))
    if feature is not None:
        statement = statement.where(col(LedgerEntry.feature) == feature)
    rows = list(session.scalars(statement.order_by(col(LedgerEntry.id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    entries = rows[:limit]
    return LedgerPage(entries=entries, next_before=entries[-1].id if more else None)
