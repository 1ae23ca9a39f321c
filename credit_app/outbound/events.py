"""Queueing an event: one outbox row (WebhookDelivery) per endpoint subscribed to it, in
the caller's transaction, so an event exists exactly when the change it reports was
committed (a rolled-back change sends nothing, a crash after the commit loses nothing).

    queue_event(session, user_id=, event_type=, data=, occurred=, now=) -> event id | None
    queue_to(session, endpoint_ids, user_id=, event_type=, data=, occurred=, now=)
                                                                     -> event id
    subscribers(session, user_id=)                                   -> [Subscriber]
    subscription_updated(session, subscription, now=)               (billing calls it)
    auto_topup_failed(session, user_id=, reason=, code=, amount=, currency=, plan_id=,
                      switched_off=, now=)                           (billing calls it)

The body is the JSON every endpoint gets, serialized once here and sent byte for byte:
    {"id": "evt_<32 hex>", "type": "credits.spent", "created": <unix seconds>,
     "user_id": "<uuid>", "data": {...}}
One event id per event, the same for every endpoint it goes to: delivery is at least
once, and receivers drop repeats by it. The ledger's events are queued at commit
(outbound.ledger_events); billing queues its own with the helpers below.
"""

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select
from sqlmodel import Session, col

from credit_app import clock
from credit_app.models import (
    User,
    UserSubscription,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

# How long a delivery is retried (its retry_until, from queueing or the last resend).
RETRY_WINDOW = timedelta(days=3)

_DELIVERIES = WebhookDelivery.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Subscriber:
    """A live endpoint that may be sent a user's events."""

    endpoint_id: int
    user_id: uuid.UUID | None  # None: an operator's endpoint, for every user
    events: frozenset[str]
    low_balance_threshold: int

    def wants(self, event_type: str) -> bool:
        return event_type in self.events


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(16)


def body(
    *, event_id: str, event_type: str, occurred: datetime, user_id: uuid.UUID, data: dict
) -> str:
    """The event's JSON, compact and with sorted keys (one serialization, signed and sent
    as is)."""
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created": int(occurred.timestamp()),
            "user_id": str(user_id),
            "data": data,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def _subscriber(row) -> Subscriber:
    """A Subscriber from a row of (id, user_id, events, low_balance_threshold)."""
    return Subscriber(
        endpoint_id=row.id,
        user_id=row.user_id,
        events=frozenset(row.events.split(",")),
        low_balance_threshold=row.low_balance_threshold,
    )


_ENDPOINT_COLUMNS = (
    col(WebhookEndpoint.id),
    col(WebhookEndpoint.user_id),
    col(WebhookEndpoint.events),
    col(WebhookEndpoint.low_balance_threshold),
)


def subscribers(session: Session, *, user_id: uuid.UUID) -> list[Subscriber]:
    """Live endpoints that get events of this user: theirs and the operator's (none for
    an account deleted or being deleted)."""
    live_user = select(col(User.id)).where(col(User.id) == user_id, col(User.deleted_at).is_(None))
    rows = session.execute(
        select(*_ENDPOINT_COLUMNS).where(
            col(WebhookEndpoint.removed_at).is_(None),
            or_(col(WebhookEndpoint.user_id) == user_id, col(WebhookEndpoint.user_id).is_(None)),
            live_user.exists(),
        )
    ).all()
    return [_subscriber(row) for row in rows]


def queue_to(
    session: Session,
    endpoint_ids: list[int],
    *,
    user_id: uuid.UUID,
    event_type: WebhookEvent | str,
    data: dict[str, Any],
    occurred: datetime,
    now: datetime,
) -> str:
    """One event, queued for each of `endpoint_ids` (one INSERT); its id."""
    event_id = new_event_id()
    payload = body(
        event_id=event_id, event_type=str(event_type), occurred=occurred, user_id=user_id, data=data
    )
    session.execute(
        insert(_DELIVERIES),
        [
            {
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "type": str(event_type),
                "user_id": user_id,
                "payload": payload,
                "created_at": now,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "retry_until": now + RETRY_WINDOW,
            }
            for endpoint_id in endpoint_ids
        ],
    )
    return event_id


def queue_event(
    session: Session,
    *,
    user_id: uuid.UUID,
    event_type: WebhookEvent,
    data: dict[str, Any],
    occurred: datetime | None = None,
    now: datetime | None = None,
) -> str | None:
    """Queue an event about `user_id` for every endpoint subscribed to its type; its id,
    or None when no endpoint wants it (nothing written)."""
    wanted = [s.endpoint_id for s in subscribers(session, user_id=user_id) if s.wants(event_type)]
    if not wanted:
        return None
    now = now or clock.now()
    return queue_to(
        session,
        wanted,
        user_id=user_id,
        event_type=event_type,
        data=data,
        occurred=occurred or now,
        now=now,
    )


def subscription_updated(
    session: Session, subscription: UserSubscription, *, now: datetime | None = None
) -> str | None:
    """`subscription.updated`: the user's subscription as billing now has it."""
    return queue_event(
        session,
        user_id=subscription.user_id,
        event_type=WebhookEvent.SUBSCRIPTION_UPDATED,
        data={
            "plan": subscription.plan_id,
            "status": subscription.status,
            "current_period_end": int(subscription.current_period_end.timestamp()),
            "cancel_at_period_end": subscription.cancel_at_period_end,
        },
        now=now,
    )


def auto_topup_failed(
    session: Session,
    *,
    user_id: uuid.UUID,
    reason: str,
    code: str | None,
    amount: int,
    currency: str,
    plan_id: str,
    switched_off: bool,
    now: datetime | None = None,
) -> str | None:
    """`auto_topup.failed`: a charge of the saved card failed (the bank's reason and
    Stripe's code, never card details); `switched_off` after too many in a row."""
    return queue_event(
        session,
        user_id=user_id,
        event_type=WebhookEvent.AUTO_TOPUP_FAILED,
        data={
            "reason": reason[:255],
            "code": code,
            "amount": amount,
            "currency": currency.lower(),
            "plan": plan_id,
            "auto_topup_switched_off": switched_off,
        },
        now=now,
    )
