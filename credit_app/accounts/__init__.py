"""Use cases that span the services: they need billing and auth (which know nothing of each
other) and the ledger together. Confirming an e-mail change (auth changes the address,
billing updates the Stripe customer), exporting a person's data, deleting an account.

Above billing and auth, below the HTTP routes and the Reflex state; never imports Reflex.
"""
