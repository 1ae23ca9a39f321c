"""Auto top-up: when a person's available balance falls below their threshold, buy the
pack they chose with their saved card, while they are away (an off-session charge).

    view = await load_auto_topup(user_id, gateway=gateway)
    change = await save_auto_topup(user_id, gateway=gateway, enabled=True, threshold="50",
                                   plan_id="pack_500", monthly_cap="24", consent=True)
    await run_due(gateway, now=clock.now())        # the app's loop, every few seconds

- The card: every pack bought through Checkout is saved for off-session use
  (`setup_future_usage`); turning auto top-up on needs one, and the person's consent to
  charges made while they are away (its words and time are stored and shown).
- Exactly one charge per crossing: a charge is claimed under the user's row lock, only
  while none is in flight (`auto_topups.in_flight_charge_id`), so concurrent spends, app
  processes and loop turns start one. It stays in flight until Stripe answers: its
  credits arrive through the webhook (`payment_intent.succeeded`, with the ownership and
  amount checks of every payment), the same grant and key as a pack bought at Checkout.
- The monthly cap counts charges started or paid since the start of the calendar month
  in the person's time zone; a charge that would pass it is not started.
- A decline or a payment that needs the person to confirm it is recorded on the charge,
  shown on the dashboard with a way to pay with another card, and mailed; after 3 in a
  row auto top-up switches itself off and says so.
- A charge whose answer was lost (the process died, the network failed) is asked again
  after STALE_AFTER with the same idempotency key: Stripe answers with the first
  attempt's result, never charging twice.
"""

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlmodel import Session, col

from credit_app import clock, mail, outbound, routes, zones
from credit_app.billing import catalog, purchases
from credit_app.billing.stripe_gateway import OffSessionCharge, SavedCard, StripeGateway
from credit_app.billing.webhook_registry import Handled
from credit_app.db import in_read, in_transaction
from credit_app.mail import messages
from credit_app.models import (
    AutoTopUp,
    EventOutcome,
    PlanKind,
    SubscriptionPlan,
    TopUpCharge,
    TopUpStatus,
    User,
)
from credit_app.settings import get_settings

logger = logging.getLogger(__name__)

FAILURES_BEFORE_OFF = 3
# A failed charge is tried again after this long at the earliest (or sooner, when the
# person turns auto top-up on again, e.g. after paying with another card).
RETRY_AFTER_FAILURE = timedelta(hours=6)
STALE_AFTER = timedelta(minutes=2)
THRESHOLD_MAX = 1_000_000
# $10,000 a month: a typo must not authorise unbounded charges.
CAP_MAX = 1_000_000
# How the charge names its row at Stripe (metadata), so the webhook finds it.
CHARGE_KEY = "topup_charge_id"
NO_CARD = "Buy a pack once to save a card for auto top-up."
SWITCHED_OFF = "Auto top-up switched itself off after 3 failed payments in a row."
_MONEY = re.compile(r"\$?\s*([0-9]{1,3}(?:,[0-9]{3})*|[0-9]+)(?:\.([0-9]{1,2}))?")
_ID = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class AutoTopUpView:
    enabled: bool
    threshold: int
    plan_id: str
    monthly_cap: int
    currency: str
    card: str
    consent_text: str
    consented_at: datetime | None
    charged_this_month: int
    next_charge: str
    last_error: str
    switched_off: bool
    in_flight: bool


@dataclass(frozen=True)
class AutoTopUpChange:
    errors: dict[str, str]
    view: AutoTopUpView | None


@dataclass(frozen=True)
class ChargeOrder:
    """A claimed charge, to be sent to Stripe outside the transaction that claimed it."""

    charge_id: int
    user_id: uuid.UUID
    customer_id: str
    payment_method_id: str
    amount: int
    currency: str
    plan_id: str
    description: str


def consent_words(plan_id: str, monthly_cap: int) -> str:
    """The consent the person gives by turning auto top-up on (stored with its time)."""
    pack = catalog.plan_by_id(plan_id)
    what = f"{catalog.price_text(pack.price)} for {pack.credits_granted:,} credits" if pack else ""
    return (
        f"I allow Credit App to charge my saved card {what} whenever my available balance "
        f"falls below the amount I set, up to {catalog.price_text(monthly_cap)} a month, "
        "until I turn auto top-up off."
    )


def parse_money(raw: str) -> int | None:
    """Cents of a typed amount ("24", "24.5", "$1,000.00"); None when it is not one (or
    longer than any amount allowed: int() of a huge digit string is slow or refused)."""
    if len(raw) > 20:
        return None
    match = _MONEY.fullmatch(raw.strip())
    if match is None:
        return None
    dollars, cents = match.group(1).replace(",", ""), (match.group(2) or "0").ljust(2, "0")
    return int(dollars) * 100 + int(cents)


def _month_start(session: Session, user_id: uuid.UUID, now: datetime) -> datetime:
    zone = session.scalar(select(col(User.time_zone)).where(col(User.id) == user_id))
    return zones.month_start(now, zones.zone(zone))


def charged_this_month(session: Session, user_id: uuid.UUID, now: datetime) -> int:
    """Cents of this calendar month's charges (in the person's zone) not failed."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(col(TopUpCharge.amount)), 0)).where(
                col(TopUpCharge.user_id) == user_id,
                col(TopUpCharge.status) != TopUpStatus.FAILED,
                col(TopUpCharge.created_at) >= _month_start(session, user_id, now),
            )
        )
        or 0
    )


def topup_view(session: Session, user_id: uuid.UUID, now: datetime) -> AutoTopUpView:
    row = session.get(AutoTopUp, user_id)
    if row is None:
        first = catalog.packs()[0]
        return AutoTopUpView(
            False,
            0,
            first.id,
            3 * first.price,
            first.currency,
            "",
            "",
            None,
            0,
            "",
            "",
            False,
            False,
        )
    pack = catalog.plan_by_id(row.plan_id)
    card = f"{(row.card_brand or 'Card').title()} •••• {row.card_last4}" if row.card_last4 else ""
    next_charge = (
        f"{catalog.price_text(pack.price)} for {pack.credits_granted:,} credits when your "
        f"available balance falls below {row.threshold:,}"
        if row.enabled and pack
        else ""
    )
    return AutoTopUpView(
        enabled=row.enabled,
        threshold=row.threshold,
        plan_id=row.plan_id,
        monthly_cap=row.monthly_cap,
        currency=pack.currency if pack else "usd",
        card=card,
        consent_text=row.consent_text or "",
        consented_at=row.consented_at,
        charged_this_month=charged_this_month(session, user_id, now),
        next_charge=next_charge,
        last_error=row.last_error or "",
        switched_off=not row.enabled and row.consecutive_failures >= FAILURES_BEFORE_OFF,
        in_flight=row.in_flight_charge_id is not None,
    )


async def load_auto_topup(
    user_id: uuid.UUID, *, gateway: StripeGateway | None, engine: Engine | None = None
) -> AutoTopUpView:
    """The dashboard's auto top-up card. With no card on record yet, the newest card
    Stripe keeps for the customer is named (so the form can say which one it will use)."""
    view = await in_read(topup_view, user_id, clock.now(), engine=engine)
    if view.card or gateway is None:
        return view
    customer = await in_read(_customer_of, user_id, engine=engine)
    cards = await gateway.saved_cards(customer) if customer else []
    if not cards:
        return view
    return replace(view, card=f"{cards[0].brand.title()} •••• {cards[0].last4}")


def _customer_of(session: Session, user_id: uuid.UUID) -> str | None:
    return session.scalar(select(col(User.stripe_customer_id)).where(col(User.id) == user_id))


def check_form(threshold: str, plan_id: str, monthly_cap: str, consent: bool) -> dict[str, str]:
    """What is wrong with a "turn on" form, by field; empty when nothing is."""
    errors: dict[str, str] = {}
    typed = threshold.strip().replace(",", "")
    # Length first: int() of a huge digit string is slow, and refused past 4,300 digits.
    if (
        len(typed) > len(str(THRESHOLD_MAX))
        or not typed.isascii()
        or not typed.isdigit()
        or not 1 <= int(typed) <= THRESHOLD_MAX
    ):
        errors["threshold"] = f"Enter a whole number of credits from 1 to {THRESHOLD_MAX:,}."
    pack = catalog.plan_by_id(plan_id)
    if pack is None or pack.kind != PlanKind.PACK:
        errors["plan_id"] = "Choose one of the packs."
    cap = parse_money(monthly_cap)
    if cap is None or cap > CAP_MAX:
        errors["monthly_cap"] = f"Enter an amount in dollars, up to {catalog.price_text(CAP_MAX)}."
    elif pack is not None and cap < pack.price:
        errors["monthly_cap"] = (
            f"The cap must allow at least one pack ({catalog.price_text(pack.price)})."
        )
    if not consent:
        errors["consent"] = "Tick the box to allow these charges."
    return errors


async def save_auto_topup(
    user_id: uuid.UUID,
    *,
    gateway: StripeGateway | None,
    enabled: bool,
    threshold: str,
    plan_id: str,
    monthly_cap: str,
    consent: bool,
    engine: Engine | None = None,
) -> AutoTopUpChange:
    """Turn auto top-up off, or on with these settings (checked, nothing written when
    anything is wrong). Turning it on picks the newest saved card and records consent."""
    now = clock.now()
    if not enabled:
        await in_transaction(turn_off, user_id, now, engine=engine)
        return AutoTopUpChange({}, await in_read(topup_view, user_id, now, engine=engine))
    errors = check_form(threshold, plan_id, monthly_cap, consent)
    if errors:
        return AutoTopUpChange(errors, None)
    customer = await in_read(_customer_of, user_id, engine=engine)
    cards = await gateway.saved_cards(customer) if customer and gateway else []
    if not cards:
        return AutoTopUpChange({"card": NO_CARD}, None)
    cap = parse_money(monthly_cap)
    assert cap is not None  # checked
    settings = _Settings(int(threshold.strip().replace(",", "")), plan_id, cap)
    await in_transaction(_turn_on, user_id, settings, cards[0], now, engine=engine)
    return AutoTopUpChange({}, await in_read(topup_view, user_id, now, engine=engine))


@dataclass(frozen=True)
class _Settings:
    threshold: int
    plan_id: str
    monthly_cap: int


def _turn_on(
    session: Session, user_id: uuid.UUID, settings: _Settings, card: SavedCard, now: datetime
) -> None:
    row = session.get(AutoTopUp, user_id, with_for_update=True) or AutoTopUp(
        user_id=user_id, threshold=0, plan_id=settings.plan_id, monthly_cap=0
    )
    row.enabled = True
    row.threshold, row.plan_id, row.monthly_cap = (
        settings.threshold,
        settings.plan_id,
        settings.monthly_cap,
    )
    row.payment_method_id, row.card_brand, row.card_last4 = (
        card.payment_method_id,
        card.brand[:32],
        card.last4[:4],
    )
    row.consent_text = consent_words(settings.plan_id, settings.monthly_cap)
    row.consented_at = now
    row.consecutive_failures, row.last_error, row.retry_after = 0, None, None
    row.updated_at = now
    session.add(row)


def turn_off(session: Session, user_id: uuid.UUID, now: datetime) -> None:
    """Switch auto top-up off (the person, or an operator on their behalf)."""
    row = session.get(AutoTopUp, user_id, with_for_update=True)
    if row is not None:
        row.enabled, row.updated_at = False, now


def forget(session: Session, *, user_id: uuid.UUID) -> None:
    """The account is being deleted: its card reference and consent go."""
    session.execute(delete(AutoTopUp).where(col(AutoTopUp.user_id) == user_id))


# --- starting charges ------------------------------------------------------------------


def due_users(session: Session, now: datetime) -> list[uuid.UUID]:
    """People whose available balance is below their threshold, with no charge in flight."""
    return list(
        session.scalars(
            select(col(AutoTopUp.user_id))
            .join(User, col(User.id) == col(AutoTopUp.user_id))
            .where(
                col(AutoTopUp.enabled),
                col(AutoTopUp.in_flight_charge_id).is_(None),
                col(AutoTopUp.retry_after).is_(None) | (col(AutoTopUp.retry_after) <= now),
                col(User.credits) - col(User.held) < col(AutoTopUp.threshold),
                col(User.deleted_at).is_(None),
            )
        )
    )


def claim(session: Session, user_id: uuid.UUID, now: datetime) -> ChargeOrder | None:
    """Start one charge for this person if it is still due (re-checked under their row
    lock, so only one claim wins), within their monthly cap."""
    user = session.scalar(select(User).where(col(User.id) == user_id).with_for_update())
    row = session.get(AutoTopUp, user_id, with_for_update=True)
    if user is None or row is None or not row.enabled or row.in_flight_charge_id is not None:
        return None
    if row.retry_after is not None and row.retry_after > now:
        return None
    if user.credits - user.held >= row.threshold:
        return None
    plan = session.get(SubscriptionPlan, row.plan_id)
    if user.stripe_customer_id is None or row.payment_method_id is None or plan is None:
        return None
    if charged_this_month(session, user_id, now) + plan.price > row.monthly_cap:
        capped = (
            f"This month's cap of {catalog.price_text(row.monthly_cap)} is reached: no more "
            "top-ups until next month."
        )
        if row.last_error != capped:
            row.last_error, row.updated_at = capped, now
        return None
    charge = TopUpCharge(
        user_id=user_id,
        plan_id=plan.id,
        amount=plan.price,
        currency=plan.currency,
        created_at=now,
    )
    session.add(charge)
    session.flush()
    assert charge.id is not None  # flushed
    row.in_flight_charge_id, row.in_flight_since, row.updated_at = charge.id, now, now
    return _order(charge, user.stripe_customer_id, row.payment_method_id, plan.name)


def _name(plan_id: str) -> str:
    spec = catalog.plan_by_id(plan_id)
    return spec.name if spec else plan_id


def _order(charge: TopUpCharge, customer: str, payment_method: str, name: str) -> ChargeOrder:
    assert charge.id is not None
    return ChargeOrder(
        charge_id=charge.id,
        user_id=charge.user_id,
        customer_id=customer,
        payment_method_id=payment_method,
        amount=charge.amount,
        currency=charge.currency,
        plan_id=charge.plan_id,
        description=f"Auto top-up: {name}",
    )


def stale_orders(session: Session, now: datetime) -> list[ChargeOrder]:
    """Charges in flight with no answer for STALE_AFTER: to ask Stripe again (same key)."""
    rows = session.execute(
        select(TopUpCharge, AutoTopUp, User)
        .join(AutoTopUp, col(AutoTopUp.in_flight_charge_id) == col(TopUpCharge.id))
        .join(User, col(User.id) == col(TopUpCharge.user_id))
        .where(
            col(TopUpCharge.status) == TopUpStatus.STARTED,
            col(TopUpCharge.created_at) < now - STALE_AFTER,
        )
    ).all()
    return [
        _order(charge, user.stripe_customer_id, row.payment_method_id, _name(charge.plan_id))
        for charge, row, user in rows
        if user.stripe_customer_id and row.payment_method_id
    ]


async def send(order: ChargeOrder, gateway: StripeGateway, engine: Engine | None = None) -> None:
    """Ask Stripe for the charge, with the customer's newest saved card (a card saved by a
    later Checkout, e.g. "pay with another card", replaces a declined one), and record a
    refusal; a success completes through the webhook (payment_intent.succeeded), which may
    arrive before this returns."""
    cards = await gateway.saved_cards(order.customer_id)
    card = cards[0] if cards else None
    outcome = await gateway.charge_saved_card(
        customer_id=order.customer_id,
        payment_method_id=card.payment_method_id if card else order.payment_method_id,
        amount=order.amount,
        currency=order.currency,
        description=order.description,
        metadata={
            "user_id": str(order.user_id),
            "plan_id": order.plan_id,
            CHARGE_KEY: str(order.charge_id),
        },
        idempotency_key=f"auto-topup-{order.charge_id}",
    )
    await in_transaction(_record_answer, order.charge_id, card, outcome, engine=engine)


def _record_answer(
    session: Session, charge_id: int, card: SavedCard | None, outcome: OffSessionCharge
) -> None:
    charge = session.get(TopUpCharge, charge_id)
    assert charge is not None  # claimed rows are never deleted
    _lock_user(session, charge.user_id)
    session.refresh(charge, with_for_update=True)
    if outcome.payment_intent_id and charge.payment_intent_id is None:
        charge.payment_intent_id = outcome.payment_intent_id
    row = session.get(AutoTopUp, charge.user_id, with_for_update=True)
    if row is not None and card is not None:
        row.payment_method_id, row.card_brand, row.card_last4 = (
            card.payment_method_id,
            card.brand[:32],
            card.last4[:4],
        )
    if outcome.failure is not None:
        record_failure(session, charge, outcome.failure, clock.now(), code=outcome.code)


async def run_due(
    gateway: StripeGateway,
    *,
    now: datetime | None = None,
    notify: Callable[[list[str]], Awaitable[None]] | None = None,
    engine: Engine | None = None,
) -> int:
    """One turn of the app's loop: start a charge for everyone due, and ask again about
    charges whose answer was lost. `notify` is told whose charge started (their open tabs
    show it in flight). Returns how many charges were sent."""
    now = now or clock.now()
    orders = await in_read(stale_orders, now, engine=engine)
    for user_id in await in_read(due_users, now, engine=engine):
        if (order := await in_transaction(claim, user_id, now, engine=engine)) is not None:
            orders.append(order)
    if orders and notify is not None:
        await notify([str(order.user_id) for order in orders])
    for order in orders:
        try:
            await send(order, gateway, engine)
        except Exception:
            # Left in flight: asked again with the same key after STALE_AFTER.
            logger.exception("auto top-up charge %s: no answer from Stripe", order.charge_id)
    return len(orders)


# --- Stripe's answers ---------------------------------------------------------------------


def _lock_user(session: Session, user_id: uuid.UUID) -> None:
    session.execute(select(col(User.id)).where(col(User.id) == user_id).with_for_update())


def record_failure(
    session: Session, charge: TopUpCharge, reason: str, now: datetime, *, code: str | None
) -> bool:
    """A charge failed (the caller holds the user's lock): record it once, count it, switch
    off after FAILURES_BEFORE_OFF in a row, tell the person (dashboard, e-mail, and the
    auto_topup.failed webhook; `code` is Stripe's decline code)."""
    if charge.status != TopUpStatus.STARTED:
        return False
    charge.status, charge.error, charge.settled_at = TopUpStatus.FAILED, reason[:255], now
    row = session.get(AutoTopUp, charge.user_id, with_for_update=True)
    if row is None:  # the account was deleted meanwhile
        return True
    if row.in_flight_charge_id == charge.id:
        row.in_flight_charge_id, row.in_flight_since = None, None
    row.consecutive_failures += 1
    row.retry_after = now + RETRY_AFTER_FAILURE
    switched_off = row.consecutive_failures >= FAILURES_BEFORE_OFF
    if switched_off:
        row.enabled = False
    row.last_error = (SWITCHED_OFF + " " if switched_off else "") + f"Last payment: {reason}"
    row.last_error, row.updated_at = row.last_error[:255], now
    user = session.get(User, charge.user_id)
    if user is not None and user.deleted_at is None:
        link = get_settings().app_url.rstrip("/") + routes.DASHBOARD + "#auto-topup"
        mail.enqueue(
            session,
            messages.topup_failed(user.name, reason=reason, switched_off=switched_off, link=link),
            to=user.email,
            user_id=user.id,
        )
        outbound.auto_topup_failed(
            session,
            user_id=user.id,
            reason=reason,
            code=code,
            amount=charge.amount,
            currency=charge.currency,
            plan_id=charge.plan_id,
            switched_off=switched_off,
            now=now,
        )
    return True


def _charge_named(session: Session, intent: dict[str, Any]) -> TopUpCharge | None:
    raw = (intent.get("metadata") or {}).get(CHARGE_KEY)
    if not isinstance(raw, str) or not _ID.fullmatch(raw):
        return None
    return session.get(TopUpCharge, int(raw))


def payment_succeeded(session: Session, intent: dict[str, Any]) -> Handled:
    """An auto top-up charge was paid: grant its pack once, after checking that the
    payment is this charge's (its customer is the person's, its amount and currency the
    pack's), and let the next crossing start a charge again."""
    charge = _charge_named(session, intent)
    if charge is None:
        return Handled.ignored(
            "ignored: not an auto top-up payment (Checkout's packs are "
            "granted by checkout.session.completed)"
        )
    _lock_user(session, charge.user_id)
    session.refresh(charge, with_for_update=True)
    user = session.get(User, charge.user_id)
    plan = session.get(SubscriptionPlan, charge.plan_id)
    assert user is not None and plan is not None  # foreign keys
    metadata = intent.get("metadata") or {}
    if metadata.get("user_id") != str(user.id) or intent.get("customer") != user.stripe_customer_id:
        return Handled.ignored(f"refused: payment {intent.get('id')} is not this account's")
    amount, currency = intent.get("amount_received") or intent.get("amount"), intent.get("currency")
    if (amount, str(currency).lower()) != (charge.amount, charge.currency.lower()) or (
        charge.amount != plan.price
    ):
        return Handled(
            EventOutcome.IGNORED,
            f"ignored: paid {amount} {currency} for {plan.id}, which costs {plan.price}; "
            "nothing granted",
            (user.id,),
        )
    if charge.status == TopUpStatus.SUCCEEDED:
        return Handled.duplicate("already granted", user.id)
    intent_id = intent["id"]
    detail = purchases.grant_pack_payment(
        session,
        user_id=user.id,
        plan=plan,
        payment_intent=intent_id,
        amount_paid=charge.amount,
        currency=charge.currency,
        recover_shortfalls=False,
    )
    now = clock.now()
    charge.status, charge.settled_at = TopUpStatus.SUCCEEDED, now
    charge.payment_intent_id = charge.payment_intent_id or intent_id
    row = session.get(AutoTopUp, user.id, with_for_update=True)
    if row is not None:
        if row.in_flight_charge_id == charge.id:
            row.in_flight_charge_id, row.in_flight_since = None, None
        row.consecutive_failures, row.last_error, row.retry_after = 0, None, None
        row.updated_at = now
    return Handled.applied(f"auto top-up: {detail}", user.id)


def payment_failed(session: Session, intent: dict[str, Any]) -> Handled:
    """An auto top-up charge failed (Stripe's word for it, also when our own request saw
    the refusal first: recorded once)."""
    charge = _charge_named(session, intent)
    if charge is None:
        return Handled.ignored("ignored: not an auto top-up payment")
    _lock_user(session, charge.user_id)
    session.refresh(charge, with_for_update=True)
    error = intent.get("last_payment_error") or {}
    reason = error.get("message") or "the payment failed"
    code = error.get("decline_code") or error.get("code")
    if record_failure(session, charge, reason, clock.now(), code=code):
        return Handled.applied(f"auto top-up charge {charge.id} failed: {reason}", charge.user_id)
    return Handled.duplicate(
        f"auto top-up charge {charge.id}: already {charge.status}", charge.user_id
    )
