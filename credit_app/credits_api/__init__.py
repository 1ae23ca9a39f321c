"""The credits API's use cases: what `/api/v1` (credit_app.api.v1) and the account page's
"API keys" and "Webhooks" sections do. Each module is one job:

    keys       a customer's own API keys (issued once, revoked at once), audited
    webhooks   a customer's webhook endpoints, their delivery log and resends, audited
    requests   idempotent requests: the first answer stored, repeats answered from it
    operations balance, spend, holds and the ledger for one acting key

Credits move only through credit_app.credits, in the caller's one transaction; this package
adds who may act for whom and the API's own bookkeeping. Never imports Reflex.
"""
