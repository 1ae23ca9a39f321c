"""A customer's outgoing webhook endpoints, from the account page (and an admin's, for
any customer, from the console; an operator's at the command line): listed, added (the
signing secret shown once), removed, and their delivery log with resends. Each add,
removal and resend is audited in the transaction that makes it. The services are
credit_app.outbound.

Async (for Reflex handlers; the database work runs off the event loop):
    await endpoints_of(owner)                                   -> [EndpointInfo]
    await add_endpoint(owner, actor=, url=, events=, low_balance_threshold=) -> AddedEndpoint
    await remove_endpoint(owner, endpoint_id, actor=)           -> EndpointInfo
    await deliveries_of(owner, endpoint_id=, before_id=, limit=) -> DeliveryPage
    await resend(owner, delivery_id, actor=)                    -> DeliveryInfo
In one transaction (the CLI's; `owner` None is the operator's endpoints):
    add(session, actor=, owner=, url=, events=, low_balance_threshold=, now=)
    remove(session, actor=, endpoint_id=, owner=, any_owner=, now=)
    resend_delivery(session, actor=, delivery_id=, owner=, any_owner=, now=)
`owner` is always the customer whose endpoints these are: an admin passes the customer's
id with `audit.Actor.admin(admin_id)`. Everything refused raises EndpointRefused, whose
message tells the person what to fix.
"""

import asyncio
import uuid
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from credit_app import clock, outbound
from credit_app.admin import audit
from credit_app.db import in_read, in_transaction
from credit_app.outbound import (
    EVENT_TYPES,
    AddedEndpoint,
    AttemptInfo,
    CheckedUrl,
    DeliveryInfo,
    DeliveryPage,
    EndpointInfo,
    EndpointRefused,
)

__all__ = [
    "EVENT_TYPES",
    "AddedEndpoint",
    "AttemptInfo",
    "DeliveryInfo",
    "DeliveryPage",
    "EndpointInfo",
    "EndpointRefused",
    "add",
    "add_endpoint",
    "deliveries_of",
    "endpoints_of",
    "remove",
    "remove_endpoint",
    "resend",
    "resend_delivery",
]


def add(
    session: Session,
    *,
    actor: audit.Actor,
    owner: uuid.UUID | None,
    url: CheckedUrl,
    events: list[str],
    low_balance_threshold: int | None,
    now: datetime,
) -> AddedEndpoint:
    added = outbound.add_endpoint(
        session,
        owner=owner,
        url=url,
        events=events,
        low_balance_threshold=low_balance_threshold,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action=audit.Action.WEBHOOK_ADD,
        target_user_id=owner,
        target_ref=f"webhook_endpoint:{added.info.id}",
        # Not the URL: audit rows outlive the account, and a URL may name the person
        # (their domain) or carry a token in its query.
        after={
            "events": list(added.info.events),
            "low_balance_threshold": added.info.low_balance_threshold,
            "all_users": owner is None,
        },
        now=now,
    )
    return added


def remove(
    session: Session,
    *,
    actor: audit.Actor,
    endpoint_id: int,
    owner: uuid.UUID | None,
    any_owner: bool,
    now: datetime,
) -> EndpointInfo:
    info = outbound.remove_endpoint(
        session, endpoint_id=endpoint_id, owner=owner, any_owner=any_owner, now=now
    )
    audit.record(
        session,
        actor=actor,
        action=audit.Action.WEBHOOK_REMOVE,
        target_user_id=info.user_id,
        target_ref=f"webhook_endpoint:{info.id}",
        after={"removed_at": info.removed_at},
        now=now,
    )
    return info


def resend_delivery(
    session: Session,
    *,
    actor: audit.Actor,
    delivery_id: int,
    owner: uuid.UUID | None,
    any_owner: bool,
    now: datetime,
) -> DeliveryInfo:
    info = outbound.resend(
        session, delivery_id=delivery_id, owner=owner, any_owner=any_owner, now=now
    )
    audit.record(
        session,
        actor=actor,
        action=audit.Action.WEBHOOK_RESEND,
        target_user_id=outbound.endpoint_owner(session, endpoint_id=info.endpoint_id),
        target_ref=f"webhook_delivery:{info.id}",
        after={"event_id": info.event_id, "type": info.type, "endpoint_id": info.endpoint_id},
        now=now,
    )
    return info


async def endpoints_of(owner: uuid.UUID, *, engine: Engine | None = None) -> list[EndpointInfo]:
    """`owner`'s live endpoints, newest first."""
    return await in_read(lambda s: outbound.live_endpoints(s, owner=owner), engine=engine)


async def add_endpoint(
    owner: uuid.UUID,
    *,
    actor: audit.Actor,
    url: str,
    events: list[str],
    low_balance_threshold: int | None = None,
    engine: Engine | None = None,
) -> AddedEndpoint:
    """A new endpoint of `owner`, with its secret (shown once); EndpointRefused."""
    # The URL's host is resolved before the transaction: no write lock waits for DNS.
    checked = await asyncio.to_thread(outbound.check_url, url)
    return await in_transaction(
        lambda s: add(
            s,
            actor=actor,
            owner=owner,
            url=checked,
            events=events,
            low_balance_threshold=low_balance_threshold,
            now=clock.now(),
        ),
        engine=engine,
    )


async def remove_endpoint(
    owner: uuid.UUID, endpoint_id: int, *, actor: audit.Actor, engine: Engine | None = None
) -> EndpointInfo:
    """Remove one of `owner`'s endpoints (another's: EndpointRefused "No such endpoint.")."""
    return await in_transaction(
        lambda s: remove(
            s, actor=actor, endpoint_id=endpoint_id, owner=owner, any_owner=False, now=clock.now()
        ),
        engine=engine,
    )


async def deliveries_of(
    owner: uuid.UUID,
    *,
    endpoint_id: int | None = None,
    before_id: int | None = None,
    limit: int = 20,
    engine: Engine | None = None,
) -> DeliveryPage:
    """The delivery log of `owner`'s endpoints (of one, with `endpoint_id`), newest first."""
    return await in_read(
        lambda s: outbound.deliveries_of(
            s, owner=owner, endpoint_id=endpoint_id, before_id=before_id, limit=limit
        ),
        engine=engine,
    )


async def resend(
    owner: uuid.UUID, delivery_id: int, *, actor: audit.Actor, engine: Engine | None = None
) -> DeliveryInfo:
    """Send a delivery to one of `owner`'s endpoints again (EndpointRefused for another's,
    an unknown one, one still pending, or one to a removed endpoint)."""
    return await in_transaction(
        lambda s: resend_delivery(
            s, actor=actor, delivery_id=delivery_id, owner=owner, any_owner=False, now=clock.now()
        ),
        engine=engine,
    )
