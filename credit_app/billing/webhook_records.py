"""The recorded Stripe events: listing them for operators (`credit-app events`), and
erasing personal data from the stored payloads when a user deletes their account."""

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from credit_app.models import EventOutcome, StripeEvent, User

# Fields of Stripe objects that describe a person (or their card) rather than a payment.
# Handlers never read them, so a payload without them still replays. Blanked wherever
# they appear in an event (its object, `previous_attributes`, expanded objects, metadata).
PERSONAL_FIELDS = frozenset(
    {
        "email",
        "name",
        "phone",
        "address",
        "shipping",
        "shipping_details",
        "billing_details",
        "customer_details",
        "customer_email",
        "customer_name",
        "customer_phone",
        "customer_address",
        "customer_shipping",
        "customer_tax_ids",
        "receipt_email",
        "tax_ids",
        "individual",
        "custom_fields",
        "ip_address",
        "account_holder_name",
        "cardholder_name",
        "last4",
        "fingerprint",
        "exp_month",
        "exp_year",
    }
)


def recorded_events(
    session: Session, *, outcome: EventOutcome | None = None, limit: int = 50
) -> Sequence[StripeEvent]:
    """The most recently received events first, optionally only those with `outcome`."""
    query = select(StripeEvent).order_by(
        col(StripeEvent.received_at).desc(), col(StripeEvent.id).desc()
    )
    if outcome is not None:
        query = query.where(col(StripeEvent.outcome) == outcome)
    return session.exec(query.limit(limit)).all()


def _blank(value: Any) -> tuple[Any, bool]:
    """`value` with every personal field set to None, and whether anything changed."""
    if isinstance(value, dict):
        changed = False
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            if key in PERSONAL_FIELDS:
                cleaned[key] = None
                changed = changed or item is not None
            else:
                cleaned[key], inner = _blank(item)
                changed = changed or inner
        return cleaned, changed
    if isinstance(value, list):
        items = [_blank(item) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    return value, False


def erase_personal_data_from_events(
    session: Session, *, user_id: uuid.UUID | None = None, stripe_customer_id: str | None = None
) -> int:
    """Blank the personal fields (emails, names, addresses, phone numbers, card details)
    in the stored payloads of one person's events: those recorded for `user_id` or for
    its Stripe customer (looked up while the user still exists; pass `stripe_customer_id`
    once it is gone). For account deletion; the caller owns the transaction. The events
    keep their ids, types, amounts and outcomes. Returns how many payloads changed."""
    customers = {stripe_customer_id} if stripe_customer_id else set()
    user = session.get(User, user_id) if user_id is not None else None
    if user is not None and user.stripe_customer_id:
        customers.add(user.stripe_customer_id)
    conditions: list[ColumnElement[bool]] = []
    if customers:
        conditions.append(col(StripeEvent.stripe_customer_id).in_(customers))
    if user_id is not None:
        conditions.append(col(StripeEvent.user_id) == user_id)
    if not conditions:
        raise ValueError("name the user, their Stripe customer, or both")
    rows = session.exec(
        select(StripeEvent).where(or_(*conditions), col(StripeEvent.payload).is_not(None))
    ).all()
    erased = 0
    for row in rows:
        cleaned, changed = _blank(json.loads(row.payload or "null"))
        if changed:
            row.payload = json.dumps(cleaned, separators=(",", ":"), sort_keys=True)
            session.add(row)
            erased += 1
    session.flush()
    return erased
