"""Accounts, passwords and server-side sessions. Never imports Reflex."""
