"""Credits bought and taken back: each paid invoice or pack grants once; refunds and
disputes take back at most what that payment granted.

**Credits follow money.** A subscription invoice grants, for each line that bills one of
our plan prices, `plan credits x line amount / price unit amount`: the amount before
discounts (Stripe's `subtotal`, so a coupon the operator chose does not cut credits), a
proration line counted with its sign (an upgrade's "unused time" credit line is
negative, its "remaining time" line positive). The lines are summed per invoice, rounded
down, never below zero: a full-period line grants exactly its plan's credits, an
upgrade's prorations the prorated difference, a $0 (trial) line nothing, and a downgrade's
negative prorations nothing (Stripe keeps that money as customer balance; it is not
taken from the credits already granted). The plan is looked up for each line by its price
(the price's `metadata.plan_id`, its lookup key, or the price id seed-plans recorded),
never from the invoice's first line: Stripe puts prorations first. What each line granted
is kept (`PurchaseLine`).

Ledger keys carry the Stripe object that caused the change, so a grant cannot happen twice
even when several event types (or several deliveries of one event) report the same
payment. The keys (`stripe:invoice:`, `stripe:payment:`, `stripe:purchase:`) are built and
documented in credit_app/credits/keys.py; the invoice key is the one grants used before
the line rule (revision 0008), so an invoice granted then is recognised now.

Each function returns a short description of what it did, stored with the Stripe event.
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from credit_app import clock, credits
from credit_app.billing import catalog, drip
from credit_app.credits import keys
from credit_app.models import (
    DripStatus,
    GrantSource,
    PlanInterval,
    PlanKind,
    Purchase,
    PurchaseLine,
    SubscriptionPlan,
    User,
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: Any) -> datetime | None:
    seconds = _int(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


# --- reading an invoice line (API 2026-10-28 field paths) ---------------------------------


def line_price(line: dict[str, Any]) -> str | dict[str, Any] | None:
    """The price a line bills: `pricing.price_details.price` (an id, or the Price when
    expanded); payloads from before API 2025-03 had `price` on the line."""
    pricing = _dict(line.get("pricing"))
    if pricing.get("type") in (None, "price_details"):
        price = _dict(pricing.get("price_details")).get("price")
        if price:
            return price
    return line.get("price") or None


def line_price_id(line: dict[str, Any]) -> str | None:
    price = line_price(line)
    if isinstance(price, dict):
        return price.get("id")
    return price if isinstance(price, str) else None


def pre_discount_amount(line: dict[str, Any]) -> int:
    """The line's amount before discounts and taxes: Stripe's `subtotal` ("before any
    discounts or taxes"), else `amount` (discounts are listed apart, in
    `discount_amounts`). Proration lines too: Checkout creates our subscriptions with
    `billing_mode.flexible.proration_discounts = "itemized"`, so Stripe lists a coupon's
    share of a proration in `discount_amounts` and its `subtotal` is the gross amount
    (under the default, `included`, a proration line would be net of the coupon)."""
    subtotal = _int(line.get("subtotal"))
    if subtotal is not None:
        return subtotal
    return _int(line.get("amount")) or 0


def is_proration(line: dict[str, Any]) -> bool:
    parent = _dict(line.get("parent"))
    for details in ("subscription_item_details", "invoice_item_details"):
        if _dict(parent.get(details)).get("proration"):
            return True
    return bool(line.get("proration"))


def plan_for_line_price(session: Session, price: dict[str, Any]) -> SubscriptionPlan | None:
    """Our subscription plan behind a Stripe price: the `plan_id` seed-plans puts in its
    metadata (it stays when a new price takes the lookup key over), else its lookup key,
    else the price id recorded for a plan. None for anyone else's price."""
    plan: SubscriptionPlan | None = None
    plan_id = _dict(price.get("metadata")).get("plan_id")
    if isinstance(plan_id, str) and plan_id:
        plan = session.get(SubscriptionPlan, plan_id)
    if plan is None and price.get("lookup_key"):
        plan = session.scalar(
            select(SubscriptionPlan).where(col(SubscriptionPlan.lookup_key) == price["lookup_key"])
        )
    if plan is None and price.get("id"):
        plan = session.scalar(
            select(SubscriptionPlan).where(col(SubscriptionPlan.stripe_price_id) == price["id"])
        )
    return plan if plan is not None and plan.kind == PlanKind.SUBSCRIPTION else None


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice line that bills one of our plans, and the credits it is worth."""

    stripe_line_id: str | None
    price_id: str | None
    plan: SubscriptionPlan
    amount: int  # before discounts; negative for a credit proration
    currency: str
    unit_amount: int  # what one unit of the line's price costs
    proration: bool
    period_start: datetime | None
    period_end: datetime | None

    @property
    def exact_credits(self) -> Fraction:
        if self.unit_amount <= 0:
            return Fraction(0)
        return Fraction(self.plan.credits_granted * self.amount, self.unit_amount)


def invoice_lines(
    session: Session,
    lines: Sequence[dict[str, Any]],
    *,
    currency: str | None,
    price_for: Callable[[str], dict[str, Any] | None],
) -> tuple[list[InvoiceLine], list[str]]:
    """The lines that bill our plans, and a note for each line that does not count.

    `price_for(price_id)` gives the Price a line bills when the line carries only its id
    (None when it was not fetched: that raises, so the event fails and is retried rather
    than granting from part of the invoice)."""
    found: list[InvoiceLine] = []
    skipped: list[str] = []
    for line in lines:
        ref = line_price(line)
        price = ref if isinstance(ref, dict) else None
        if price is None and isinstance(ref, str):
            price = price_for(ref)
            if price is None:
                # A price no plan names by id was not fetched: do not guess.
                plan = session.scalar(
                    select(SubscriptionPlan).where(col(SubscriptionPlan.stripe_price_id) == ref)
                )
                if plan is None:
                    raise LookupError(f"price {ref} of invoice line {line.get('id')} not fetched")
                price = {"id": ref, "metadata": {"plan_id": plan.id}}
        if price is None:
            skipped.append(f"{line.get('id')}: no price")
            continue
        plan = plan_for_line_price(session, price)
        if plan is None:
            skipped.append(f"{line.get('id')}: price {price.get('id')} is not one of our plans")
            continue
        line_currency = line.get("currency") or currency or plan.currency
        if str(line_currency).lower() != plan.currency.lower():
            skipped.append(
                f"{line.get('id')}: billed in {line_currency}, {plan.id} is in {plan.currency}"
            )
            continue
        unit_amount = _int(price.get("unit_amount"))
        period = _dict(line.get("period"))
        found.append(
            InvoiceLine(
                stripe_line_id=line.get("id"),
                price_id=price.get("id"),
                plan=plan,
                amount=pre_discount_amount(line),
                currency=plan.currency,
                unit_amount=unit_amount if unit_amount is not None else plan.price,
                proration=is_proration(line),
                period_start=_time(period.get("start")),
                period_end=_time(period.get("end")),
            )
        )
    return found, skipped


def line_shares(lines: Sequence[InvoiceLine]) -> list[int]:
    """Each line's whole credits, in order, adding up to the invoice's sum rounded down:
    the cumulative exact sum is rounded down at each line and the differences kept."""
    shares, running, before = [], Fraction(0), 0
    for line in lines:
        running += line.exact_credits
        now = floor(running)
        shares.append(now - before)
        before = now
    return shares


# --- recording purchases -----------------------------------------------------------------


def _id_of(purchase: Purchase) -> int:
    if purchase.id is None:
        raise ValueError("the purchase is not flushed yet")
    return purchase.id


def _grant_description(session: Session, plan_id: str) -> str:
    """What the ledger row says: "Pro monthly credits", or "500 credits pack" (a pack's name
    already says how many credits it is)."""
    plan = session.get(SubscriptionPlan, plan_id)
    if plan is not None and plan.kind == PlanKind.PACK:
        return f"{plan.name} pack"
    return f"{_plan_name(session, plan_id)} credits"


def _plan_name(session: Session, plan_id: str) -> str:
    plan = session.get(SubscriptionPlan, plan_id)
    if plan is None:
        return plan_id
    if plan.kind == PlanKind.SUBSCRIPTION:
        return f"{plan.name} {'yearly' if plan.interval == PlanInterval.YEAR else 'monthly'}"
    return plan.name


def invoice_already_granted(session: Session, invoice_id: str) -> str | None:
    """Why an invoice must not grant again, if it must not: a purchase is recorded for it,
    or the ledger holds its grant (a grant of any revision: the key has not changed)."""
    if find_purchase(session, payment_intent=None, invoice=invoice_id) is not None:
        return f"already granted ({keys.invoice_grant(invoice_id)})"
    if credits.entry_delta(session, key=keys.invoice_grant(invoice_id)) is not None:
        return f"already granted ({keys.invoice_grant(invoice_id)}, before purchases were recorded)"
    return None


def _main_plan(lines: Sequence[InvoiceLine]) -> SubscriptionPlan:
    """The plan a purchase is filed under: its full-period line's, else the line that bills
    the most (an upgrade's "remaining time" line)."""
    full = [line for line in lines if not line.proration]
    return max(full or lines, key=lambda line: line.amount).plan


def grant_invoice(
    session: Session,
    *,
    user_id: uuid.UUID,
    invoice: dict[str, Any],
    subscription_id: str,
    lines: Sequence[InvoiceLine],
) -> str:
    """Record the invoice's purchase and its lines, and grant their sum (if above zero)
    under the invoice's key. The caller checked `invoice_already_granted` first; a
    concurrent grant of the same invoice fails on the purchase's unique invoice id and
    rolls back (the event is retried, then found already granted)."""
    if not lines:
        raise ValueError("an invoice grant needs at least one line of ours")
    shares = line_shares(lines)
    total = max(0, sum(shares))
    plan = _main_plan(lines)
    purchase = Purchase(
        user_id=user_id,
        plan_id=plan.id,
        stripe_invoice_id=invoice["id"],
        stripe_subscription_id=subscription_id,
        amount_paid=_int(invoice.get("amount_paid")) or 0,
        currency=invoice.get("currency") or plan.currency,
        credits_granted=total,
    )
    session.add(purchase)
    session.flush()
    for line, share in zip(lines, shares, strict=True):
        session.add(
            PurchaseLine(
                purchase_id=_id_of(purchase),
                user_id=user_id,
                stripe_line_id=line.stripe_line_id,
                stripe_price_id=line.price_id,
                plan_id=line.plan.id,
                amount=line.amount,
                currency=line.currency,
                credits=share,
                proration=line.proration,
                period_start=line.period_start,
                period_end=line.period_end,
            )
        )
    session.flush()
    key = keys.invoice_grant(invoice["id"])
    counted = f"{len(lines)} line{'s' if len(lines) != 1 else ''}"
    if total <= 0:
        return f"paid; its {counted} grant no credits ({sum(shares)} by the rule, never below 0)"
    description = _grant_description(session, plan.id)
    if any(line.proration for line in lines):
        description = f"{description} (plan change)"
    period = _period_of(lines)
    now = clock.now()
    if plan.interval == PlanInterval.YEAR and not all(line.proration for line in lines):
        return drip.schedule(
            session,
            purchase=purchase,
            total=total,
            period_start=period[0] or now,
            description=description,
            now=now,
        )
    result = credits.grant(
        session,
        user_id=user_id,
        amount=total,
        idempotency_key=key,
        source=GrantSource.SUBSCRIPTION,
        description=description,
        terms=drip.plan_terms(plan.id, expires_at=period[1], period_start=period[0]),
        now=now,
    )
    if result.replayed:
        return f"already granted ({key})"
    return f"granted {total} credits for {counted} ({key})"


def _period_of(lines: Sequence[InvoiceLine]) -> tuple[datetime | None, datetime | None]:
    """The period the invoice's credits are for: its full-period line's, else (a plan
    change alone) its proration's, which ends with the current period."""
    full = [line for line in lines if not line.proration and line.period_end is not None]
    dated = full or [line for line in lines if line.period_end is not None]
    if not dated:
        return None, None
    line = max(dated, key=lambda line: line.amount)
    return line.period_start, line.period_end


def pack_payment_problem(plan: SubscriptionPlan, checkout_session: dict[str, Any]) -> str | None:
    """Why a pack's checkout must not grant, if it must not: the amount paid before
    discounts and taxes (`amount_subtotal`; in the price's own currency when Checkout
    showed a local one, `currency_conversion`) and its currency must be the pack's price."""
    conversion = _dict(checkout_session.get("currency_conversion"))
    if conversion.get("source_currency"):
        currency, amount = conversion.get("source_currency"), conversion.get("amount_subtotal")
    else:
        currency = checkout_session.get("currency")
        amount = checkout_session.get("amount_subtotal")
        if _int(amount) is None:
            amount = checkout_session.get("amount_total")
    if not isinstance(currency, str) or _int(amount) is None:
        return "the checkout session states no amount or currency"
    if currency.lower() != plan.currency.lower() or amount != plan.price:
        return (
            f"paid {amount} {currency.lower()} for {plan.id}, which costs "
            f"{plan.price} {plan.currency.lower()}"
        )
    return None


def grant_pack(
    session: Session, *, user_id: uuid.UUID, plan: SubscriptionPlan, checkout_session: dict
) -> str:
    """A pack bought through Checkout: see grant_pack_payment."""
    return grant_pack_payment(
        session,
        user_id=user_id,
        plan=plan,
        payment_intent=checkout_session["payment_intent"],
        amount_paid=_int(checkout_session.get("amount_total")) or plan.price,
        currency=checkout_session.get("currency") or plan.currency,
    )


def grant_pack_payment(
    session: Session,
    *,
    user_id: uuid.UUID,
    plan: SubscriptionPlan,
    payment_intent: str,
    amount_paid: int,
    currency: str,
    recover_shortfalls: bool = True,
) -> str:
    """Record a pack's purchase (one line) and grant its credits, once per payment (by
    Checkout or by auto top-up: the same key, `keys.pack_grant`). An auto top-up's pack
    recovers no shortfall (`recover_shortfalls=False`): taking its credits would leave the
    balance under the threshold and start the next charge, and the next, up to the cap."""
    key = keys.pack_grant(payment_intent)
    if find_purchase(session, payment_intent=payment_intent, invoice=None) is None:
        purchase = Purchase(
            user_id=user_id,
            plan_id=plan.id,
            stripe_payment_intent_id=payment_intent,
            amount_paid=amount_paid,
            currency=currency,
            credits_granted=plan.credits_granted,
        )
        session.add(purchase)
        session.flush()
        session.add(
            PurchaseLine(
                purchase_id=_id_of(purchase),
                user_id=user_id,
                plan_id=plan.id,
                amount=plan.price,
                currency=plan.currency,
                credits=plan.credits_granted,
            )
        )
        session.flush()
    if plan.credits_granted <= 0:
        return "paid; the plan grants no credits"
    now = clock.now()
    spec = catalog.plan_by_id(plan.id)
    days = spec.expires_after_days if spec is not None else None
    result = credits.grant(
        session,
        user_id=user_id,
        amount=plan.credits_granted,
        idempotency_key=key,
        source=GrantSource.PACK,
        description=_grant_description(session, plan.id),
        terms=credits.LotTerms(expires_at=now + timedelta(days=days))
        if days
        else credits.NEVER_EXPIRES,
        now=now,
        recover_shortfalls=recover_shortfalls,
    )
    if result.replayed:
        return f"already granted ({key})"
    return f"granted {plan.credits_granted} credits ({key})"


def find_purchase(
    session: Session, *, payment_intent: str | None, invoice: str | None
) -> Purchase | None:
    if payment_intent:
        found = session.scalar(
            select(Purchase).where(col(Purchase.stripe_payment_intent_id) == payment_intent)
        )
        if found:
            return found
    if invoice:
        return session.scalar(select(Purchase).where(col(Purchase.stripe_invoice_id) == invoice))
    return None


def _lock_owner(session: Session, purchase: Purchase) -> None:
    """Serialize take-backs of one user's purchases: a refund and a dispute applied at the
    same time must each see what the other took (READ COMMITTED: every statement after
    this lock sees what was committed before it was granted)."""
    session.execute(select(col(User.id)).where(col(User.id) == purchase.user_id).with_for_update())


def credits_taken_back(session: Session, purchase: Purchase) -> int:
    """Credits already taken back from this purchase (net of restores) plus shortfalls."""
    return credits.net_taken_under(session, prefix=keys.purchase_prefix(purchase.id))


def _grant_key(purchase: Purchase) -> str | None:
    """The key the purchase's credits were granted under (a yearly payment's months are
    keyed under it too): what a take-back of it takes from first."""
    if purchase.stripe_invoice_id:
        return keys.invoice_grant(purchase.stripe_invoice_id)
    if purchase.stripe_payment_intent_id:
        return keys.pack_grant(purchase.stripe_payment_intent_id)
    return None


def _take_back(session: Session, purchase: Purchase, amount: int, key: str, why: str) -> str:
    if amount <= 0:
        return "nothing more to take back"
    result = credits.clawback(
        session,
        user_id=purchase.user_id,
        amount=amount,
        idempotency_key=key,
        description=why,
        prefer_key=_grant_key(purchase),
        now=clock.now(),
    )
    if result.replayed:
        return f"already taken back ({key})"
    note = f"; {result.shortfall} already spent (shortfall recorded)" if result.shortfall else ""
    return f"took back {result.taken} credits{note}"


def clawback_refund(session: Session, purchase: Purchase, charge: dict) -> str:
    """Take back credits in proportion to the refunded share of the payment. The key uses
    the cumulative refunded amount, so duplicates and out-of-order refunds are safe."""
    amount, refunded = charge.get("amount") or 0, charge.get("amount_refunded") or 0
    if amount <= 0 or refunded <= 0:
        return "nothing refunded"
    _lock_owner(session, purchase)
    purchase.amount_refunded = max(purchase.amount_refunded, min(refunded, amount))
    session.flush()
    if drip.has_schedule(session, purchase):
        # Of the months delivered the person keeps their unrefunded share; the months to
        # come are scaled when granted, or cancelled by a full refund.
        scheduled, granted = drip.delivered(session, purchase)
        kept = floor(scheduled * Fraction(amount - min(refunded, amount), amount))
        due = granted - kept - credits_taken_back(session, purchase)
        if refunded >= amount:
            drip.set_pending(session, purchase, of=DripStatus.PENDING, to=DripStatus.CANCELLED)
    else:
        target = purchase.credits_granted * min(refunded, amount) // amount
        due = target - credits_taken_back(session, purchase)
    key = keys.refund_takeback(purchase.id, refunded)
    return _take_back(session, purchase, due, key, "Refund")


def clawback_dispute(session: Session, purchase: Purchase, dispute_id: str) -> str:
    """A dispute withdraws the payment: take back whatever this purchase still holds."""
    key = keys.dispute_takeback(purchase.id, dispute_id)
    _lock_owner(session, purchase)
    if credits.entry_delta(session, key=key) is not None:
        return f"already taken back ({key})"
    granted = purchase.credits_granted
    if drip.has_schedule(session, purchase):
        drip.set_pending(session, purchase, of=DripStatus.PENDING, to=DripStatus.WITHHELD)
        granted = drip.delivered(session, purchase)[1]
    due = granted - credits_taken_back(session, purchase)
    return _take_back(session, purchase, due, key, "Payment disputed")


def restore_dispute(session: Session, purchase: Purchase, dispute_id: str) -> str:
    """A dispute won: give back exactly what that dispute took."""
    _lock_owner(session, purchase)
    taken_key = keys.dispute_takeback(purchase.id, dispute_id)
    drip.set_pending(session, purchase, of=DripStatus.WITHHELD, to=DripStatus.PENDING)
    # What the dispute could not take is owed no more (and what recovery took comes back).
    returned = credits.cancel_shortfall(session, reference=taken_key, now=clock.now())
    taken = credits.entry_delta(session, key=taken_key)
    if not taken:
        if returned:
            return f"the dispute took nothing; returned {returned} recovered credits"
        return "the dispute took nothing; nothing to restore"
    # The credits come back as a lot like the one the dispute took from, same expiry.
    result = credits.grant(
        session,
        user_id=purchase.user_id,
        amount=-taken,
        idempotency_key=keys.dispute_restore(purchase.id, dispute_id),
        source=GrantSource.DISPUTE_WON,
        description="Dispute resolved in your favour",
        returns_key=taken_key,
        now=clock.now(),
    )
    return "already restored" if result.replayed else f"restored {-taken} credits"
