"""Starting a purchase (Checkout, or the portal for a subscriber changing plan), managing
it (portal), and confirming it came through."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import Engine, delete, func, select, update
from sqlmodel import Session, col

from credit_app import routes
from credit_app.billing import catalog
from credit_app.billing.stripe_gateway import (
    CustomerMissing,
    PlanNotInStripe,
    PortalPlan,
    StripeGateway,
    StripeObjectMissing,
)
from credit_app.billing.subscriptions import ENTITLED_STATUSES, current_subscription
from credit_app.db import in_read, in_transaction
from credit_app.models import CheckoutRecord, PlanKind, Purchase, User, utcnow

T = TypeVar("T")

# What the portal shows above the plan, card and invoices.
PORTAL_HEADLINE = "Credit App: change your plan, card or billing details, see your invoices"


class CheckoutRefused(Exception):
    """A purchase that makes no sense; the message is shown to the person."""


NOT_FOR_SALE = "That plan is not for sale."


def plan_for_sale(plan_id: str) -> catalog.PlanSpec | None:
    """The catalog's subscription or pack with this id; None for anything else (an unknown
    id, the Free plan): check what a browser sent before using it."""
    plan = catalog.plan_by_id(plan_id)
    if plan is None or plan.kind not in (PlanKind.SUBSCRIPTION, PlanKind.PACK):
        return None
    return plan


# Each checkout costs calls to Stripe and a row here: a tab clicking in a loop is stopped.
CHECKOUT_WINDOW = timedelta(minutes=10)
MAX_CHECKOUTS_PER_WINDOW = 5
TOO_MANY_CHECKOUTS = (
    "You started several checkouts in the last few minutes. Finish one of them, or try "
    "again in a few minutes."
)


@dataclass(frozen=True)
class _Buyer:
    email: str
    name: str | None
    customer_id: str | None
    subscribed: bool
    # The stored customer's Stripe mode (None: stored before it was recorded).
    customer_livemode: bool | None = None
    plan_id: str | None = None  # the subscription's plan, when subscribed
    subscription_id: str | None = None


def _buyer(session: Session, user_id: uuid.UUID) -> _Buyer:
    user = session.get(User, user_id)
    if user is None:  # the account was deleted after its session was checked
        raise CheckoutRefused("This account no longer exists.")
    found = current_subscription(session, user_id=user_id)
    subscribed = found is not None and found[0].status in ENTITLED_STATUSES
    return _Buyer(
        user.email,
        user.name,
        user.stripe_customer_id,
        subscribed,
        user.stripe_customer_livemode,
        found[0].plan_id if found and subscribed else None,
        found[0].stripe_subscription_id if found and subscribed else None,
    )


def _save_customer(
    session: Session,
    user_id: uuid.UUID,
    customer_id: str,
    livemode: bool,
    replacing: str | None,
) -> str:
    """Store the customer id (and its mode) unless a concurrent request stored another one
    first; return the one that is stored, so one user never ends up with two Stripe
    customers in use. `replacing`: the stored id this one replaces (deleted in Stripe, or
    of the other mode)."""
    unchanged = (
        col(User.stripe_customer_id).is_(None)
        if replacing is None
        else col(User.stripe_customer_id).in_([replacing]) | col(User.stripe_customer_id).is_(None)
    )
    session.execute(
        update(User)
        .where(col(User.id) == user_id, unchanged)
        .values(stripe_customer_id=customer_id, stripe_customer_livemode=livemode)
    )
    stored = session.scalar(select(col(User.stripe_customer_id)).where(col(User.id) == user_id))
    if stored is None:  # no such user: the update above matched nothing
        raise CheckoutRefused("This account no longer exists.")
    return stored


def _store_customer_mode(
    session: Session, user_id: uuid.UUID, customer_id: str, livemode: bool
) -> None:
    session.execute(
        update(User)
        .where(col(User.id) == user_id, col(User.stripe_customer_id) == customer_id)
        .values(stripe_customer_livemode=livemode)
    )


async def ensure_customer(
    gateway: StripeGateway,
    user_id: uuid.UUID,
    buyer: _Buyer | None = None,
    *,
    engine: Engine | None = None,
    missing: str | None = None,
) -> str:
    """The user's Stripe customer, created when there is none usable. A stored customer
    of the other Stripe mode (test/live), or one Stripe reports deleted or missing, is
    replaced by a new one. A stored id of unknown mode (from before revision 0009) is
    checked once with a retrieve. `missing`: an id a Stripe call just answered "No such
    customer" for (it is replaced whatever is stored about it)."""
    if buyer is None:
        buyer = await in_read(_buyer, user_id, engine=engine)
    stored = buyer.customer_id
    if stored and stored != missing:
        if buyer.customer_livemode is None:
            check = await gateway.check_customer(stored)
            if check.exists and check.livemode == gateway.config.livemode:
                await in_transaction(
                    _store_customer_mode, user_id, stored, gateway.config.livemode, engine=engine
                )
                return stored
        elif buyer.customer_livemode == gateway.config.livemode:
            return stored
    created, livemode = await gateway.create_customer(
        email=buyer.email, name=buyer.name, user_id=str(user_id), replacing=stored
    )
    return await in_transaction(_save_customer, user_id, created, livemode, stored, engine=engine)


async def _with_customer(
    gateway: StripeGateway,
    user_id: uuid.UUID,
    buyer: _Buyer | None,
    engine: Engine | None,
    call: Callable[[str], Awaitable[T]],
) -> T:
    """Run `call(customer_id)`; when Stripe answers that the customer does not exist
    (deleted, or of the other mode), replace it with a new one and run it once more."""
    customer_id = await ensure_customer(gateway, user_id, buyer, engine=engine)
    try:
        return await call(customer_id)
    except CustomerMissing:
        fresh = await in_read(_buyer, user_id, engine=engine)
        customer_id = await ensure_customer(
            gateway, user_id, fresh, engine=engine, missing=customer_id
        )
        return await call(customer_id)


async def start_purchase(
    gateway: StripeGateway,
    *,
    user_id: uuid.UUID,
    plan_id: str,
    app_url: str,
    create_missing_price: bool = False,
    engine: Engine | None = None,
) -> str:
    """Where to send the browser to buy `plan_id`: the customer portal when it is a
    subscription and the user already subscribes (decided from the database: a status in
    ENTITLED_STATUSES), else a new Checkout Session. Raises CheckoutRefused (NOT_FOR_SALE
    for anything but a subscription or pack, writing nothing) and lets the gateway's
    errors through."""
    plan = plan_for_sale(plan_id)
    if plan is None:
        raise CheckoutRefused(NOT_FOR_SALE)
    if plan.kind == PlanKind.SUBSCRIPTION:
        buyer = await in_read(_buyer, user_id, engine=engine)
        if buyer.subscribed:
            return await open_portal(
                gateway,
                user_id=user_id,
                app_url=app_url,
                buyer=buyer,
                change_to=plan,
                create_missing_price=create_missing_price,
                engine=engine,
            )
    return await _checkout(
        gateway,
        plan,
        user_id=user_id,
        app_url=app_url,
        create_missing_price=create_missing_price,
        engine=engine,
    )


async def start_checkout(
    gateway: StripeGateway,
    *,
    user_id: uuid.UUID,
    plan_id: str,
    app_url: str,
    create_missing_price: bool = False,
    engine: Engine | None = None,
) -> str:
    """Create a Checkout Session and return the URL to send the browser to."""
    plan = plan_for_sale(plan_id)
    if plan is None:
        raise CheckoutRefused(NOT_FOR_SALE)
    return await _checkout(
        gateway,
        plan,
        user_id=user_id,
        app_url=app_url,
        create_missing_price=create_missing_price,
        engine=engine,
    )


async def _checkout(
    gateway: StripeGateway,
    plan: catalog.PlanSpec,
    *,
    user_id: uuid.UUID,
    app_url: str,
    create_missing_price: bool,
    engine: Engine | None,
) -> str:
    """A Checkout Session for a plan already checked to be for sale, under the user's
    cap of recent checkouts."""
    slot = await in_transaction(_claim_checkout_slot, user_id, plan.id, engine=engine)
    if slot is None:
        raise CheckoutRefused(TOO_MANY_CHECKOUTS)
    try:
        checkout_id, url = await _create_checkout(
            gateway,
            plan,
            user_id=user_id,
            app_url=app_url,
            create_missing_price=create_missing_price,
            engine=engine,
        )
    except BaseException:
        await asyncio.shield(in_transaction(_release_checkout_slot, slot, engine=engine))
        raise
    await in_transaction(_fill_checkout_slot, slot, checkout_id, engine=engine)
    return url


async def _create_checkout(
    gateway: StripeGateway,
    plan: catalog.PlanSpec,
    *,
    user_id: uuid.UUID,
    app_url: str,
    create_missing_price: bool,
    engine: Engine | None,
) -> tuple[str, str]:
    buyer = await in_read(_buyer, user_id, engine=engine)
    if plan.kind == PlanKind.SUBSCRIPTION and buyer.subscribed:
        raise CheckoutRefused("You already have a subscription: switch plans under Manage.")
    price_id = await _price(gateway, plan, create_missing_price)
    base = app_url.rstrip("/")

    async def create(customer_id: str) -> tuple[str, str]:
        return await gateway.create_checkout_session(
            plan=plan,
            price_id=price_id,
            customer_id=customer_id,
            user_id=str(user_id),
            success_url=f"{base}{routes.CHECKOUT_RETURN}?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}{routes.PRICING}?canceled=1",
        )

    return await _with_customer(gateway, user_id, buyer, engine, create)


async def _price(gateway: StripeGateway, plan: catalog.PlanSpec, create_missing: bool) -> str:
    """The plan's current Stripe price; created when missing if `create_missing` (the
    embedded sandbox forgets its prices on restart, and never runs seed-plans)."""
    try:
        return await gateway.price_for(plan)
    except PlanNotInStripe:
        if not create_missing:
            raise
        return await gateway.ensure_price(plan)


async def configure_portal(
    gateway: StripeGateway, *, app_url: str, create_missing_price: bool = False
) -> tuple[str, bool]:
    """Create or update the portal configuration the app manages, offering every
    subscription plan's current price (seed-plans; the embedded sandbox lazily). Returns
    its id and whether it was created."""
    offered = []
    for plan in catalog.plans():
        if plan.kind == PlanKind.SUBSCRIPTION and plan.lookup_key:
            price_id = await _price(gateway, plan, create_missing_price)
            offered.append(PortalPlan(gateway.product_id(plan), price_id))
    return await gateway.ensure_portal_configuration(
        offered, headline=PORTAL_HEADLINE, return_url=app_url.rstrip("/") + routes.DASHBOARD
    )


async def portal_configuration(
    gateway: StripeGateway, *, app_url: str, create_missing_price: bool = False
) -> str:
    """The managed portal configuration's id: found by its metadata, else created now (as
    prices are: the embedded sandbox never runs seed-plans)."""
    found = await gateway.find_portal_configuration()
    if found is not None:
        return found
    created, _ = await configure_portal(
        gateway, app_url=app_url, create_missing_price=create_missing_price
    )
    return created


def _claim_checkout_slot(session: Session, user_id: uuid.UUID, plan_id: str) -> str | None:
    """Count the user's recent checkouts and, below the cap, hold a place for this one,
    in one transaction that serialises the user's checkouts (the user's row lock on
    PostgreSQL; SQLite's write lock): tabs clicking at once cannot all read "0" first.
    Returns the placeholder id, which becomes Stripe's id once the session exists."""
    session.execute(select(col(User.id)).where(col(User.id) == user_id).with_for_update())
    recent = session.scalar(
        select(func.count())
        .select_from(CheckoutRecord)
        .where(
            col(CheckoutRecord.user_id) == user_id,
            col(CheckoutRecord.created_at) > utcnow() - CHECKOUT_WINDOW,
        )
    )
    if (recent or 0) >= MAX_CHECKOUTS_PER_WINDOW:
        return None
    placeholder = f"pending_{uuid.uuid4().hex}"
    session.add(CheckoutRecord(id=placeholder, user_id=user_id, plan_id=plan_id))
    return placeholder


def _fill_checkout_slot(session: Session, placeholder: str, checkout_id: str) -> None:
    session.execute(
        update(CheckoutRecord).where(col(CheckoutRecord.id) == placeholder).values(id=checkout_id)
    )


def _release_checkout_slot(session: Session, placeholder: str) -> None:
    """Stripe did not create the session: the place is given back."""
    session.execute(delete(CheckoutRecord).where(col(CheckoutRecord.id) == placeholder))


async def open_portal(
    gateway: StripeGateway,
    *,
    user_id: uuid.UUID,
    app_url: str,
    buyer: _Buyer | None = None,
    change_to: catalog.PlanSpec | None = None,
    create_missing_price: bool = False,
    engine: Engine | None = None,
) -> str:
    """A customer-portal session for the user (creating their Stripe customer if needed)
    under the app's portal configuration; returns its URL. `change_to`: a subscriber's
    new plan, which opens the portal on the confirmation of that change (upgrades at
    once, prorated and invoiced; downgrades and shorter intervals at the period end), then
    comes back to the dashboard. `buyer`: the user as already read."""
    if buyer is None:
        buyer = await in_read(_buyer, user_id, engine=engine)
    configuration = await portal_configuration(
        gateway, app_url=app_url, create_missing_price=create_missing_price
    )
    change: tuple[str, str, str] | None = None
    if change_to is not None and buyer.subscription_id and change_to.id != buyer.plan_id:
        try:
            item_id, current_price = await gateway.subscription_item(buyer.subscription_id)
        except StripeObjectMissing:
            item_id = current_price = ""  # ended meanwhile: the plain portal shows it
        price_id = await _price(gateway, change_to, create_missing_price)
        if item_id and price_id != current_price:
            change = (buyer.subscription_id, item_id, price_id)
    return_url = app_url.rstrip("/") + routes.DASHBOARD

    async def create(customer_id: str) -> str:
        return await gateway.create_portal_session(
            customer_id=customer_id,
            return_url=return_url,
            configuration=configuration,
            change_to=change,
        )

    return await _with_customer(gateway, user_id, buyer, engine, create)


@dataclass(frozen=True)
class Confirmation:
    confirmed: bool
    credits_granted: int = 0


@dataclass(frozen=True)
class PaymentRefs:
    """What a completed checkout paid for: where the webhook records its purchase."""

    subscription_id: str | None
    payment_intent_id: str | None


async def checkout_is_theirs(
    user_id: uuid.UUID, checkout_session_id: str, *, engine: Engine | None = None
) -> bool:
    """Whether we started this checkout for this user: answered from our own records, so
    an unknown or foreign id costs no call to Stripe."""
    if not checkout_session_id or len(checkout_session_id) > 255:
        return False
    return await in_read(_checkout_owner, checkout_session_id, engine=engine) == user_id


def _checkout_owner(session: Session, checkout_session_id: str) -> uuid.UUID | None:
    return session.scalar(
        select(col(CheckoutRecord.user_id)).where(col(CheckoutRecord.id) == checkout_session_id)
    )


async def payment_refs(gateway: StripeGateway, checkout_session_id: str) -> PaymentRefs:
    """One call to Stripe: the subscription or payment intent the checkout created."""
    checkout = await gateway.retrieve_checkout_session(checkout_session_id)
    return PaymentRefs(checkout.get("subscription"), checkout.get("payment_intent"))


async def purchase_recorded(refs: PaymentRefs, *, engine: Engine | None = None) -> Confirmation:
    """Has the webhook for this payment landed? Read from our database only."""
    return await in_read(_confirmation, refs, engine=engine)


def _confirmation(session: Session, refs: PaymentRefs) -> Confirmation:
    found: Purchase | None = None
    if refs.payment_intent_id:
        found = session.scalar(
            select(Purchase).where(col(Purchase.stripe_payment_intent_id) == refs.payment_intent_id)
        )
    elif refs.subscription_id:
        found = session.scalar(
            select(Purchase)
            .where(col(Purchase.stripe_subscription_id) == refs.subscription_id)
            .order_by(col(Purchase.id))
        )
    return Confirmation(True, found.credits_granted) if found else Confirmation(False)
