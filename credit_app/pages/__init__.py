"""Pages: Reflex components only. No SQL, no Stripe."""
