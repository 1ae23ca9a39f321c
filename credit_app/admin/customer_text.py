"""`credit-app customer EMAIL`: the customer page as lines of text."""

from collections.abc import Iterator, Sequence

from credit_app import wording
from credit_app.admin.customers import CustomerView
from credit_app.models import LedgerEntry


def printable(text: object) -> str:
    """`text` safe for an operator's terminal: a customer's name or an admin's reason may
    hold control characters (an escape sequence could rewrite the screen), shown as "?"."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def lines(view: CustomerView, recent: Sequence[LedgerEntry]) -> Iterator[str]:
    """The page's lines, each made printable."""
    for line in _lines(view, recent):
        yield printable(line)


def _lines(view: CustomerView, recent: Sequence[LedgerEntry]) -> Iterator[str]:
    yield f"{view.email}  {view.name or '(no name)'}  id {view.user_id}"
    state = "deleted" if view.deleted else ("verified" if view.email_verified else "unverified")
    yield (
        f"role {view.role}, {state}, joined {_when(view.created_at)}, "
        f"zone {view.time_zone or 'unknown'}, Stripe customer {view.stripe_customer_id or '-'}"
    )
    yield (
        f"balance {wording.count(view.credits)} ({wording.count(view.available)} available, "
        f"{wording.count(view.held)} held); last activity {_when(view.last_activity_at)}"
    )
    for lot in view.lots:
        day = f"{lot.expires_at:%Y-%m-%d}" if lot.expires_at else ""
        yield (
            f"  {wording.count(lot.credits)} {wording.lot_word(lot.source, lot.credits)}, "
            f"{wording.expiry_words(day, lot.credits)}"
            + (f" ({wording.count(lot.held)} reserved)" if lot.held else "")
        )
    for hold in view.holds:
        until = _when(hold.expires_at)
        yield f"hold #{hold.id}: {hold.amount} for {hold.feature or '-'} until {until}"
    sub = view.subscription
    if sub is None:
        yield "subscription: none"
    else:
        ending = " (cancels at period end)" if sub.cancel_at_period_end else ""
        ends = _when(sub.current_period_end)
        yield f"subscription: {sub.plan}, {sub.status}, period ends {ends}{ending}"
    topup = view.auto_topup
    yield (
        f"auto top-up: {'on' if topup.enabled else 'off'}"
        + (f", below {topup.threshold}, {topup.plan_id}" if topup.enabled else "")
        + (f", last error: {topup.last_error}" if topup.last_error else "")
    )
    limit = view.spend_limit
    yield (
        "spending limit: none"
        if limit.limit is None
        else f"spending limit: {limit.used} of {limit.limit} used this month"
    )
    yield f"sessions: {len(view.sessions)} active"
    for short in view.shortfalls:
        yield (
            f"shortfall #{short.id}: {short.credits - short.recovered} of {short.credits} "
            f"{short.status} ({short.reference})"
        )
    for event in view.events:
        yield f"event {event.id} {event.type} {event.outcome} {_when(event.received_at)}"
    yield "recent ledger entries:"
    for entry in recent:
        yield (
            f"  {_when(entry.created_at)} {wording.kind_word(entry.kind):<28} "
            f"{wording.signed(entry.delta):>8} -> {wording.count(entry.balance_after)}"
            f"  {entry.feature or ''}"
        )
