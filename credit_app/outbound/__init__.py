"""Outgoing webhooks (being built)."""
