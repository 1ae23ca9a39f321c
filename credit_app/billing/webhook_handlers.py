"""What each Stripe event does, registered with the event types it handles and what it
needs fetched from Stripe first (see webhook_registry.py).

A handler runs inside the transaction that claimed the event (webhooks.apply_event) and
returns a typed `Handled`: applied, ignored or duplicate, with a human-readable detail.
It raises RetryLater when the event must wait for another one. Subscription state comes
from `facts.subscription`, re-fetched from Stripe, never from the event body: Stripe does
not deliver in order and its timestamps have one-second resolution.
"""

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from credit_app import outbound
from credit_app.billing import auto_topup, purchases
from credit_app.billing.subscriptions import (
    apply_subscription,
    customer_conflict,
    from_timestamp,
    user_for,
)
from credit_app.billing.webhook_records import event_naming, unfinished_event_naming
from credit_app.billing.webhook_registry import Facts, Fetch, Handled, Registry, RetryLater
from credit_app.models import (
    EventOutcome,
    PlanKind,
    Purchase,
    SubscriptionPlan,
    SubscriptionStatus,
    User,
    UserSubscription,
    utcnow,
)

registry = Registry()

# A take-back whose object names neither a customer nor a user (a dispute: Stripe's
# dispute object carries only the payment) and whose payment we have not recorded waits
# this long for it, then is taken for another product's (a shared Stripe account).
# Objects that name a customer are classified at once: ours wait, others are ignored.
DEFER_AT_MOST = timedelta(hours=6)

# The events whose handlers record a Purchase (a pack's payment, a paid invoice): a
# take-back waits for them, or is refused when they were.
RECORDS_PURCHASES = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "invoice.paid",
)
# After any of these is applied, take-backs that waited for its payment are completed:
# the above, and an auto top-up's payment (whose event is ignored for every other payment,
# so it cannot tell a take-back that a payment is not ours).
COMPLETES_TAKE_BACKS = (*RECORDS_PURCHASES, "payment_intent.succeeded")

# What Stripe's dispute statuses mean for the credits of the disputed payment (API
# 2026-10-28). Inquiries (`warning_*`) move no money; a chargeback withdraws it from us
# until won; an appeal is a lost dispute under review again (still withdrawn);
# `prevented` (Visa RDR) means the card network refunded the cardholder before a
# chargeback was filed: the money went back, so the credits go too (a refund event for
# the same payment takes nothing more: take-backs of a purchase add up to at most what it
# granted).
DISPUTE_HOLDS_NOTHING = ("warning_needs_response", "warning_under_review", "warning_closed")
DISPUTE_TAKES_BACK = (
    "needs_response",
    "under_review",
    "lost",
    "appeal_needs_response",
    "appeal_under_review",
    "prevented",
)
DISPUTE_RESTORES = ("won",)
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
# The events that take credits back from (or restore them to) a recorded purchase.
TAKE_BACK_TYPES = ("charge.refunded", *DISPUTE_EVENTS)


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
    subscription's state (its credits come with invoice.paid), a paid pack grants when
    the amount and currency paid are the pack's price. A checkout whose customer is not
    the user's (another account's, or not the one stored) is refused and recorded."""
    checkout = event["data"]["object"]
    reference = checkout.get("client_reference_id")
    metadata = {"user_id": reference} if reference else checkout.get("metadata")
    named = _named_user(session, metadata)
    customer = checkout.get("customer")
    if named is not None and (conflict := customer_conflict(session, named, customer)):
        return Handled.ignored(f"refused: checkout for account {named.id}, but {conflict}")
    user_id = user_for(session, metadata=metadata, customer=customer)
    user = session.get(User, user_id) if user_id else None
    if user_id is None or user is None:
        return Handled.ignored("ignored: checkout session names no known user")
    linked = bool(customer and user.stripe_customer_id is None)
    if linked:
        user.stripe_customer_id = customer
        user.stripe_customer_livemode = bool(event.get("livemode"))
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
    if not already and (problem := purchases.pack_payment_problem(plan, checkout)):
        # Nothing granted (the customer, which is this account's, stays linked).
        return Handled(EventOutcome.IGNORED, f"ignored: {problem}; nothing granted", (user_id,))
    detail = purchases.grant_pack(session, user_id=user_id, plan=plan, checkout_session=checkout)
    if already and not linked:
        return Handled.duplicate(detail, user_id)
    return Handled.applied(detail, user_id)


def _named_user(session: Session, metadata: dict[str, Any] | None) -> User | None:
    """The live account a Stripe object's metadata names, if any."""
    user_id = (metadata or {}).get("user_id")
    try:
        candidate = uuid.UUID(str(user_id)) if user_id else None
    except ValueError:
        return None
    user = session.get(User, candidate) if candidate else None
    return user if user is not None and user.deleted_at is None else None


def _price_source(facts: Facts) -> Callable[[str], dict[str, Any] | None]:
    """Where an invoice line's price comes from: fetched, or the fetched subscription's
    items (which carry their whole Price)."""
    known = dict(facts.invoice_prices)
    items = ((facts.subscription or {}).get("items") or {}).get("data") or []
    for item in items:
        price = item.get("price") if isinstance(item, dict) else None
        if isinstance(price, dict) and price.get("id"):
            known.setdefault(price["id"], price)
    return known.get


def _lines_of(invoice: dict[str, Any], facts: Facts) -> list[dict[str, Any]]:
    """All of the invoice's lines: fetched when its copy in the event has only the first
    handful (`has_more`); never a part of them."""
    if facts.invoice_lines is not None:
        return facts.invoice_lines
    lines = invoice.get("lines") or {}
    if lines.get("has_more"):
        raise LookupError(f"invoice {invoice['id']} has more lines than its event carries")
    return list(lines.get("data") or [])


@registry.handles(
    "invoice.paid",
    fetch={Fetch.SUBSCRIPTION, Fetch.INVOICE_LINES, Fetch.INVOICE_PRICES},
)
def invoice_paid(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    """Grants what the invoice's lines bought (purchases.py: credits follow money), once
    per invoice (duplicate when another event, or a grant made before the line rule,
    already granted it), and records the subscription's state. Only subscription
    invoices grant here: a pack's receipt (Checkout `invoice_creation`) is granted by
    its checkout."""
    invoice = event["data"]["object"]
    if invoice.get("status") != "paid":
        return Handled.ignored("ignored: invoice is not paid")
    if (invoice.get("parent") or {}).get("type") != "subscription_details":
        return Handled.ignored("ignored: not a subscription invoice (grants nothing here)")
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
    _clear_action_required(session, user_id, subscription["id"])
    done = purchases.invoice_already_granted(session, invoice["id"])
    if done is not None:
        state = _subscription_state(session, event, subscription)
        return Handled.duplicate(f"{done}; {state.detail}", user_id)
    lines, skipped = purchases.invoice_lines(
        session,
        _lines_of(invoice, facts),
        currency=invoice.get("currency"),
        price_for=_price_source(facts),
    )
    if not lines:
        why = "; ".join(skipped) or "no lines"
        return Handled.ignored(f"ignored: no line bills one of our plans ({why})")
    granted = purchases.grant_invoice(
        session, user_id=user_id, invoice=invoice, subscription_id=subscription["id"], lines=lines
    )
    state = _subscription_state(session, event, subscription)
    return Handled.applied(f"{granted}; {state.detail}", user_id)


def _clear_action_required(session: Session, user_id: uuid.UUID, subscription_id: str) -> None:
    """A paid invoice of the subscription: no payment waits for authentication now."""
    session.execute(
        update(UserSubscription)
        .where(
            col(UserSubscription.user_id) == user_id,
            col(UserSubscription.stripe_subscription_id) == subscription_id,
            col(UserSubscription.action_required_url).is_not(None),
        )
        .values(action_required_url=None, action_required_invoice_id=None)
    )


@registry.handles("invoice.payment_action_required", fetch={Fetch.SUBSCRIPTION})
def invoice_payment_action_required(
    session: Session, event: dict[str, Any], facts: Facts
) -> Handled:
    """A renewal (or a plan change's invoice) needs the customer to authenticate the
    payment (3-D Secure): the invoice's hosted page, where they do it, is kept for the
    dashboard until an invoice of the subscription is paid. Nothing is granted."""
    invoice = event["data"]["object"]
    subscription = facts.subscription
    if subscription is None:
        return Handled.ignored("ignored: invoice has no subscription")
    state = _subscription_state(session, event, subscription)
    user_id = user_for(
        session, metadata=subscription.get("metadata"), customer=invoice.get("customer")
    )
    url = invoice.get("hosted_invoice_url")
    if user_id is None:
        return Handled.ignored("ignored: no user for this invoice")
    if invoice.get("status") != "open" or not isinstance(url, str) or not url:
        return Handled(state.outcome, f"invoice is not open; {state.detail}", (user_id,))
    if purchases.invoice_already_granted(session, invoice["id"]) is not None:
        # Its invoice.paid came first (Stripe does not deliver in order).
        return Handled.ignored("ignored: the invoice was paid meanwhile")
    row = session.exec(
        select(UserSubscription).where(
            col(UserSubscription.user_id) == user_id,
            col(UserSubscription.stripe_subscription_id) == subscription["id"],
        )
    ).first()
    if row is None:
        return Handled.ignored("ignored: no subscription of ours for this invoice")
    row.action_required_invoice_id = invoice["id"]
    row.action_required_url = url[:2048]
    session.add(row)
    return Handled.applied(
        f"payment of {invoice['id']} needs authentication; {state.detail}", user_id
    )


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


@registry.handles("customer.deleted")
def customer_deleted(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    """The account's Stripe customer was deleted (in the Dashboard, or by Stripe): ours
    is forgotten, so the next checkout or portal visit creates a new one, and the
    subscription is ended (Stripe cancels a deleted customer's subscriptions at once)."""
    customer_id = event["data"]["object"].get("id")
    user = session.exec(
        select(User).where(col(User.stripe_customer_id) == customer_id).with_for_update()
    ).first()
    if not customer_id or user is None:
        return Handled.ignored("ignored: not the customer of any account")
    user.stripe_customer_id = None
    user.stripe_customer_livemode = None
    session.add(user)
    ended = session.execute(
        update(UserSubscription)
        .where(
            col(UserSubscription.user_id) == user.id,
            col(UserSubscription.status) != SubscriptionStatus.CANCELED,
        )
        .values(
            status=SubscriptionStatus.CANCELED,
            cancel_at_period_end=False,
            scheduled_plan_id=None,
            scheduled_change_at=None,
            action_required_url=None,
            action_required_invoice_id=None,
            updated_at=utcnow(),
        )
    )
    assert isinstance(ended, CursorResult)
    if ended.rowcount and (subscription := session.get(UserSubscription, user.id)) is not None:
        outbound.subscription_updated(session, subscription)
    return Handled.applied(f"customer {customer_id} deleted: forgotten", user.id)


class _NotOurs(Exception):
    """The charge (or dispute) is not one this app will act on; the message says why."""


def _whose(session: Session, obj: dict[str, Any]) -> bool | None:
    """Is this charge (or dispute) about one of our accounts' payments, by what it says of
    itself? True when its metadata names one of our users or its customer is one of
    ours; False when it names a customer that is not ours, or is a charge with neither
    (every payment of ours has a customer: checkouts are created with one). None when
    it cannot say (a dispute carries only the payment)."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if _named_user(session, metadata) is not None:
        return True
    if isinstance(customer, str) and customer:
        return user_for(session, metadata=None, customer=customer) is not None
    return False if obj.get("object") == "charge" else None


def _purchase_for_charge(session: Session, event: dict[str, Any], facts: Facts) -> Purchase:
    """The purchase a charge (or a dispute of it) paid for. Not recorded yet:
    - the event that would record it is deferred or failed: RetryLater (it has arrived
      and will be applied; replay it first);
    - that event was refused (ignored: a wrong amount, another account's customer): not
      ours to take back;
    - our customer's payment (by customer or metadata): RetryLater, answered 2xx and
      completed when its payment is recorded (webhooks.process_event), by replay or sync;
    - a dispute, which does not say whose it is: RetryLater while young, then not ours;
    - anything else (another product's charge on a shared Stripe account): not ours, at
      once."""
    obj = event["data"]["object"]
    payment_intent = obj.get("payment_intent")
    paid_by = (payment_intent, facts.invoice_id)
    purchase = purchases.find_purchase(
        session, payment_intent=payment_intent, invoice=facts.invoice_id
    )
    if purchase is not None:
        return purchase
    waiting_for = unfinished_event_naming(session, paid_by, types=RECORDS_PURCHASES)
    if waiting_for is not None:
        raise RetryLater(
            f"no purchase recorded yet for {payment_intent}: its event {waiting_for} is not "
            "applied yet (replay it first)"
        )
    refused = event_naming(
        session, paid_by, types=RECORDS_PURCHASES, outcomes=(EventOutcome.IGNORED,)
    )
    if refused is not None:
        raise _NotOurs(f"ignored: the payment granted nothing (its event {refused} was ignored)")
    ours = _whose(session, obj)
    if ours or (ours is None and utcnow() - event_time(event) < DEFER_AT_MOST):
        raise RetryLater(
            f"no purchase recorded yet for {payment_intent}: waits for its payment's event"
        )
    raise _NotOurs("ignored: no purchase of ours was paid by this charge")


def _change_purchase(
    session: Session,
    event: dict[str, Any],
    facts: Facts,
    change: Callable[[Purchase], str],
    *,
    unchanged: EventOutcome = EventOutcome.DUPLICATE,
) -> Handled:
    """Run a take-back or restore on the charge's purchase: applied when it changed what
    was taken back from that purchase, else `unchanged` (duplicate: another event already
    had done it)."""
    try:
        purchase = _purchase_for_charge(session, event, facts)
    except _NotOurs as exc:
        return Handled.ignored(str(exc))
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
        return Handled(unchanged, detail, (purchase.user_id,))
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


@registry.handles(*DISPUTE_EVENTS, fetch={Fetch.DISPUTE, Fetch.PAYMENT_INVOICE})
def dispute_changed(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    """Whichever of its events arrives, act on the dispute's *current* status
    (re-fetched), so their order does not matter: a chargeback (open, lost, appealed or
    prevented) takes the payment's credits back; a won dispute restores what it took; an
    inquiry takes nothing (and holds nothing: whatever it took is restored)."""
    dispute = facts.dispute or event["data"]["object"]
    status = dispute.get("status")
    if status in DISPUTE_TAKES_BACK:
        return _change_purchase(
            session,
            event,
            facts,
            lambda purchase: purchases.clawback_dispute(session, purchase, dispute["id"]),
        )

    def restore(purchase: Purchase) -> str:
        return purchases.restore_dispute(session, purchase, dispute["id"])

    if status in DISPUTE_RESTORES:
        return _change_purchase(session, event, facts, restore)
    if status in DISPUTE_HOLDS_NOTHING:
        inquiry = f"inquiry ({status}): no money moved"
        if (
            purchases.find_purchase(
                session, payment_intent=dispute.get("payment_intent"), invoice=facts.invoice_id
            )
            is None
        ):
            return Handled.ignored(f"ignored: {inquiry}; nothing to take back")
        handled = _change_purchase(session, event, facts, restore, unchanged=EventOutcome.IGNORED)
        return Handled(handled.outcome, f"{inquiry}; {handled.detail}", handled.user_ids)
    return Handled.ignored(f"ignored: dispute status {status!r} is not one this app acts on")


@registry.handles("payment_intent.succeeded")
def payment_intent_succeeded(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    """An auto top-up's charge was paid: its pack is granted (billing.auto_topup). Other
    payments (a pack bought at Checkout, an invoice) are granted by their own events."""
    return auto_topup.payment_succeeded(session, event["data"]["object"])


@registry.handles("payment_intent.payment_failed")
def payment_intent_failed(session: Session, event: dict[str, Any], facts: Facts) -> Handled:
    """An auto top-up's charge failed: recorded once, the person told."""
    return auto_topup.payment_failed(session, event["data"]["object"])
