"""Recovery from Stripe's own records, for what webhooks did not bring.

`sync_events` (`credit-app stripe-sync`, and the app every STRIPE_SYNC_MINUTES) lists the
events Stripe keeps (30 days) of the types the registry handles and runs each one not yet
final here through the webhook's own path (`webhooks.process_event`: claimed once, so a
delivery racing the sync applies it once), oldest first; then every event still deferred
or failed here is replayed, oldest first. A webhook Stripe gave up on, or one our endpoint
never answered, is applied; a refund that came before its payment is completed.

`check_grants` (`credit-app stripe-check`) compares, for each live subscription, the paid
invoices of its current and previous period with what we granted for them, by the same
rule the webhook applies (purchases.invoice_lines: credits follow money).
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from credit_app.billing import purchases, webhooks
from credit_app.billing.stripe_gateway import (
    StripeGateway,
    StripeObjectMissing,
    WebhookRejected,
    check_event_shape,
)
from credit_app.billing.subscriptions import ENTITLED_STATUSES, from_timestamp, period_start
from credit_app.billing.webhook_handlers import registry
from credit_app.db import read_scope
from credit_app.models import (
    RETRYABLE_OUTCOMES,
    EventOutcome,
    Purchase,
    StripeEvent,
    SubscriptionPlan,
    UserSubscription,
    utcnow,
)

logger = logging.getLogger(__name__)

# How far back Stripe's Events API goes.
STRIPE_EVENT_DAYS = 30


@dataclass
class SyncReport:
    listed: int = 0  # events Stripe listed (of the handled types)
    already: int = 0  # of those, already final here
    processed: list[webhooks.Outcome] = field(default_factory=list)
    replayed: list[webhooks.Outcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # listed but not event-shaped

    @property
    def user_ids(self) -> set[str]:
        return {user for o in (*self.processed, *self.replayed) for user in o.user_ids}

    @property
    def unfinished(self) -> list[webhooks.Outcome]:
        return [o for o in (*self.processed, *self.replayed) if not o.final]


def _final_ids(engine: Engine | None, ids: list[str]) -> set[str]:
    finals = [o.value for o in EventOutcome if o.final]
    found: set[str] = set()
    with read_scope(engine) as session:
        for start in range(0, len(ids), 500):
            found.update(
                session.exec(
                    select(col(StripeEvent.id)).where(
                        col(StripeEvent.id).in_(ids[start : start + 500]),
                        col(StripeEvent.outcome).in_(finals),
                    )
                ).all()
            )
    return found


def _unfinished_ids(engine: Engine | None) -> list[str]:
    with read_scope(engine) as session:
        return list(
            session.exec(
                select(col(StripeEvent.id))
                .where(col(StripeEvent.outcome).in_(RETRYABLE_OUTCOMES))
                .order_by(col(StripeEvent.stripe_created), col(StripeEvent.id))
            ).all()
        )


async def sync_events(
    gateway: StripeGateway,
    *,
    since: datetime | None = None,
    livemode: bool = False,
    engine: Engine | None = None,
) -> SyncReport:
    """Apply every event Stripe lists since `since` (default: the 30 days it keeps) that
    is not final here, then replay every deferred or failed one. Idempotent: a second run
    finds everything final and changes nothing."""
    since = since or utcnow() - timedelta(days=STRIPE_EVENT_DAYS)
    report = SyncReport()
    events = await gateway.list_events(
        since=int(since.timestamp()), types=list(registry.event_types)
    )
    report.listed = len(events)
    final = await asyncio.to_thread(_final_ids, engine, [e["id"] for e in events])
    report.already = len(final)
    for event in events:
        if event["id"] in final:
            continue
        try:
            check_event_shape(event)
        except WebhookRejected as exc:
            report.skipped.append(f"{event.get('id')}: {exc}")
            continue
        outcome = await webhooks.process_event(gateway, event, livemode=livemode, engine=engine)
        report.processed.append(outcome)
    for event_id in await asyncio.to_thread(_unfinished_ids, engine):
        try:
            outcome = await webhooks.replay_event(
                gateway, event_id, livemode=livemode, engine=engine
            )
        except webhooks.ReplayRefused as exc:
            report.skipped.append(f"{event_id}: {exc}")
            continue
        if outcome.outcome is not EventOutcome.DUPLICATE or outcome.user_ids:
            report.replayed.append(outcome)
    return report


# --- stripe-check ------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantDifference:
    user_id: str
    subscription_id: str
    invoice_id: str
    expected: int
    granted: int | None  # None: nothing recorded for the invoice

    def describe(self) -> str:
        got = "nothing granted" if self.granted is None else f"{self.granted} granted"
        return (
            f"user {self.user_id} subscription {self.subscription_id} invoice "
            f"{self.invoice_id}: {self.expected} credits due by its lines, {got}"
        )


@dataclass(frozen=True)
class _Live:
    user_id: str
    subscription_id: str
    period_end: datetime
    interval: str | None


def _live_subscriptions(engine: Engine | None, user_id: uuid.UUID | None = None) -> list[_Live]:
    with read_scope(engine) as session:
        statement = (
            select(UserSubscription, SubscriptionPlan)
            .join(SubscriptionPlan, col(SubscriptionPlan.id) == col(UserSubscription.plan_id))
            .where(
                col(UserSubscription.status).in_([str(s) for s in ENTITLED_STATUSES]),
                col(UserSubscription.stripe_subscription_id).is_not(None),
            )
        )
        if user_id is not None:
            statement = statement.where(col(UserSubscription.user_id) == user_id)
        rows = session.exec(statement).all()
        return [
            _Live(
                str(sub.user_id),
                sub.stripe_subscription_id or "",
                sub.current_period_end,
                plan.interval,
            )
            for sub, plan in rows
        ]


def _line_end(invoice: dict[str, Any]) -> datetime | None:
    ends = [
        from_timestamp((line.get("period") or {}).get("end"))
        for line in (invoice.get("lines") or {}).get("data") or []
    ]
    known = [end for end in ends if end is not None]
    return max(known) if known else None


def _compare(
    session: Session,
    live: _Live,
    invoices: list[dict[str, Any]],
    prices: dict[str, dict[str, Any]],
) -> list[GrantDifference]:
    current_start = period_start(live.period_end, live.interval, utcnow())
    previous_start = period_start(current_start, live.interval, utcnow())
    found = []
    for invoice in invoices:
        end = _line_end(invoice)
        if end is None or end <= previous_start:
            continue  # before the previous period
        lines, _ = purchases.invoice_lines(
            session,
            (invoice.get("lines") or {}).get("data") or [],
            currency=invoice.get("currency"),
            price_for=prices.get,
        )
        expected = max(0, floor(sum((line.exact_credits for line in lines), Fraction(0))))
        purchase = session.exec(
            select(Purchase).where(col(Purchase.stripe_invoice_id) == invoice["id"])
        ).first()
        granted = purchase.credits_granted if purchase is not None else None
        if granted is None and not lines:
            continue  # no line of ours: nothing due, nothing recorded
        if granted != expected:
            found.append(
                GrantDifference(
                    live.user_id, live.subscription_id, invoice["id"], expected, granted
                )
            )
    return found


async def check_grants(
    gateway: StripeGateway, *, user_id: uuid.UUID | None = None, engine: Engine | None = None
) -> tuple[int, list[GrantDifference]]:
    """For each live subscription (of `user_id` only, when given: the admin's customer
    page): its paid invoices of the current and previous period against what we granted
    for each. Returns how many subscriptions were checked and the differences (none:
    Stripe's money and our grants agree)."""
    differences: list[GrantDifference] = []
    live = await asyncio.to_thread(_live_subscriptions, engine, user_id)
    for subscription in live:
        try:
            invoices = await gateway.paid_invoices(subscription.subscription_id)
        except StripeObjectMissing:
            logger.warning("Stripe has no subscription %s", subscription.subscription_id)
            continue
        prices: dict[str, dict[str, Any]] = {}
        for invoice in invoices:
            for price_id in webhooks.invoice_price_ids(
                (invoice.get("lines") or {}).get("data") or []
            ):
                if price_id not in prices:
                    prices[price_id] = await gateway.retrieve_price(price_id)
        with read_scope(engine) as session:
            differences.extend(_compare(session, subscription, invoices, prices))
    return len(live), differences
