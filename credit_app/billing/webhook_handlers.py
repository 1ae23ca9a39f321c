"""What each Stripe event does, registered with the event types it handles and what it
needs fetched from Stripe first (see webhook_registry.py).

A handler runs inside the transaction that claimed the event (webhooks.apply_event) and
returns a typed `Handled`: applied, ignored or duplicate, with a human-readable detail.
It raises RetryLater when the event must wait for another one. Subscription state comes
from `facts.subscription`, re-fetched from Stripe, never from the event body: Stripe does
not deliver in order and its timestamps have one-second resolution.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from credit_app.billing import purchases
from credit_app.billing.subscriptions import (
    apply_subscription,
    from_timestamp,
    plan_for_price,
    user_for,
)
from credit_app.billing.webhook_records import unfinished_event_naming
from credit_app.billing.webhook_registry import Facts, Fetch, Handled, Registry, RetryLater
from credit_app.models import (
    EventOutcome,
    PlanKind,
    Purchase,
    SubscriptionPlan,
    User,
    UserSubscription,
    utcnow,
)

registry = Registry()

# Stripe retries a failing webhook for about three days; a refund whose payment we have
# still not recorded after this long is not ours to act on (another product's charge),
# unless an event that records payments is itself still deferred or failed and names it.
DEFER_AT_MOST = timedelta(hours=6)

# The events whose handlers record a Purchase (a pack's payment, a paid invoice).
_RECORDS_PURCHASES = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "invoice.paid",
)


def event_time(event: dict[str, Any]) -> datetime:
    return from_timestamp(event.get("created")) or utcnow()


def _subscription_state(
    session: Session, event: dict[str, Any], subscription: dict[str, Any]
) -> Handled:
    """Store the fetched subscription state; applied when it became the stored state
    (an older event, a foreign price or an ended subscription leave it as it was)."""
    seen_at = event_time(event)
    detail = apply_subscription(session, subscription, seen_at=seen_at)
    user_id = user_for(
        session, metadata=subscription.get("metadata"), customer=subscription.get("customer")
    )
    if user_id is None:
        return Handled.ignored(detail)
    row = session.exec(
        select(UserSubscription).where(col(UserSubscription.user_id) == user_id)
    ).first()
    if (
        row is not None
        and row.stripe_subscription_id == subscription["id"]
        and row.stripe_state_at == seen_at
    ):
        return Handled.applied(detail, user_id)
    return Handled(EventOutcome.IGNORED, detail, (user_id,))


# Registered in this order, which is also the order of `stripe listen --events`.


@registry.handles(
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    fetch={Fetch.SUBSCRIPTION},
)
def checkout_completed(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    """Links the Stripe customer to the user; a subscription checkout records the
    subscription's state (its credits come with invoice.paid), a paid pack grants."""
    checkout = event["data"]["object"]
    reference = checkout.get("client_reference_id")
    user_id = user_for(
        session,
        metadata={"user_id": reference} if reference else checkout.get("metadata"),
        customer=checkout.get("customer"),
    )
    user = session.get(User, user_id) if user_id else None
    if user_id is None or user is None:
        return Handled.ignored("ignored: checkout session names no known user")
    linked = bool(checkout.get("customer") and user.stripe_customer_id is None)
    if linked:
        user.stripe_customer_id = checkout["customer"]
    if checkout.get("mode") == "subscription":
        if facts.subscription is None:
            detail = "subscription checkout completed"
            outcome = EventOutcome.APPLIED if linked else EventOutcome.IGNORED
            return Handled(outcome, detail, (user_id,))
        state = _subscription_state(session, event, facts.subscription)
        outcome = EventOutcome.APPLIED if linked else state.outcome
        return Handled(outcome, state.detail, (user_id,))
    if checkout.get("payment_status") != "paid":
        return Handled.ignored("ignored: payment not yet confirmed (async payment pending)")
    plan = session.get(SubscriptionPlan, (checkout.get("metadata") or {}).get("plan_id", ""))
    if plan is None or plan.kind != PlanKind.PACK:
        return Handled.ignored("ignored: checkout session is not for one of our packs")
    already = (
        purchases.find_purchase(session, payment_intent=checkout["payment_intent"], invoice=None)
        is not None
    )
    detail = purchases.grant_pack(session, user_id=user_id, plan=plan, checkout_session=checkout)
    if already and not linked:
        return Handled.duplicate(detail, user_id)
    return Handled.applied(detail, user_id)


@registry.handles("invoice.paid", fetch={Fetch.SUBSCRIPTION, Fetch.INVOICE_PRICE})
def invoice_paid(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    """Grants the plan the invoice billed, once per invoice (duplicate when another event
    already reported this invoice), and records the subscription's state."""
    invoice = event["data"]["object"]
    if invoice.get("status") != "paid":
        return Handled.ignored("ignored: invoice is not paid")
    subscription = facts.subscription
    if subscription is None:
        return Handled.ignored("ignored: invoice has no subscription")
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    user_id = user_for(
        session,
        metadata=details.get("metadata") or subscription.get("metadata"),
        customer=invoice.get("customer"),
    )
    if user_id is None:
        return Handled.ignored("ignored: no user for this invoice")
    # The plan billed is the invoice's own price; an invoice without lines (or a payload
    # from before `pricing`) falls back to the subscription's price.
    plan = plan_for_price(session, facts.invoice_price or subscription["items"]["data"][0]["price"])
    if plan is None:
        return Handled.ignored("ignored: the subscription's price is not one of our plans")
    already = purchases.find_purchase(session, payment_intent=None, invoice=invoice["id"])
    granted = purchases.grant_invoice(
        session, user_id=user_id, plan=plan, invoice=invoice, subscription_id=subscription["id"]
    )
    state = _subscription_state(session, event, subscription)
    detail = f"{granted}; {state.detail}"
    if already is not None:
        return Handled.duplicate(detail, user_id)
    return Handled.applied(detail, user_id)


@registry.handles("invoice.payment_failed", fetch={Fetch.SUBSCRIPTION})
def invoice_payment_failed(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    """Nothing is granted; the subscription's state (past_due) is recorded."""
    if facts.subscription is None:
        return Handled.ignored("ignored: invoice has no subscription")
    state = _subscription_state(session, event, facts.subscription)
    detail = f"payment failed, nothing granted; {state.detail}"
    return Handled(state.outcome, detail, state.user_ids)


@registry.handles(
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    fetch={Fetch.SUBSCRIPTION},
)
def subscription_changed(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    if facts.subscription is None:
        return Handled.ignored("ignored: no subscription")
    return _subscription_state(session, event, facts.subscription)


class _NotOurs(Exception):
    pass


def _purchase_for_charge(session: Session, event: dict[str, Any], facts: Facts) -> Purchase:
    """The purchase a charge (or a dispute of it) paid for. Not recorded yet: RetryLater
    while the event is young (its grant may still be on its way) or while the event that
    would record it is deferred or failed (it has arrived; it will be applied), else not
    ours."""
    charge_like = event["data"]["object"]
    payment_intent = charge_like.get("payment_intent")
    purchase = purchases.find_purchase(
        session, payment_intent=payment_intent, invoice=facts.invoice_id
    )
    if purchase is not None:
        return purchase
    if utcnow() - event_time(event) < DEFER_AT_MOST:
        raise RetryLater(f"no purchase recorded yet for {payment_intent}")
    waiting_for = unfinished_event_naming(
        session, (payment_intent, facts.invoice_id), types=_RECORDS_PURCHASES
    )
    if waiting_for is not None:
        raise RetryLater(
            f"no purchase recorded yet for {payment_intent}: its event {waiting_for} is not "
            "applied yet (replay it first)"
        )
    raise _NotOurs


def _change_purchase(
    session: Session,
    event: dict[str, Any],
    facts: Facts,
    change: Callable[[Purchase], str],
) -> Handled:
    """Run a take-back or restore on the charge's purchase: applied when it changed what
    was taken back from that purchase, duplicate when another event already had."""
    try:
        purchase = _purchase_for_charge(session, event, facts)
    except _NotOurs:
        return Handled.ignored("ignored: no purchase of ours was paid by this charge")
    owner = session.get(User, purchase.user_id)
    if owner is None or owner.deleted_at is not None:
        # Its credits were forfeited with the account: nothing is left to take back.
        return Handled.ignored("ignored: the purchase's account was deleted")
    # The owner's row lock (taken again by purchases) orders concurrent take-backs, so the
    # comparison below sees only this event's change.
    session.exec(
        select(col(User.id)).where(col(User.id) == purchase.user_id).with_for_update()
    ).all()
    before = purchases.credits_taken_back(session, purchase)
    detail = change(purchase)
    if purchases.credits_taken_back(session, purchase) == before:
        return Handled.duplicate(detail, purchase.user_id)
    return Handled.applied(detail, purchase.user_id)


@registry.handles("charge.refunded", fetch={Fetch.PAYMENT_INVOICE})
def charge_refunded(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    """Takes back credits in proportion to the refunded share of the payment."""
    charge = event["data"]["object"]
    if not charge.get("amount_refunded"):
        return Handled.ignored("ignored: nothing refunded")
    return _change_purchase(
        session, event, facts, lambda purchase: purchases.clawback_refund(session, purchase, charge)
    )


@registry.handles(
    "charge.dispute.created",
    "charge.dispute.closed",
    fetch={Fetch.DISPUTE, Fetch.PAYMENT_INVOICE},
)
def dispute_changed(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    """Created or closed, act on the dispute's *current* status (re-fetched), so the
    order in which its events arrive does not matter: open or lost -> the credits are
    taken back; won -> whatever this dispute took is restored (and nothing taken later)."""
    dispute = facts.dispute or event["data"]["object"]

    def change(purchase: Purchase) -> str:
        if dispute.get("status") in ("won", "warning_closed"):
            return purchases.restore_dispute(session, purchase, dispute["id"])
        return purchases.clawback_dispute(session, purchase, dispute["id"])

    return _change_purchase(session, event, facts, change)
