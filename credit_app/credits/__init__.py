"""The credit ledger service. Needs nothing but a database session; never imports Reflex."""

from credit_app.credits.errors import (
    CreditError,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidAmount,
    UnknownUser,
)
from credit_app.credits.ledger import LedgerResult, balance, grant, recent_entries, spend
from credit_app.credits.reconcile import Drift, find_drift

__all__ = [
    "CreditError",
    "Drift",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InvalidAmount",
    "LedgerResult",
    "UnknownUser",
    "balance",
    "find_drift",
    "grant",
    "recent_entries",
    "spend",
]
