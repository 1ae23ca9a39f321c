"""What the admin console's state calls: each service of this package in a transaction
(or a read) of its own, off the event loop, acting as the admin `admin_id`.

Authorisation is the caller's first step, on every event: `admin_for(token)` answers only
for a live admin session (auth.admin_access); actions that move credits or roles need
`access.reauthenticated`. Nothing here trusts an id it is handed to be anyone's in
particular: a customer id that is unknown finds nothing and changes nothing.
"""

import uuid
from datetime import datetime

from sqlalchemy import Engine

from credit_app import clock
from credit_app.admin import accounts, adjustments, audit, checks, customers, events, metrics
from credit_app.admin import shortfalls as shortfall_service
from credit_app.auth import admin_access
from credit_app.auth.admin_access import AdminAccess
from credit_app.billing import sync, webhooks
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.credits import usage
from credit_app.db import in_read, in_transaction

__all__ = ["AdminAccess"]


async def admin_for(token: str, *, engine: Engine | None = None) -> AdminAccess | None:
    return await admin_access.resolve_admin(token, engine=engine)


async def reauthenticate(
    token: str, password: str, *, client: str, engine: Engine | None = None
) -> str:
    return await admin_access.reauthenticate(token, password, client=client, engine=engine)


# --- reading ----------------------------------------------------------------------------


async def search_customers(
    query: str, sort: customers.Sort, page: int, *, engine: Engine | None = None
) -> customers.CustomerPage:
    return await in_read(customers.search, query=query, sort=sort, page=page, engine=engine)


async def customer(
    user_id: uuid.UUID, *, engine: Engine | None = None
) -> customers.CustomerView | None:
    return await in_read(customers.customer_view, user_id=user_id, now=clock.now(), engine=engine)


async def customer_ledger(
    user_id: uuid.UUID,
    *,
    kind: usage.Kinds,
    tool: str | None,
    page: int,
    engine: Engine | None = None,
) -> usage.UsagePage:
    """One page of the customer's ledger with /usage's filters."""
    return await in_read(usage.entries_page, user_id, kind, tool, page, engine=engine)


async def audit_entries(
    where: audit.AuditFilter, *, before_id: int | None = None, engine: Engine | None = None
) -> list[audit.AuditRow]:
    return await in_read(audit.entries, where=where, before_id=before_id, engine=engine)


async def events_page(
    where: events.EventFilter, page: int, *, engine: Engine | None = None
) -> events.EventPage:
    return await in_read(events.list_events, where=where, page=page, engine=engine)


async def event_types(*, engine: Engine | None = None) -> list[str]:
    return await in_read(events.event_types, engine=engine)


async def event(event_id: str, *, engine: Engine | None = None) -> events.EventDetail | None:
    return await in_read(events.event_detail, event_id=event_id, engine=engine)


async def failed_events_last_day(*, engine: Engine | None = None) -> int:
    return await in_read(events.failed_recently, now=clock.now(), engine=engine)


async def shortfalls_page(
    status: str | None, page: int, *, engine: Engine | None = None
) -> shortfall_service.ShortfallPage:
    return await in_read(shortfall_service.list_shortfalls, status=status, page=page, engine=engine)


async def overview(days: int, *, engine: Engine | None = None) -> metrics.Overview:
    return await in_read(metrics.overview, days=days, now=clock.now(), engine=engine)


async def stripe_check(
    gateway: StripeGateway, user_id: uuid.UUID, *, engine: Engine | None = None
) -> tuple[int, list[sync.GrantDifference]]:
    """`credit-app stripe-check` for one customer: their live subscription's paid invoices
    against our grants (asks Stripe)."""
    return await sync.check_grants(gateway, user_id=user_id, engine=engine)


# --- acting (each audited in its own transaction) ------------------------------------------


async def preview_adjustment(
    user_id: uuid.UUID, delta: int, take_available: bool, *, engine: Engine | None = None
) -> adjustments.Preview:
    """Raises adjustments.AdjustRefused (bad amount, unknown customer)."""
    return await in_read(
        adjustments.preview,
        user_id=user_id,
        delta=delta,
        take_available=take_available,
        engine=engine,
    )


async def adjust(
    admin_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    delta: int,
    reason: str,
    key: str,
    expires_at: datetime | None,
    take_available: bool,
    engine: Engine | None = None,
) -> adjustments.Adjusted:
    """Raises adjustments.AdjustRefused, writing nothing."""
    return await in_transaction(
        adjustments.adjust_credits,
        actor=audit.Actor.admin(admin_id),
        user_id=user_id,
        delta=delta,
        reason=reason,
        key=key,
        expires_at=expires_at,
        take_available=take_available,
        now=clock.now(),
        engine=engine,
    )


async def revoke_sessions(
    admin_id: uuid.UUID, user_id: uuid.UUID, reason: str, *, engine: Engine | None = None
) -> int:
    return await in_transaction(
        accounts.revoke_sessions,
        actor=audit.Actor.admin(admin_id),
        user_id=user_id,
        reason=reason,
        now=clock.now(),
        engine=engine,
    )


async def set_spending_limit(
    admin_id: uuid.UUID,
    user_id: uuid.UUID,
    limit: int | None,
    reason: str,
    *,
    engine: Engine | None = None,
) -> None:
    await in_transaction(
        accounts.set_spending_limit,
        actor=audit.Actor.admin(admin_id),
        user_id=user_id,
        limit=limit,
        reason=reason,
        now=clock.now(),
        engine=engine,
    )


async def switch_off_auto_topup(
    admin_id: uuid.UUID, user_id: uuid.UUID, reason: str, *, engine: Engine | None = None
) -> None:
    await in_transaction(
        accounts.switch_off_auto_topup,
        actor=audit.Actor.admin(admin_id),
        user_id=user_id,
        reason=reason,
        now=clock.now(),
        engine=engine,
    )


async def set_admin(
    admin_id: uuid.UUID,
    user_id: uuid.UUID,
    admin: bool,
    reason: str,
    *,
    engine: Engine | None = None,
) -> bool:
    return await in_transaction(
        accounts.set_admin,
        actor=audit.Actor.admin(admin_id),
        user_id=user_id,
        admin=admin,
        reason=reason,
        now=clock.now(),
        engine=engine,
    )


async def write_off(
    admin_id: uuid.UUID, shortfall_id: int, reason: str, *, engine: Engine | None = None
) -> None:
    await in_transaction(
        shortfall_service.write_off,
        actor=audit.Actor.admin(admin_id),
        shortfall_id=shortfall_id,
        reason=reason,
        now=clock.now(),
        engine=engine,
    )


async def recover(
    admin_id: uuid.UUID, shortfall_id: int, reason: str, *, engine: Engine | None = None
) -> None:
    await in_transaction(
        shortfall_service.recover,
        actor=audit.Actor.admin(admin_id),
        shortfall_id=shortfall_id,
        reason=reason,
        now=clock.now(),
        engine=engine,
    )


async def replay(
    admin_id: uuid.UUID,
    event_id: str,
    *,
    gateway: StripeGateway,
    livemode: bool,
    engine: Engine | None = None,
) -> webhooks.Outcome:
    """Raises webhooks.ReplayRefused (unknown event, no payload stored)."""
    return await events.replay(
        gateway,
        actor=audit.Actor.admin(admin_id),
        event_id=event_id,
        livemode=livemode,
        engine=engine,
    )


async def run_reconcile(admin_id: uuid.UUID, *, engine: Engine | None = None) -> int:
    """Check every invariant now (audited); how many accounts drift."""
    drift = await in_transaction(
        checks.reconcile, actor=audit.Actor.admin(admin_id), now=clock.now(), engine=engine
    )
    return len(drift)
