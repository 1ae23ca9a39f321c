"""Reusable Reflex components. No SQL, no Stripe."""
