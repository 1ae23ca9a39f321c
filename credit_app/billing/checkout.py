"""Starting a purchase (Checkout), managing it (portal), and confirming it came through."""

import asyncio
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update

from credit_app.billing import catalog
from credit_app.billing.stripe_gateway import PlanNotInStripe, StripeGateway
from credit_app.billing.subscriptions import ENTITLED_STATUSES, current_subscription
from credit_app.db import read_scope, session_scope
from credit_app.models import Purchase, User


class CheckoutRefused(Exception):
    """A purchase that makes no sense; the message is shown to the person."""


@dataclass(frozen=True)
class _Buyer:
    email: str
    name: str | None
    customer_id: str | None
    subscribed: bool


def _buyer(user_id: uuid.UUID) -> _Buyer:
    with read_scope() as session:
        user = session.get(User, user_id)
        found = current_subscription(session, user_id=user_id)
        subscribed = found is not None and found[0].status in ENTITLED_STATUSES
        return _Buyer(user.email, user.name, user.stripe_customer_id, subscribed)


def _save_customer(user_id: uuid.UUID, customer_id: str) -> str:
    """Store the customer id unless a concurrent request stored one first; return the
    one that is stored, so one user never ends up with two Stripe customers in use."""
    with session_scope() as session:
        session.execute(
            update(User)
            .where(User.id == user_id, User.stripe_customer_id.is_(None))
            .values(stripe_customer_id=customer_id)
        )
        return session.scalar(select(User.stripe_customer_id).where(User.id == user_id))


async def ensure_customer(
    gateway: StripeGateway, user_id: uuid.UUID, buyer: _Buyer | None = None
) -> str:
    buyer = buyer or await asyncio.to_thread(_buyer, user_id)
    if buyer.customer_id:
        return buyer.customer_id
    created = await gateway.create_customer(
        email=buyer.email, name=buyer.name, user_id=str(user_id)
    )
    return await asyncio.to_thread(_save_customer, user_id, created)


async def start_checkout(
    gateway: StripeGateway,
    *,
    user_id: uuid.UUID,
    plan_id: str,
    app_url: str,
    create_missing_price: bool = False,
) -> str:
    """Create a Checkout Session and return the URL to send the browser to."""
    plan = catalog.plan_by_id(plan_id)
    if plan is None or plan.kind not in ("subscription", "pack"):
        raise CheckoutRefused("That plan is not for sale.")
    buyer = await asyncio.to_thread(_buyer, user_id)
    if plan.kind == "subscription" and buyer.subscribed:
        raise CheckoutRefused("You already have a subscription: switch plans under Manage.")
    customer_id = await ensure_customer(gateway, user_id, buyer)
    try:
        price_id = await gateway.price_for(plan)
    except PlanNotInStripe:
        if not create_missing_price:
            raise
        # The embedded sandbox forgets its prices on restart; recreate on demand.
        price_id = await gateway.ensure_price(plan)
    base = app_url.rstrip("/")
    return await gateway.create_checkout_session(
        plan=plan,
        price_id=price_id,
        customer_id=customer_id,
        user_id=str(user_id),
        success_url=f"{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{base}/pricing?canceled=1",
    )


async def open_portal(gateway: StripeGateway, *, user_id: uuid.UUID, app_url: str) -> str:
    customer_id = await ensure_customer(gateway, user_id)
    return await gateway.create_portal_session(
        customer_id=customer_id, return_url=app_url.rstrip("/") + "/dashboard"
    )


@dataclass(frozen=True)
class Confirmation:
    confirmed: bool
    credits_granted: int = 0


def _purchase_recorded(subscription_id: str | None, payment_intent: str | None) -> Purchase | None:
    with read_scope() as session:
        if payment_intent:
            return session.scalar(
                select(Purchase).where(Purchase.stripe_payment_intent_id == payment_intent)
            )
        if subscription_id:
            return session.scalar(
                select(Purchase)
                .where(Purchase.stripe_subscription_id == subscription_id)
                .order_by(Purchase.id)
            )
    return None


async def confirm_checkout(
    gateway: StripeGateway, *, user_id: uuid.UUID, checkout_session_id: str
) -> Confirmation:
    """Has the webhook for this checkout landed? Only the buyer may ask."""
    checkout = await gateway.retrieve_checkout_session(checkout_session_id)
    owner = checkout.get("client_reference_id") or (checkout.get("metadata") or {}).get("user_id")
    if owner != str(user_id):
        raise CheckoutRefused("This checkout belongs to another account.")
    purchase = await asyncio.to_thread(
        _purchase_recorded, checkout.get("subscription"), checkout.get("payment_intent")
    )
    if purchase is None:
        return Confirmation(confirmed=False)
    return Confirmation(True, purchase.credits_granted)
