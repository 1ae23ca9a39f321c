"""An operator adds or removes credits: one ADJUST ledger entry and its audit row, in one
transaction.

The customer's ledger reads "Adjusted by support"; the reason and who acted live only in
the audit row. A deduction never goes below what is available (the balance minus what
running tools hold): asked for more, it is refused with the numbers, unless the operator
chose to take what is available, and the rest is said as the shortfall.

    preview(session, user_id=, delta=)                      -> Preview (before/after)
    adjust_credits(session, actor=, user_id=, delta=, reason=, key=, expires_at=,
                   take_available=)                          -> Adjusted
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from credit_app import clock, credits
from credit_app.admin import audit
from credit_app.credits import keys, policy
from credit_app.models import GrantSource, User

# The most one adjustment may move, either way (a typo's extra zeros stop here).
MAX_ADJUSTMENT = 1_000_000


class AdjustRefused(Exception):
    """The adjustment was not made; the message says why, for the operator."""


@dataclass(frozen=True)
class Preview:
    """What an adjustment would do, for the confirmation step."""

    balance_before: int
    available: int
    # What would actually move (a deduction of more than is available moves `available`
    # when the operator chooses "deduct what is available").
    delta: int
    balance_after: int
    # Credits asked for that are not available to deduct (0 for a grant).
    shortfall: int


@dataclass(frozen=True)
class Adjusted:
    entry_id: int
    delta: int
    balance_before: int
    balance_after: int
    replayed: bool


def check_reason(reason: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise AdjustRefused("Give a reason: it is kept in the audit log.")
    if len(text) > audit.REASON_MAX:
        raise AdjustRefused(f"Keep the reason under {audit.REASON_MAX} characters.")
    return text


def _check_delta(delta: int) -> None:
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise AdjustRefused("Enter a whole number of credits other than 0.")
    if abs(delta) > MAX_ADJUSTMENT:
        raise AdjustRefused(f"One adjustment moves at most {MAX_ADJUSTMENT:,} credits.")


def preview(
    session: Session,
    *,
    user_id: uuid.UUID,
    delta: int,
    take_available: bool = False,
    now: datetime | None = None,
) -> Preview:
    """What the adjustment would do now. Credits past their date whose expiry is not
    written yet are not available (the deduction would expire them first)."""
    _check_delta(delta)
    row = session.execute(
        select(col(User.credits), col(User.held)).where(
            col(User.id) == user_id, col(User.deleted_at).is_(None)
        )
    ).first()
    if row is None:
        raise AdjustRefused("No such customer (or the account was deleted).")
    expiring = credits.past_due(session, user_id=user_id, now=now or clock.now())
    available = row.credits - row.held - expiring
    moved = delta
    shortfall = 0
    if delta < 0 and -delta > available:
        shortfall = -delta - available
        moved = -available if take_available else delta
    return Preview(
        balance_before=row.credits,
        available=available,
        delta=moved,
        balance_after=row.credits + moved,
        shortfall=shortfall,
    )


def adjust_credits(
    session: Session,
    *,
    actor: audit.Actor,
    user_id: uuid.UUID,
    delta: int,
    reason: str,
    key: str,
    expires_at: datetime | None = None,
    take_available: bool = False,
    now: datetime,
) -> Adjusted:
    """Add (`delta` > 0) or remove credits, with the audit row. A grant's credits expire
    at `expires_at` (promotional credits) or by the operator-grant policy (plans.toml
    [grants]). `key` makes it idempotent (keys.admin_grant): repeated, nothing moves and
    no second audit row is written."""
    reason = check_reason(reason)
    seen = credits.entry_delta(session, key=key)
    if seen is not None:
        # A repeat (a second click on "Confirm"): the ledger answers from the first entry
        # (IdempotencyConflict if the key was another customer's).
        first = credits.adjust(
            session, user_id=user_id, delta=seen, idempotency_key=key, description=None
        )
        before = first.balance_after - first.delta
        return Adjusted(first.entry_id, first.delta, before, first.balance_after, True)
    if delta < 0:
        # Under the user's row lock, with lots past their date expired: the numbers the
        # deduction is planned on are the ones it will meet.
        try:
            credits.expire_past_due(session, user_id=user_id, now=now)
        except credits.UnknownUser:
            raise AdjustRefused("No such customer (or the account was deleted).") from None
    planned = preview(session, user_id=user_id, delta=delta, take_available=take_available, now=now)
    if planned.delta == 0:
        raise AdjustRefused("Nothing is available to deduct.")
    if planned.shortfall and not take_available:
        raise AdjustRefused(
            f"Only {planned.available:,} credits are available to deduct "
            f"({planned.shortfall:,} short). Deduct what is available instead?"
        )
    if expires_at is not None and expires_at <= now:
        raise AdjustRefused("The expiry date must be in the future.")
    grant = planned.delta > 0
    terms = (
        credits.LotTerms(expires_at=expires_at)
        if expires_at is not None
        else policy.admin_terms(now)
    )
    try:
        result = credits.adjust(
            session,
            user_id=user_id,
            delta=planned.delta,
            idempotency_key=key,
            description=None,
            source=GrantSource.PROMO if expires_at is not None else GrantSource.ADMIN,
            terms=terms,
            now=now,
        )
    except credits.InsufficientCredits as exc:
        # Taken meanwhile by a spend between the preview and this row lock.
        raise AdjustRefused(
            f"Only {exc.available:,} credits are available to deduct now. Try again."
        ) from None
    before = result.balance_after - result.delta
    audit.record(
        session,
        actor=actor,
        action=audit.Action.GRANT if grant else audit.Action.DEDUCT,
        target_user_id=user_id,
        target_ref=f"entry:{result.entry_id}",
        before={"balance": before},
        after={
            "balance": result.balance_after,
            "delta": result.delta,
            **({"expires_at": expires_at.isoformat()} if grant and expires_at else {}),
            **({"shortfall": planned.shortfall} if planned.shortfall else {}),
        },
        reason=reason,
        now=now,
    )
    return Adjusted(result.entry_id, result.delta, before, result.balance_after, False)


def new_key() -> str:
    """The key of one adjustment, drawn when its confirmation opens."""
    return keys.admin_grant()
