"""The credit ledger service: the only code that changes a balance. Start here.

Needs nothing but a database session; never imports Reflex. Every function takes a
SQLModel `session` (keyword arguments after it) and works inside the caller's transaction:
the caller owns the commit (`db.session_scope()`, or `db.in_transaction()` from async
code), so a balance change can join other writes and a failure leaves nothing behind.

Changing balances (each call is keyed; see `keys` for every key format):
    grant(session, user_id=, amount=, idempotency_key=, source=)           -> LedgerResult
    spend(session, user_id=, amount=, idempotency_key=, feature=)          -> LedgerResult
    refund(session, user_id=, amount=, idempotency_key=, feature=)         -> LedgerResult
    clawback(session, user_id=, amount=, idempotency_key=, description=)   -> ClawbackResult
    adjust(session, user_id=, delta=, idempotency_key=, description=)      -> LedgerResult
        (an operator's correction, + or -; never below what is available)
    forfeit(session, user_id=, idempotency_key=, description=)             -> LedgerResult | None
        (the whole balance, when the account is deleted; keys.account_forfeit)
    expire_lots(now=, engine=)        -> (users, credits): every lot past its date
Grants take `terms=LotTerms(expires_at=, rollover_max=, rollover_until=)` (default: never
expires); spends draw from lots in the burn order (see `lots`); spends and holds refuse
with SpendingLimitReached (an InsufficientCredits) past the person's monthly limit.
Holds, for long work (they change what is available, not the balance, until captured):
    reserve(session, user_id=, amount=, idempotency_key=, feature=)        -> HoldResult
    capture(session, user_id=, hold_id=, amount=, description=)            -> CaptureResult
    release(session, user_id=, hold_id=)                                   -> ReleaseResult
    release_all(session, user_id=)                                         -> count released
    expire_stale(session)                                                  -> count released
The charging guard, the one way a premium tool pays (async; its own transactions):
    await run_charged(user_id=, feature=, cost=, action_key=, description=, work=)
                                                                           -> Charged
Reading: balance, available (balance minus active holds), recent_entries; by key, for
callers that key their own changes (billing's take-backs): entry_delta(session, key=),
net_taken_under(session, prefix=); invariant checks: find_drift, find_hold_drift
(`credit-app reconcile`).

This package is the ledger's public API: code outside credit_app.credits imports it, and
of its modules only `keys`, `usage`, `tool_runs`, `upkeep`, `lot_views`, `limits` and
`policy` (the import-linter contract "Outside code uses the ledger's public API" in
pyproject.toml).

One vocabulary: every result has `replayed`, True when the call repeated an earlier one
(the same idempotency key, the same hold) and changed nothing; it answers as the first
call did. Errors are all `CreditError`s (see `errors`): InsufficientCredits, InvalidAmount,
UnknownUser, IdempotencyConflict (a key reused for a different change), HoldNotActive,
InvalidCapture, HoldsStillActive (a forfeit while credits are held).
"""

from credit_app.credits import keys
from credit_app.credits.charging import Charged, run_charged
from credit_app.credits.errors import (
    CreditError,
    HoldNotActive,
    HoldsStillActive,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidAmount,
    InvalidCapture,
    SpendingLimitReached,
    UnknownUser,
)
from credit_app.credits.expiry import expire_lots
from credit_app.credits.holds import (
    CaptureResult,
    HoldResult,
    ReleaseResult,
    capture,
    expire_stale,
    release,
    release_all,
    reserve,
)
from credit_app.credits.ledger import (
    ClawbackResult,
    LedgerResult,
    adjust,
    available,
    balance,
    cancel_shortfall,
    check_amount,
    clawback,
    entries_written,
    entry_delta,
    expire_past_due,
    forfeit,
    grant,
    net_taken_under,
    past_due,
    recent_entries,
    refund,
    spend,
)
from credit_app.credits.lots import NEVER_EXPIRES, LotTerms
from credit_app.credits.reconcile import (
    Drift,
    HoldDrift,
    LotDrift,
    find_drift,
    find_hold_drift,
    find_lot_drift,
)

__all__ = [
    "NEVER_EXPIRES",
    "CaptureResult",
    "Charged",
    "ClawbackResult",
    "CreditError",
    "Drift",
    "HoldDrift",
    "HoldNotActive",
    "HoldResult",
    "HoldsStillActive",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InvalidAmount",
    "InvalidCapture",
    "LedgerResult",
    "LotDrift",
    "LotTerms",
    "ReleaseResult",
    "SpendingLimitReached",
    "UnknownUser",
    "adjust",
    "available",
    "balance",
    "cancel_shortfall",
    "capture",
    "check_amount",
    "clawback",
    "entries_written",
    "entry_delta",
    "expire_lots",
    "expire_past_due",
    "expire_stale",
    "find_drift",
    "find_hold_drift",
    "find_lot_drift",
    "forfeit",
    "grant",
    "keys",
    "net_taken_under",
    "past_due",
    "recent_entries",
    "refund",
    "release",
    "release_all",
    "reserve",
    "run_charged",
    "spend",
]
