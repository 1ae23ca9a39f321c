"""Apply a verified Stripe event exactly once (DESIGN.md invariant 3).

Two steps. First, outside any transaction, fetch what the event needs from Stripe (the
current subscription, or which invoice a payment belongs to) — network calls never hold
database locks. Then, in one transaction: insert the event row under its unique id and
apply its effects. A duplicate delivery, concurrent or later, hits the unique id and
changes nothing; a crash rolls back both, so Stripe's retry applies it cleanly.

Subscription state is re-fetched rather than taken from the event body, because Stripe
does not deliver in order and its timestamps have one-second resolution: the fetched
object is the newest state whatever arrived first (see subscriptions.apply_subscription).
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from credit_app.billing import purchases
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.billing.subscriptions import (
    apply_subscription,
    from_timestamp,
    plan_for_price,
    user_for,
)
from credit_app.db import insert_unless_exists, read_scope, session_scope
from credit_app.models import StripeEvent, SubscriptionPlan, User, utcnow

logger = logging.getLogger(__name__)

SUBSCRIPTION_EVENTS = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
}
HANDLED = SUBSCRIPTION_EVENTS | {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "invoice.paid",
    "invoice.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
}


class RetryLater(Exception):
    """The event cannot be applied yet (e.g. a refund for a payment not yet recorded).
    Nothing is written; the webhook answers 503 so Stripe delivers it again."""


@dataclass
class Facts:
    """What step one fetched from Stripe for step two."""

    subscription: dict[str, Any] | None = None
    # The price an invoice billed (not the subscription's price now: it may have changed
    # since, e.g. an upgrade while this invoice's event was being retried).
    invoice_price: dict[str, Any] | None = None
    invoice_id: str | None = None
    # A dispute's current state: events about it may arrive in any order.
    dispute: dict[str, Any] | None = None


# Stripe retries a failing webhook for about three days; a refund whose payment we have
# still not recorded after this long is not ours to act on (another product's charge).
DEFER_AT_MOST = timedelta(hours=6)


@dataclass(frozen=True)
class Outcome:
    event_id: str
    type: str
    duplicate: bool
    detail: str
    user_ids: tuple[str, ...] = ()  # whose balance or plan may have changed


def invoice_price_id(invoice: dict[str, Any]) -> str | None:
    """The price billed by an invoice's first line (API 2025-03+: `pricing.price_details`)."""
    lines = (invoice.get("lines") or {}).get("data") or []
    if not lines:
        return None
    pricing = lines[0].get("pricing") or {}
    price = (pricing.get("price_details") or {}).get("price") or lines[0].get("price")
    return price if isinstance(price, str) else (price or {}).get("id")


def subscription_id_of(obj: dict[str, Any]) -> str | None:
    """An invoice's subscription: `parent.subscription_details.subscription` since API
    2025-03; older payloads had a top-level `subscription`."""
    details = ((obj.get("parent") or {}).get("subscription_details")) or {}
    return details.get("subscription") or obj.get("subscription")


def _already_recorded(engine: Engine | None, event_id: str) -> bool:
    with read_scope(engine) as session:
        return session.get(StripeEvent, event_id) is not None


async def gather_facts(gateway: StripeGateway, event: dict[str, Any]) -> Facts:
    obj = event["data"]["object"]
    kind = event["type"]
    facts = Facts()
    subscription_id = None
    if kind in SUBSCRIPTION_EVENTS:
        subscription_id = obj["id"]
    elif kind in ("invoice.paid", "invoice.payment_failed"):
        subscription_id = subscription_id_of(obj)
    elif kind == "checkout.session.completed" and obj.get("mode") == "subscription":
        subscription_id = obj.get("subscription")
    if subscription_id:
        facts.subscription = await gateway.retrieve_subscription(subscription_id)
    if kind == "invoice.paid" and (price_id := invoice_price_id(obj)):
        facts.invoice_price = await gateway.retrieve_price(price_id)
    if kind.startswith("charge.dispute."):
        facts.dispute = await gateway.retrieve_dispute(obj["id"])
    if kind == "charge.refunded" or kind.startswith("charge.dispute."):
        payment_intent = obj.get("payment_intent")
        if payment_intent:
            facts.invoice_id = await gateway.invoice_for_payment_intent(payment_intent)
    return facts


async def process_event(
    gateway: StripeGateway,
    event: dict[str, Any],
    *,
    livemode: bool = False,
    engine: Engine | None = None,
) -> Outcome:
    """Fetch, then apply in one transaction. Safe to call any number of times per event.

    `livemode` is what this deployment's key is: a test-mode event reaching a live
    deployment (or the other way round) is recorded as ignored and changes nothing."""
    if await asyncio.to_thread(_already_recorded, engine, event["id"]):
        return Outcome(event["id"], event["type"], True, "already processed")
    if bool(event.get("livemode")) != livemode:
        mode = "live" if livemode else "test"
        detail = f"ignored: livemode={bool(event.get('livemode'))} event for a {mode}-mode app"
        return await asyncio.to_thread(_record_ignored, event, detail, engine)
    facts = await gather_facts(gateway, event) if event["type"] in HANDLED else Facts()
    return await asyncio.to_thread(apply_event, event, facts, engine)


def _insert_event(session: Session, event: dict[str, Any], outcome: str, detail: str) -> bool:
    row = session.execute(
        insert_unless_exists(session, StripeEvent, key="id")
        .values(
            id=event["id"],
            type=event["type"][:64],
            stripe_created=from_timestamp(event.get("created")) or utcnow(),
            received_at=utcnow(),
            outcome=outcome,
            detail=detail[:255],
        )
        .returning(StripeEvent.id)
    ).first()
    return row is not None


def apply_event(event: dict[str, Any], facts: Facts, engine: Engine | None = None) -> Outcome:
    with session_scope(engine) as session:
        # Claim the event id first: a concurrent duplicate waits here, then sees the row.
        if not _insert_event(session, event, "processing", ""):
            return Outcome(event["id"], event["type"], True, "already processed")
        handler = _HANDLERS.get(event["type"])
        if handler is None:
            detail, users = "ignored: not a type this app handles", ()
        else:
            detail, users = handler(session, event, facts)
        recorded = session.get(StripeEvent, event["id"])
        recorded.outcome = "ignored" if detail.startswith("ignored") else "applied"
        recorded.detail = detail[:255]
    logger.info("stripe event %s %s: %s", event["id"], event["type"], detail)
    return Outcome(event["id"], event["type"], False, detail, tuple(str(u) for u in users))


def _record_ignored(event: dict[str, Any], detail: str, engine: Engine | None) -> Outcome:
    with session_scope(engine) as session:
        fresh = _insert_event(session, event, "ignored", detail)
    logger.warning("stripe event %s %s: %s", event["id"], event["type"], detail)
    return Outcome(event["id"], event["type"], not fresh, detail)


Result = tuple[str, tuple]


def _subscription(session: Session, event: dict, facts: Facts) -> Result:
    if facts.subscription is None:
        return "ignored: no subscription", ()
    detail = apply_subscription(
        session, facts.subscription, seen_at=from_timestamp(event["created"])
    )
    user = user_for(
        session,
        metadata=facts.subscription.get("metadata"),
        customer=facts.subscription.get("customer"),
    )
    return detail, (user,) if user else ()


def _checkout_completed(session: Session, event: dict, facts: Facts) -> Result:
    checkout = event["data"]["object"]
    user_id = user_for(
        session,
        metadata={"user_id": checkout.get("client_reference_id")}
        if checkout.get("client_reference_id")
        else checkout.get("metadata"),
        customer=checkout.get("customer"),
    )
    if user_id is None:
        return "ignored: checkout session names no known user", ()
    user = session.get(User, user_id)
    if checkout.get("customer") and user.stripe_customer_id is None:
        user.stripe_customer_id = checkout["customer"]
    if checkout.get("mode") == "subscription":
        # Credits come with invoice.paid; here only the subscription state is recorded.
        if facts.subscription is not None:
            return _subscription(session, event, facts)[0], (user_id,)
        return "subscription checkout completed", (user_id,)
    if checkout.get("payment_status") != "paid":
        return "ignored: payment not yet confirmed (async payment pending)", ()
    plan = session.get(SubscriptionPlan, (checkout.get("metadata") or {}).get("plan_id", ""))
    if plan is None or plan.kind != "pack":
        return "ignored: checkout session is not for one of our packs", ()
    return purchases.grant_pack(session, user_id=user_id, plan=plan, checkout_session=checkout), (
        user_id,
    )


def _invoice_paid(session: Session, event: dict, facts: Facts) -> Result:
    invoice = event["data"]["object"]
    if invoice.get("status") != "paid":
        return "ignored: invoice is not paid", ()
    subscription = facts.subscription
    if subscription is None:
        return "ignored: invoice has no subscription", ()
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    user_id = user_for(
        session,
        metadata=details.get("metadata") or subscription.get("metadata"),
        customer=invoice.get("customer"),
    )
    if user_id is None:
        return "ignored: no user for this invoice", ()
    # The plan billed is the invoice's own price; an invoice without lines (or a payload
    # from before `pricing`) falls back to the subscription's price.
    plan = plan_for_price(session, facts.invoice_price or subscription["items"]["data"][0]["price"])
    if plan is None:
        return "ignored: the subscription's price is not one of our plans", ()
    granted = purchases.grant_invoice(
        session, user_id=user_id, plan=plan, invoice=invoice, subscription_id=subscription["id"]
    )
    state = apply_subscription(session, subscription, seen_at=from_timestamp(event["created"]))
    return f"{granted}; {state}", (user_id,)


def _invoice_payment_failed(session: Session, event: dict, facts: Facts) -> Result:
    if facts.subscription is None:
        return "ignored: invoice has no subscription", ()
    detail, users = _subscription(session, event, facts)
    return f"payment failed, nothing granted; {detail}", users


class _NotOurs(Exception):
    pass


def _purchase_for_charge(session: Session, event: dict, facts: Facts):
    charge_like = event["data"]["object"]
    purchase = purchases.find_purchase(
        session, payment_intent=charge_like.get("payment_intent"), invoice=facts.invoice_id
    )
    if purchase is not None:
        return purchase
    age = utcnow() - (from_timestamp(event.get("created")) or utcnow())
    if age < DEFER_AT_MOST:
        raise RetryLater(f"no purchase recorded yet for {charge_like.get('payment_intent')}")
    raise _NotOurs


def _with_purchase(handler):
    """Charge events need the purchase they refer to (see _purchase_for_charge)."""

    def run(session: Session, event: dict, facts: Facts) -> Result:
        try:
            purchase = _purchase_for_charge(session, event, facts)
        except _NotOurs:
            return "ignored: no purchase of ours was paid by this charge", ()
        return handler(session, event, facts, purchase), (purchase.user_id,)

    return run


@_with_purchase
def _charge_refunded(session: Session, event: dict, facts: Facts, purchase) -> str:
    return purchases.clawback_refund(session, purchase, event["data"]["object"])


@_with_purchase
def _dispute_changed(session: Session, event: dict, facts: Facts, purchase) -> str:
    """Created or closed, act on the dispute's *current* status (re-fetched), so the
    order in which its events arrive does not matter: open or lost -> the credits are
    taken back; won -> whatever this dispute took is restored (and nothing taken later)."""
    dispute = facts.dispute or event["data"]["object"]
    if dispute.get("status") in ("won", "warning_closed"):
        return purchases.restore_dispute(session, purchase, dispute["id"])
    return purchases.clawback_dispute(session, purchase, dispute["id"])


_HANDLERS = {
    **dict.fromkeys(SUBSCRIPTION_EVENTS, _subscription),
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_payment_failed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_changed,
    "charge.dispute.closed": _dispute_changed,
}
assert set(_HANDLERS) == HANDLED
