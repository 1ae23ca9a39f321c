"""What a person's credit lots look like from outside the ledger: read-only views for pages.

    balance_by_lot(session, user_id=, now=)          -> [LotGroup]: the balance split by
        kind and expiry date ("1,000 plan credits, expire Dec 26 · 500 pack credits, never
        expire"), in the burn order (what a spend uses first comes first)
    expiring_soon(session, user_id=, now=, within=)  -> [LotGroup]: free credits whose
        date falls within `within` (3 days) of `now`, soonest first
    paid_from(session, user_id=, entry_id=)          -> [LotGroup] | None: which lots paid
        for one ledger entry (a spend, a capture, an expiry ...); None when the entry is
        not that user's (or does not exist), so a page never shows another person's lots

Each only reads, in the caller's session (no locks; a page's numbers, not a decision). A
lot is live while it has credits left and its date has not come (`expires_at > now`, the
ledger's own rule: a lot expiring exactly at `now` is expired). Part of the ledger's
public API (the import-linter contract in pyproject.toml lets outside code import it).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from credit_app.credits import lots
from credit_app.models import CreditLot, LedgerEntry, LotAllocation

EXPIRING_SOON = timedelta(days=3)
_NEVER = datetime.max.replace(tzinfo=UTC)  # sorts a lot that never expires last


@dataclass(frozen=True)
class LotGroup:
    """Credits of one kind (a models.GrantSource value) and one expiry date (None: never)."""

    source: str
    expires_at: datetime | None
    credits: int
    # The part pinned by running work (active holds): in the balance, not spendable now.
    held: int = 0

    @property
    def available(self) -> int:
        return self.credits - self.held


def _ordered(groups: dict[tuple[str, datetime | None], list[int]]) -> list[LotGroup]:
    """Groups in the burn order: soonest date first (never-expiring last), then the lots'
    burn rank (lots.PRIORITY), then the source's name, for a stable order."""
    keyed = sorted(
        groups.items(),
        key=lambda item: (
            item[0][1] is None,
            item[0][1] or _NEVER,
            lots.PRIORITY.get(item[0][0], 0),
            item[0][0],
        ),
    )
    return [
        LotGroup(source=source, expires_at=expires, credits=nums[0], held=nums[1])
        for (source, expires), nums in keyed
    ]


def _live(user_id: uuid.UUID, now: datetime):
    expires = col(CreditLot.expires_at)
    return (
        col(CreditLot.user_id) == user_id,
        col(CreditLot.remaining) > 0,
        expires.is_(None) | (expires > now),
    )


def balance_by_lot(session: Session, *, user_id: uuid.UUID, now: datetime) -> list[LotGroup]:
    """The user's live credits grouped by (source, expiry date), in the burn order."""
    rows = session.execute(
        select(
            col(CreditLot.source),
            col(CreditLot.expires_at),
            func.sum(col(CreditLot.remaining)),
            func.sum(col(CreditLot.reserved)),
        )
        .where(*_live(user_id, now))
        .group_by(col(CreditLot.source), col(CreditLot.expires_at))
    ).all()
    groups: dict[tuple[str, datetime | None], list[int]] = {}
    for source, expires, remaining, reserved in rows:
        total = groups.setdefault((source, expires), [0, 0])
        total[0] += int(remaining or 0)
        total[1] += int(reserved or 0)
    return _ordered(groups)


def expiring_soon(
    session: Session,
    *,
    user_id: uuid.UUID,
    now: datetime,
    within: timedelta = EXPIRING_SOON,
) -> list[LotGroup]:
    """Free (not pinned) credits whose date is after `now` and at most `within` away,
    grouped by (source, date), soonest first. Pinned credits are left out: they are paying
    for running work, so they do not expire with their lot (credits.lots)."""
    expires = col(CreditLot.expires_at)
    free = col(CreditLot.remaining) - col(CreditLot.reserved)
    rows = session.execute(
        select(col(CreditLot.source), expires, func.sum(free))
        .where(
            col(CreditLot.user_id) == user_id,
            free > 0,
            expires.is_not(None),
            expires > now,
            expires <= now + within,
        )
        .group_by(col(CreditLot.source), expires)
    ).all()
    groups: dict[tuple[str, datetime | None], list[int]] = {}
    for source, when, credits in rows:
        groups.setdefault((source, when), [0, 0])[0] += int(credits or 0)
    return _ordered(groups)


def paid_from(session: Session, *, user_id: uuid.UUID, entry_id: int) -> list[LotGroup] | None:
    """Which lots the credits of ledger entry `entry_id` left, grouped by (source, date) in
    the burn order; [] for an entry that took from no lot (one from before lots, or one
    that added credits). None unless the entry exists and belongs to `user_id`."""
    owner = session.scalar(select(col(LedgerEntry.user_id)).where(col(LedgerEntry.id) == entry_id))
    if owner is None or owner != user_id:
        return None
    rows = session.execute(
        select(
            col(CreditLot.source),
            col(CreditLot.expires_at),
            func.sum(col(LotAllocation.credits)),
        )
        .join(CreditLot, col(CreditLot.id) == col(LotAllocation.lot_id))
        .where(
            col(LotAllocation.entry_id) == entry_id,
            # Both sides are the owner's; checked again so a bad row can never leak.
            col(LotAllocation.user_id) == user_id,
            col(CreditLot.user_id) == user_id,
        )
        .group_by(col(CreditLot.source), col(CreditLot.expires_at))
    ).all()
    groups: dict[tuple[str, datetime | None], list[int]] = {}
    for source, expires, credits in rows:
        groups.setdefault((source, expires), [0, 0])[0] += int(credits or 0)
    return _ordered(groups)
