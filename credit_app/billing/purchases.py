"""Credits bought and taken back: each paid invoice or pack grants once; refunds and
disputes take back at most what that payment granted.

Ledger keys carry the Stripe object that caused the change, so a grant cannot happen twice
even when several event types (or several deliveries of one event) report the same
payment. The keys (`stripe:invoice:`, `stripe:payment:`, `stripe:purchase:`) are built and
documented in credit_app/credits/keys.py.

Each function returns a short description of what it did, stored with the Stripe event.
"""

import uuid

from sqlalchemy import select
from sqlmodel import Session, col

from credit_app import credits
from credit_app.credits import keys
from credit_app.models import (
    GrantSource,
    PlanInterval,
    PlanKind,
    Purchase,
    SubscriptionPlan,
    User,
)


def _record_purchase(session: Session, purchase: Purchase, key: str, source: GrantSource) -> str:
    existing = session.scalar(
        select(Purchase).where(
            (col(Purchase.stripe_invoice_id) == purchase.stripe_invoice_id)
            if purchase.stripe_invoice_id
            else (col(Purchase.stripe_payment_intent_id) == purchase.stripe_payment_intent_id)
        )
    )
    if existing is None:
        session.add(purchase)
        session.flush()
    if purchase.credits_granted <= 0:
        return "paid; the plan grants no credits"
    result = credits.grant(
        session,
        user_id=purchase.user_id,
        amount=purchase.credits_granted,
        idempotency_key=key,
        source=source,
        description=_grant_description(session, purchase.plan_id),
    )
    if result.replayed:
        return f"already granted ({key})"
    return f"granted {purchase.credits_granted} credits ({key})"


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


def grant_invoice(
    session: Session,
    *,
    user_id: uuid.UUID,
    plan: SubscriptionPlan,
    invoice: dict,
    subscription_id: str,
) -> str:
    return _record_purchase(
        session,
        Purchase(
            user_id=user_id,
            plan_id=plan.id,
            stripe_invoice_id=invoice["id"],
            stripe_subscription_id=subscription_id,
            amount_paid=invoice.get("amount_paid") or 0,
            currency=invoice.get("currency") or plan.currency,
            credits_granted=plan.credits_granted,
        ),
        keys.invoice_grant(invoice["id"]),
        GrantSource.SUBSCRIPTION,
    )


def grant_pack(
    session: Session, *, user_id: uuid.UUID, plan: SubscriptionPlan, checkout_session: dict
) -> str:
    payment_intent = checkout_session["payment_intent"]
    return _record_purchase(
        session,
        Purchase(
            user_id=user_id,
            plan_id=plan.id,
            stripe_payment_intent_id=payment_intent,
            amount_paid=checkout_session.get("amount_total") or plan.price,
            currency=checkout_session.get("currency") or plan.currency,
            credits_granted=plan.credits_granted,
        ),
        keys.pack_grant(payment_intent),
        GrantSource.PACK,
    )


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


def _take_back(session: Session, purchase: Purchase, amount: int, key: str, why: str) -> str:
    if amount <= 0:
        return "nothing more to take back"
    result = credits.clawback(
        session, user_id=purchase.user_id, amount=amount, idempotency_key=key, description=why
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
    due = purchase.credits_granted - credits_taken_back(session, purchase)
    return _take_back(session, purchase, due, key, "Payment disputed")


def restore_dispute(session: Session, purchase: Purchase, dispute_id: str) -> str:
    """A dispute won: give back exactly what that dispute took."""
    _lock_owner(session, purchase)
    taken = credits.entry_delta(session, key=keys.dispute_takeback(purchase.id, dispute_id))
    if not taken:
        return "the dispute took nothing; nothing to restore"
    result = credits.grant(
        session,
        user_id=purchase.user_id,
        amount=-taken,
        idempotency_key=keys.dispute_restore(purchase.id, dispute_id),
        source=GrantSource.DISPUTE_WON,
        description="Dispute resolved in your favour",
    )
    return "already restored" if result.replayed else f"restored {-taken} credits"
