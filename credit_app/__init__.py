"""Credits and subscriptions: a Reflex app over a ledger service."""

from credit_app.outbound import ledger_events


def install() -> None:
    """Queue the ledger's webhook events in the transaction that writes its entries.

    Here, at the package's import, because every process that writes the ledger (the app,
    its workers, `credit-app`, tests, scripts) imports credit_app first: installed anywhere
    later, a process that skipped that place would commit balance changes whose events
    are never sent. Installing twice changes nothing."""
    ledger_events.install()


install()
