"""Credits and subscriptions: a Reflex app over a ledger service."""
