"""The credit ledger service. Needs nothing but a database session; never imports Reflex."""

from credit_app.credits.errors import (
    CreditError,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidAmount,
    UnknownUser,
)
from credit_app.credits.ledger import (
    ClawbackResult,
    LedgerResult,
    available,
    balance,
    clawback,
    grant,
    recent_entries,
    spend,
)
from credit_app.credits.reconcile import Drift, HoldDrift, find_drift, find_hold_drift

__all__ = [
    "ClawbackResult",
    "CreditError",
    "Drift",
    "HoldDrift",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InvalidAmount",
    "LedgerResult",
    "UnknownUser",
    "available",
    "balance",
    "clawback",
    "find_drift",
    "find_hold_drift",
    "grant",
    "recent_entries",
    "spend",
]
