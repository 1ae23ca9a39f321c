"""What a signed-in page shows about its user, read in one transaction: balance, plan,
subscription and the latest ledger entries, with the rules that say what they mean (which
plan applies, a failed payment, a low balance); and /usage's view of the ledger, whose
period totals start where the billing period does and whose days are the person's (their
stored time zone); the balance split into credit lots (kind and expiry date), which lots
paid for an entry, and the person's monthly spending limit."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from credit_app import clock, credits, zones
from credit_app.billing import catalog
from credit_app.billing.subscriptions import (
    ENTITLED_STATUSES,
    billing_period_start,
    current_subscription,
)
from credit_app.credits import lot_views, usage
from credit_app.credits.limits import MAX_LIMIT as MAX_SPEND_LIMIT
from credit_app.credits.limits import InvalidLimit, LimitStatus, limit_status, parse_limit
from credit_app.credits.limits import set_spend_limit as _set_spend_limit
from credit_app.credits.lot_views import LotGroup
from credit_app.db import in_read, in_transaction
from credit_app.models import (
    LedgerEntry,
    PlanInterval,
    SubscriptionPlan,
    SubscriptionStatus,
    User,
    UserSubscription,
    utcnow,
)
from credit_app.settings import get_settings

# LedgerEntry, LotGroup and LimitStatus are re-exported: the rows of `AccountSnapshot`,
# for callers above the services (state/) that may not import the models.
__all__ = [
    "MAX_SPEND_LIMIT",
    "AccountSnapshot",
    "LedgerEntry",
    "LimitChange",
    "LimitStatus",
    "LotGroup",
    "account_snapshot",
    "change_spend_limit",
    "limit_error",
    "load_account",
    "load_paid_from",
    "load_spend_limit",
    "load_usage",
    "payment_failed",
]

RECENT_ENTRIES = 10

# Stripe could not collect a renewal. `past_due` keeps the plan for now (see
# ENTITLED_STATUSES), but no credits are granted until the invoice is paid.
PAYMENT_FAILED_STATUSES = (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID)


def payment_failed(status: str) -> bool:
    """Whether a subscription in Stripe's `status` is waiting for a failed payment."""
    return status in PAYMENT_FAILED_STATUSES


@dataclass(frozen=True)
class AccountSnapshot:
    name: str
    email: str
    balance: int
    available: int  # balance minus active holds
    # Fewer credits available than LOW_BALANCE_THRESHOLD: pages suggest buying more.
    low_balance: bool
    # The plan whose benefits apply now (Free unless the subscription is entitled).
    plan_id: str
    plan_name: str
    plan_rank: int
    # Stripe's status of the subscription ("" when there never was one), and when its
    # period ends.
    subscription_status: str
    period_end: datetime | None
    cancel_at_period_end: bool
    payment_failed: bool
    subscription_ended: bool
    has_billing_account: bool
    recent: list[LedgerEntry]
    # The person opened the link mailed to their address (auth.verification).
    email_verified: bool
    # Their IANA time zone ("Europe/Paris"; "" until one is known): pages list times in it
    # (else in the browser's), and dates the server writes are days there.
    time_zone: str = ""
    # A plan change waiting for the period end ("Changes to Pro monthly on ..."): the
    # plan's name with its billing interval, and when; "" / None when none is scheduled.
    scheduled_plan_name: str = ""
    scheduled_change_at: datetime | None = None
    # A renewal waiting for the customer to authenticate (3-D Secure): Stripe's hosted
    # invoice page where they do it; "" when nothing waits.
    authenticate_url: str = ""
    # The balance by kind and expiry date (credits.lot_views.balance_by_lot), in the order
    # spends use them, and the free credits that expire within 3 days of `read_at`.
    lots: list[LotGroup] = field(default_factory=list)
    expiring: list[LotGroup] = field(default_factory=list)
    # The time the snapshot describes (the application clock's now).
    read_at: datetime | None = None


def account_snapshot(
    session: Session,
    *,
    user_id: uuid.UUID,
    recent: int = RECENT_ENTRIES,
    low_balance_below: int | None = None,
    now: datetime | None = None,
) -> AccountSnapshot:
    """Raises credits.UnknownUser for an id with no user. `now`: the application clock's
    (clock.now()) unless given; it says which lots are live and which expire soon."""
    now = now or clock.now()
    user = session.scalar(select(User).where(col(User.id) == user_id))
    if user is None:
        raise credits.UnknownUser(user_id)
    if low_balance_below is None:
        low_balance_below = get_settings().low_balance_threshold
    found = current_subscription(session, user_id=user_id)
    subscription = found[0] if found else None
    plan = found[1] if found and found[0].status in ENTITLED_STATUSES else None
    status = subscription.status if subscription else ""
    available = user.credits - user.held
    return AccountSnapshot(
        name=user.name or user.email,
        email=user.email,
        balance=user.credits,
        available=available,
        low_balance=available < low_balance_below,
        plan_id=plan.id if plan else catalog.free_plan().id,
        plan_name=plan.name if plan else catalog.free_plan().name,
        plan_rank=plan.rank if plan else 0,
        subscription_status=status,
        period_end=subscription.current_period_end if subscription else None,
        cancel_at_period_end=bool(subscription and subscription.cancel_at_period_end),
        payment_failed=payment_failed(status),
        subscription_ended=status == SubscriptionStatus.CANCELED,
        has_billing_account=user.stripe_customer_id is not None,
        recent=credits.recent_entries(session, user_id=user_id, limit=recent),
        email_verified=user.email_verified_at is not None,
        time_zone=user.time_zone or "",
        scheduled_plan_name=_scheduled_name(session, subscription),
        scheduled_change_at=subscription.scheduled_change_at if subscription else None,
        authenticate_url=(subscription.action_required_url or "") if subscription else "",
        lots=lot_views.balance_by_lot(session, user_id=user_id, now=now),
        expiring=lot_views.expiring_soon(session, user_id=user_id, now=now),
        read_at=now,
    )


INTERVAL_WORDS = {PlanInterval.MONTH: "monthly", PlanInterval.YEAR: "yearly"}


def _scheduled_name(session: Session, subscription: UserSubscription | None) -> str:
    """ "Pro monthly": the scheduled plan's name and billing interval."""
    if subscription is None or subscription.scheduled_plan_id is None:
        return ""
    if subscription.status == SubscriptionStatus.CANCELED:
        return ""
    plan = session.get(SubscriptionPlan, subscription.scheduled_plan_id)
    if plan is None:
        return ""
    interval = INTERVAL_WORDS.get(PlanInterval(plan.interval)) if plan.interval else None
    return f"{plan.name} {interval}" if interval else plan.name


async def load_account(
    user_id: uuid.UUID,
    *,
    recent: int = RECENT_ENTRIES,
    low_balance_below: int | None = None,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> AccountSnapshot:
    """`account_snapshot` in its own read-only transaction, off the event loop."""
    return await in_read(
        account_snapshot,
        user_id=user_id,
        recent=recent,
        low_balance_below=low_balance_below,
        now=now,
        engine=engine,
    )


def _usage(
    session: Session,
    user_id: uuid.UUID,
    kind: usage.Kinds,
    tool: str | None,
    page: int,
    now: datetime,
) -> usage.UsageOverview:
    tz = zones.zone(session.scalar(select(col(User.time_zone)).where(col(User.id) == user_id)))
    return usage.usage_overview(
        session,
        user_id=user_id,
        period_start=billing_period_start(session, user_id=user_id, now=now, tz=tz),
        kind=kind,
        tool=tool,
        page=page,
        now=now,
        tz=tz,
    )


async def load_usage(
    user_id: uuid.UUID,
    *,
    kind: usage.Kinds = None,
    tool: str | None = None,
    page: int = 1,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> usage.UsageOverview:
    """Everything /usage shows (credits.usage.usage_overview), its period totals since the
    start of the user's current billing period, read in one read-only transaction so the
    numbers agree. Days (the chart's, the Free plan's calendar month) are counted in the
    user's stored time zone (UTC while none is known); `overview.tz` is that zone."""
    return await in_read(_usage, user_id, kind, tool, page, now or utcnow(), engine=engine)


async def load_paid_from(
    user_id: uuid.UUID, entry_id: int, *, engine: Engine | None = None
) -> list[LotGroup] | None:
    """Which kinds of credits paid for ledger entry `entry_id` (credits.lot_views.paid_from);
    None unless that entry is `user_id`'s own."""
    return await in_read(
        lambda session: lot_views.paid_from(session, user_id=user_id, entry_id=entry_id),
        engine=engine,
    )


async def load_spend_limit(
    user_id: uuid.UUID, *, now: datetime, engine: Engine | None = None
) -> LimitStatus:
    """The person's monthly spending limit and this month's use of it."""
    return await in_read(
        lambda session: limit_status(session, user_id=user_id, now=now), engine=engine
    )


@dataclass(frozen=True)
class LimitChange:
    """What a change of the spending limit answered: the new status, or why nothing was
    written (`error`, the customer's words, for the limit's field)."""

    status: LimitStatus | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None


def limit_error(raw: str) -> str:
    """What is wrong with a typed limit ("" when it is a good one), for the field."""
    try:
        parse_limit(raw)
    except InvalidLimit as exc:
        return exc.message
    return ""


async def change_spend_limit(
    user_id: uuid.UUID, raw: str | None, *, now: datetime, engine: Engine | None = None
) -> LimitChange:
    """Set the monthly limit to `raw` (what the person typed: "1000", "1,000"), or remove
    it (None). A bad value writes nothing and says why."""
    try:
        limit = None if raw is None else parse_limit(raw)
    except InvalidLimit as exc:
        return LimitChange(error=exc.message)
    status = await in_transaction(
        lambda session: _set_spend_limit(session, user_id=user_id, limit=limit, now=now),
        engine=engine,
    )
    return LimitChange(status=status)
