"""The recorded Stripe events: listing them for operators (`credit-app events`), finding
an unfinished one about a payment, and erasing personal data from the stored payloads
when a user deletes their account."""

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from credit_app.models import RETRYABLE_OUTCOMES, EventOutcome, StripeEvent, User

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
        # A dispute's evidence is what the merchant sent the bank about the buyer: their
        # email, addresses, IP, signature, messages, activity logs. The whole object goes
        # (its free-text fields have no fixed list); the named fields below also go where
        # they appear outside it (e.g. `enhanced_evidence`).
        "evidence",
        "customer_email_address",
        "billing_address",
        "shipping_address",
        "customer_purchase_ip",
        "customer_signature",
        "customer_communication",
        "access_activity_log",
        "uncategorized_text",
        # Free text on charges, payment intents, invoices and their lines ("Payment from
        # ada@example.com" is common). Blanked everywhere: no handler reads a description,
        # and telling a harmless one from a personal one is not possible.
        "description",
    }
)

# An erased event's `error` is blanked (the error text may quote the payload); a failed
# event's detail, which repeated that text, says this instead.
ERROR_ERASED = "failed; its error text was erased with the account's personal data"


def recorded_events(
    session: Session,
    *,
    outcome: EventOutcome | None = None,
    limit: int = 50,
    oldest_first: bool | None = None,
) -> Sequence[StripeEvent]:
    """Events, optionally only those with `outcome`: the most recently received first,
    except deferred or failed ones (`oldest_first` unset): those come in the order Stripe
    created them, oldest first, which is the order to replay them in (a refund after the
    payment it refunds)."""
    if oldest_first is None:
        oldest_first = outcome is not None and outcome in RETRYABLE_OUTCOMES
    if oldest_first:
        order = (col(StripeEvent.stripe_created).asc(), col(StripeEvent.id).asc())
    else:
        order = (col(StripeEvent.received_at).desc(), col(StripeEvent.id).desc())
    query = select(StripeEvent).order_by(*order)
    if outcome is not None:
        query = query.where(col(StripeEvent.outcome) == outcome)
    return session.exec(query.limit(limit)).all()


def _like_literal(text: str) -> str:
    """`text` for a LIKE pattern, its wildcards (and the escape character) escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _naming(stripe_ids: Iterable[str | None]) -> list[ColumnElement[bool]]:
    """Conditions matching a stored payload that names one of `stripe_ids` (as a JSON
    string value)."""
    wanted = [value for value in stripe_ids if isinstance(value, str) and value]
    return [
        col(StripeEvent.payload).like(f"%{_like_literal(json.dumps(value))}%", escape="\\")
        for value in wanted
    ]


def event_naming(
    session: Session,
    stripe_ids: Iterable[str | None],
    *,
    types: Iterable[str],
    outcomes: Iterable[EventOutcome],
) -> str | None:
    """The id of the oldest event of one of `types`, with one of `outcomes`, whose stored
    payload names one of `stripe_ids` (as a JSON string value), if any: e.g. the still
    unapplied payment a refund is about, or the checkout that was refused."""
    names = _naming(stripe_ids)
    if not names:
        return None
    return session.exec(
        select(col(StripeEvent.id))
        .where(
            col(StripeEvent.outcome).in_(list(outcomes)),
            col(StripeEvent.type).in_(list(types)),
            or_(*names),
        )
        .order_by(col(StripeEvent.stripe_created), col(StripeEvent.id))
        .limit(1)
    ).first()


def unfinished_event_naming(
    session: Session, stripe_ids: Iterable[str | None], *, types: Iterable[str]
) -> str | None:
    """The id of a deferred or failed event of one of `types` whose stored payload names
    one of `stripe_ids`, if any: e.g. the still unapplied payment a refund is about.
    Reads only the few unfinished rows (the outcome index)."""
    return event_naming(session, stripe_ids, types=types, outcomes=RETRYABLE_OUTCOMES)


def deferred_events_about(
    session: Session,
    *,
    customer: str | None,
    stripe_ids: Iterable[str | None],
    types: Iterable[str],
    limit: int = 20,
) -> Sequence[str]:
    """Deferred events of `types` for this Stripe customer or naming one of `stripe_ids`,
    oldest first: the refunds and disputes that waited for a payment just recorded."""
    conditions = _naming(stripe_ids)
    if customer:
        conditions.append(col(StripeEvent.stripe_customer_id) == customer)
    if not conditions:
        return []
    return session.exec(
        select(col(StripeEvent.id))
        .where(
            col(StripeEvent.outcome) == EventOutcome.DEFERRED,
            col(StripeEvent.type).in_(list(types)),
            or_(*conditions),
        )
        .order_by(col(StripeEvent.stripe_created), col(StripeEvent.id))
        .limit(limit)
    ).all()


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
    keep their ids, types, amounts and outcomes; the error text of a failed one (which
    may quote the payload) is blanked too. Returns how many events changed."""
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
        select(StripeEvent).where(
            or_(*conditions),
            or_(col(StripeEvent.payload).is_not(None), col(StripeEvent.error).is_not(None)),
        )
    ).all()
    erased = 0
    for row in rows:
        changed = False
        if row.payload is not None:
            cleaned, changed = _blank(json.loads(row.payload))
            if changed:
                row.payload = json.dumps(cleaned, separators=(",", ":"), sort_keys=True)
        if row.error is not None:
            # A failed event's detail repeated its error (webhooks._record_failure).
            if row.outcome == EventOutcome.FAILED:
                row.detail = ERROR_ERASED
            row.error = None
            changed = True
        if changed:
            session.add(row)
            erased += 1
    session.flush()
    return erased
