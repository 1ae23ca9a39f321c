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
    balance,
    clawback,
    grant,
    recent_entries,
    spend,
)
from credit_app.credits.reconcile import Drift, find_drift

__all__ = [
    "ClawbackResult",
    "CreditError",
    "Drift",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InvalidAmount",
    "LedgerResult",
    "UnknownUser",
    "balance",
    "clawback",
    "find_drift",
    "grant",
    "recent_entries",
    "spend",
]
