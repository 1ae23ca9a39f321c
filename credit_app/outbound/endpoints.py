"""Webhook endpoints: the URLs a customer (or an operator, for every customer) has
events sent to, each with its events, its low-balance threshold and its signing secret.

    check_url(url)                                      -> CheckedUrl (resolves the host)
    add(session, owner=, url=, events=, low_balance_threshold=, now=)   -> AddedEndpoint
    remove(session, endpoint_id=, owner=, any_owner=, now=)             -> EndpointInfo
    live_endpoints(session, owner=)                     -> [EndpointInfo], newest first
    endpoint_owner(session, endpoint_id=)               -> its owner's id (None: operator)

`owner` None is the operator's: such an endpoint is sent every customer's events. Who
added or removed an endpoint is audited by the caller (credits_api.webhooks).

What is accepted: an https URL (plain http too only when WEBHOOKS_ALLOW_PRIVATE is on,
i.e. on a development machine: events carry account activity and are signed, and a
plain-http endpoint on the public internet would show them to every network on the
way), with a host whose every address is public unless WEBHOOKS_ALLOW_PRIVATE
(outbound.addresses); one or more of the event types; at most MAX_LIVE live endpoints
per owner. The secret (`whsec_` + 43 random characters, 256 bits) is returned once by
`add`; it is stored in the clear because every delivery is signed with it.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from credit_app.models import User, WebhookEndpoint, WebhookEvent
from credit_app.outbound import addresses, delivery
from credit_app.settings import get_settings

SECRET_PREFIX = "whsec_"
MAX_LIVE = 5
THRESHOLD_MAX = 1_000_000_000
# Every event type, in the order pages list them.
EVENT_TYPES: tuple[str, ...] = tuple(event.value for event in WebhookEvent)


class EndpointRefused(ValueError):
    """An endpoint could not be added, removed or resent to as asked; the message says
    what to fix, in words for its owner."""


@dataclass(frozen=True)
class EndpointInfo:
    id: int
    user_id: uuid.UUID | None
    url: str
    events: tuple[str, ...]
    low_balance_threshold: int
    created_at: datetime
    removed_at: datetime | None


@dataclass(frozen=True)
class AddedEndpoint:
    info: EndpointInfo
    secret: str  # shown once


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed the checks of `check_url` (made only there), as it will be sent."""

    url: str


def info_of(row: WebhookEndpoint) -> EndpointInfo:
    assert row.id is not None
    return EndpointInfo(
        id=row.id,
        user_id=row.user_id,
        url=row.url,
        events=subscribed(row.events),
        low_balance_threshold=row.low_balance_threshold,
        created_at=row.created_at,
        removed_at=row.removed_at,
    )


def subscribed(events: str) -> tuple[str, ...]:
    """The event types of a stored `events` column."""
    return tuple(event for event in events.split(",") if event)


def check_url(url: str) -> CheckedUrl:
    """`url` normalized as it will be sent, or EndpointRefused. Resolves the host (when
    private targets are not allowed), so it blocks: call it before opening a transaction,
    off the event loop."""
    allow_private = get_settings().webhooks_allow_private
    try:
        parsed = addresses.parse(url, allow_http=allow_private)
        if not allow_private:
            host, port = addresses.host_of(parsed), addresses.port_of(parsed)
            addresses.refuse_private(addresses.resolve(host, port))
    except addresses.AddressRefused as exc:
        raise EndpointRefused(str(exc)) from None
    normalized = str(parsed)
    if len(normalized) > addresses.URL_MAX:
        raise EndpointRefused(f"The URL is too long (at most {addresses.URL_MAX} characters).")
    return CheckedUrl(normalized)


def parse_events(events: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The chosen event types in EVENT_TYPES order; EndpointRefused for none or an
    unknown one."""
    chosen = {str(event).strip() for event in events if str(event).strip()}
    unknown = sorted(chosen.difference(EVENT_TYPES))
    if unknown:
        raise EndpointRefused(
            f"Unknown event type {unknown[0][:40]!r}: choose from {', '.join(EVENT_TYPES)}."
        )
    if not chosen:
        raise EndpointRefused("Choose at least one event to send.")
    return tuple(event for event in EVENT_TYPES if event in chosen)


def check_threshold(value: int | None) -> int:
    if value is None:
        return get_settings().low_balance_threshold
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= THRESHOLD_MAX:
        raise EndpointRefused(
            f"The low-balance threshold is a whole number from 0 to {THRESHOLD_MAX:,}."
        )
    return value


def add(
    session: Session,
    *,
    owner: uuid.UUID | None,
    url: CheckedUrl,
    events: list[str] | tuple[str, ...],
    low_balance_threshold: int | None,
    now: datetime,
) -> AddedEndpoint:
    """A new endpoint of `owner` (None: the operator's, for every customer); raises
    EndpointRefused (no events or unknown ones, a bad threshold, a deleted account, or
    MAX_LIVE live endpoints already)."""
    chosen = parse_events(events)
    threshold = check_threshold(low_balance_threshold)
    if owner is not None:
        # The owner's row lock: two adds at once cannot both pass the count below.
        live_owner = session.scalar(
            select(col(User.id))
            .where(col(User.id) == owner, col(User.deleted_at).is_(None))
            .with_for_update()
        )
        if live_owner is None:
            raise EndpointRefused("No such account (or it was deleted).")
    count = session.scalar(
        select(func.count()).where(owned_by(owner), col(WebhookEndpoint.removed_at).is_(None))
    )
    if (count or 0) >= MAX_LIVE:
        raise EndpointRefused(f"There can be at most {MAX_LIVE} endpoints: remove one first.")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = WebhookEndpoint(
        user_id=owner,
        url=url.url,
        events=",".join(chosen),
        low_balance_threshold=threshold,
        secret=secret,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return AddedEndpoint(info=info_of(row), secret=secret)


def owned_by(owner: uuid.UUID | None):
    """SQL condition: an endpoint of `owner` (None: the operator's)."""
    if owner is None:
        return col(WebhookEndpoint.user_id).is_(None)
    return col(WebhookEndpoint.user_id) == owner


def remove(
    session: Session,
    *,
    endpoint_id: int,
    owner: uuid.UUID | None,
    any_owner: bool,
    now: datetime,
) -> EndpointInfo:
    """Remove one of `owner`'s live endpoints (any live endpoint with `any_owner`: an
    operator). Its deliveries waiting to be sent are given up ("endpoint removed"); its
    log stays. EndpointRefused("No such endpoint.") for another's, an unknown or a removed
    one."""
    statement = (
        select(WebhookEndpoint)
        .where(col(WebhookEndpoint.id) == endpoint_id, col(WebhookEndpoint.removed_at).is_(None))
        .with_for_update()
    )
    if not any_owner:
        statement = statement.where(owned_by(owner))
    row = session.scalars(statement).first()
    if row is None:
        raise EndpointRefused("No such endpoint.")
    row.removed_at = now
    session.add(row)
    session.flush()
    delivery.give_up_pending(session, endpoint_id=endpoint_id, reason=delivery.REMOVED, now=now)
    return info_of(row)


def live_endpoints(session: Session, *, owner: uuid.UUID | None) -> list[EndpointInfo]:
    """`owner`'s live endpoints (None: the operator's), newest first."""
    rows = session.scalars(
        select(WebhookEndpoint)
        .where(owned_by(owner), col(WebhookEndpoint.removed_at).is_(None))
        .order_by(col(WebhookEndpoint.id).desc())
    )
    return [info_of(row) for row in rows]


def endpoint_owner(session: Session, *, endpoint_id: int) -> uuid.UUID | None:
    """Whose endpoint it is (None: the operator's, or no such endpoint)."""
    return session.scalar(
        select(col(WebhookEndpoint.user_id)).where(col(WebhookEndpoint.id) == endpoint_id)
    )
