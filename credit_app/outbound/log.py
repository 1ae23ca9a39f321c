"""The delivery log an endpoint's owner reads, and resending a delivery by hand.

    deliveries_of(session, owner=, endpoint_id=, before_id=, limit=)   -> DeliveryPage
    resend(session, delivery_id=, owner=, any_owner=, now=)            -> DeliveryInfo

A page is newest first, each delivery with its last LAST_ATTEMPTS tries (newest first);
`next_before_id` pages on. Only deliveries to the owner's own endpoints are shown (an
operator's endpoint gets everyone's events; its log is the operator's). A resend queues a
delivered or failed delivery again, due now, with a new retry window and the same event
id (receivers drop what they already processed); who resent it is audited by the caller.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from credit_app.db import PRUNE_BATCH
from credit_app.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from credit_app.outbound.endpoints import EndpointRefused, owned_by
from credit_app.outbound.events import RETRY_WINDOW

LAST_ATTEMPTS = 5
PAGE_MAX = 100


@dataclass(frozen=True)
class AttemptInfo:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    endpoint_id: int
    endpoint_url: str
    event_id: str
    type: str
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None  # None unless pending
    delivered_at: datetime | None
    last_attempts: tuple[AttemptInfo, ...]  # newest first, at most LAST_ATTEMPTS


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[DeliveryInfo]
    next_before_id: int | None


def _with_endpoint():
    return select(WebhookDelivery, col(WebhookEndpoint.url)).join(
        WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id)
    )


def deliveries_of(
    session: Session,
    *,
    owner: uuid.UUID | None,
    endpoint_id: int | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> DeliveryPage:
    """Deliveries to `owner`'s endpoints (None: the operator's), newest first: `limit`
    (1..PAGE_MAX) of them with ids below `before_id`, of one endpoint if given."""
    limit = max(1, min(limit, PAGE_MAX))
    statement = (
        _with_endpoint()
        .where(owned_by(owner))
        .order_by(col(WebhookDelivery.id).desc())
        .limit(limit + 1)
    )
    if endpoint_id is not None:
        statement = statement.where(col(WebhookDelivery.endpoint_id) == endpoint_id)
    if before_id is not None:
        statement = statement.where(col(WebhookDelivery.id) < before_id)
    rows = session.execute(statement).all()
    more = len(rows) > limit
    rows = rows[:limit]
    attempts = _last_attempts(session, [row[0].id for row in rows])
    deliveries = [_info(delivery, url, attempts[delivery.id]) for delivery, url in rows]
    return DeliveryPage(deliveries=deliveries, next_before_id=deliveries[-1].id if more else None)


def _last_attempts(session: Session, ids: list[int]) -> dict[int, tuple[AttemptInfo, ...]]:
    """The newest LAST_ATTEMPTS tries of each delivery, in one query."""
    found: dict[int, list[AttemptInfo]] = defaultdict(list)
    if not ids:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=col(WebhookAttempt.delivery_id),
            order_by=col(WebhookAttempt.id).desc(),
        )
        .label("rank")
    )
    ranked = (
        select(
            col(WebhookAttempt.id),
            col(WebhookAttempt.delivery_id),
            col(WebhookAttempt.attempted_at),
            col(WebhookAttempt.status_code),
            col(WebhookAttempt.error),
            col(WebhookAttempt.duration_ms),
            rank,
        )
        .where(col(WebhookAttempt.delivery_id).in_(ids))
        .subquery()
    )
    rows = session.execute(
        select(ranked)
        .where(ranked.c.rank <= LAST_ATTEMPTS)
        .order_by(ranked.c.delivery_id, ranked.c.id.desc())
    )
    for row in rows:
        found[row.delivery_id].append(
            AttemptInfo(
                attempted_at=row.attempted_at,
                status_code=row.status_code,
                error=row.error,
                duration_ms=row.duration_ms,
            )
        )
    return defaultdict(tuple, {key: tuple(value) for key, value in found.items()})


def _info(delivery: WebhookDelivery, url: str, attempts: tuple[AttemptInfo, ...]) -> DeliveryInfo:
    assert delivery.id is not None
    pending = delivery.status == DeliveryStatus.PENDING
    return DeliveryInfo(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        endpoint_url=url,
        event_id=delivery.event_id,
        type=delivery.type,
        created_at=delivery.created_at,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if pending else None,
        delivered_at=delivery.delivered_at,
        last_attempts=attempts,
    )


def delivery_info(session: Session, *, delivery_id: int) -> DeliveryInfo | None:
    row = session.execute(_with_endpoint().where(col(WebhookDelivery.id) == delivery_id)).first()
    if row is None:
        return None
    delivery, url = row
    return _info(delivery, url, _last_attempts(session, [delivery_id]).get(delivery_id, ()))


def resend(
    session: Session,
    *,
    delivery_id: int,
    owner: uuid.UUID | None,
    any_owner: bool,
    now: datetime,
) -> DeliveryInfo:
    """Queue a delivered or failed delivery to one of `owner`'s endpoints again (any
    endpoint's with `any_owner`: an operator), due now, retried for RETRY_WINDOW from now.
    EndpointRefused: unknown or another's ("No such delivery."), still pending, or its
    endpoint removed."""
    statement = (
        select(WebhookDelivery, col(WebhookEndpoint.removed_at))
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(col(WebhookDelivery.id) == delivery_id)
        .with_for_update(of=WebhookDelivery)
    )
    if not any_owner:
        statement = statement.where(owned_by(owner))
    row = session.execute(statement).first()
    if row is None:
        raise EndpointRefused("No such delivery.")
    delivery, removed_at = row
    if removed_at is not None:
        raise EndpointRefused("Its endpoint was removed: nothing can be sent to it.")
    if delivery.status == DeliveryStatus.PENDING:
        raise EndpointRefused("This delivery is already waiting to be sent.")
    session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id) == delivery_id)
        .values(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            retry_until=now + RETRY_WINDOW,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.expire(delivery)
    info = delivery_info(session, delivery_id=delivery_id)
    assert info is not None  # it was just updated
    return info


def prune_settled(session: Session, *, before: datetime) -> int:
    """Forget (a batch of) deliveries that settled before `before`, with their attempts:
    delivered then, or failed with their retry window over then. Pending ones stay,
    however old (a resend makes a delivery pending again)."""
    settled_at = func.coalesce(col(WebhookDelivery.delivered_at), col(WebhookDelivery.retry_until))
    ids = list(
        session.scalars(
            select(col(WebhookDelivery.id))
            .where(col(WebhookDelivery.status) != DeliveryStatus.PENDING, settled_at < before)
            .order_by(col(WebhookDelivery.id))
            .limit(PRUNE_BATCH)
        )
    )
    if ids:
        session.execute(delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(ids)))
        session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids)))
    return len(ids)
