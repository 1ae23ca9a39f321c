"""A user's subscription as last applied from Stripe, which plan that means, and when its
current billing period started."""

import calendar
import uuid
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from credit_app import outbound, zones
from credit_app.billing.purchases import plan_for_line_price
from credit_app.models import (
    PlanInterval,
    StripeEvent,
    SubscriptionPlan,
    SubscriptionStatus,
    User,
    UserSubscription,
    utcnow,
)

# Stripe statuses under which the plan's benefits apply. StrEnum members equal their
# strings, so a status read from Stripe or the database is tested with `in` directly.
ENTITLED_STATUSES = (
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.PAST_DUE,
)


def from_timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def customer_conflict(session: Session, user: User, customer: str | None) -> str | None:
    """Why `customer` cannot be `user`'s, if it cannot: the user has another customer
    stored, or another account has this one. None when it fits (or there is none)."""
    if not customer:
        return None
    if user.stripe_customer_id is not None and user.stripe_customer_id != customer:
        return f"customer {customer} is not this account's ({user.stripe_customer_id} is)"
    owner = session.scalar(
        select(col(User.id)).where(
            col(User.stripe_customer_id) == customer, col(User.id) != user.id
        )
    )
    return f"customer {customer} belongs to another account" if owner is not None else None


def user_for(session: Session, *, metadata: dict | None, customer: str | None) -> uuid.UUID | None:
    """Our user behind a Stripe object: the user id we put in its metadata, else the
    customer id we stored when creating the Stripe customer. A deleted account is nobody's:
    what Stripe still says about it changes nothing (its events are recorded as ignored).
    Metadata naming a user whose stored customer is not the object's (or whose customer
    is another account's) names nobody: the two must agree when both are known."""
    user_id = (metadata or {}).get("user_id")
    if user_id:
        try:
            candidate = uuid.UUID(str(user_id))
        except ValueError:
            candidate = None
        if candidate:
            user = session.get(User, candidate)
            if user is not None and user.deleted_at is None:
                return None if customer_conflict(session, user, customer) else candidate
    if customer:
        return session.scalar(
            select(col(User.id)).where(
                col(User.stripe_customer_id) == customer, col(User.deleted_at).is_(None)
            )
        )
    return None


def deleted_account_for(
    session: Session, *, user_id: uuid.UUID | None, customer: str | None
) -> uuid.UUID | None:
    """The deleted account a Stripe object belongs to, if it is one's: by the user id in
    its metadata, or by its customer (erased from the account, so found through the
    earlier events recorded for that customer and account)."""
    if user_id is not None:
        # Locked: an event racing the deletion's transaction waits for it, then sees the
        # account deleted (PostgreSQL re-reads the row; SQLite runs one writer at a time).
        row = session.execute(
            select(col(User.deleted_at)).where(col(User.id) == user_id).with_for_update()
        ).first()
        if row is not None and row.deleted_at is not None:
            return user_id
    if customer:
        return session.scalar(
            select(col(StripeEvent.user_id))
            .join(User, col(User.id) == col(StripeEvent.user_id))
            .where(
                col(StripeEvent.stripe_customer_id) == customer, col(User.deleted_at).is_not(None)
            )
            .limit(1)
        )
    return None


def plan_for_price(session: Session, price: dict[str, Any]) -> SubscriptionPlan | None:
    """Our plan behind a Stripe price (billing.purchases.plan_for_line_price: its
    `plan_id` metadata, a bare lookup key of before the prefix, or the price id recorded
    by seed-plans); None for anyone else's price."""
    return plan_for_line_price(session, price) if isinstance(price, dict) else None


def scheduled_change(
    subscription: dict[str, Any], session: Session
) -> tuple[SubscriptionPlan, datetime] | None:
    """The plan change waiting for the period end, if any: the subscription's schedule
    (expanded by the gateway, which fetches its phases' prices) has a phase after the
    current one, on another price. The portal schedules downgrades and shorter intervals
    this way (`schedule_at_period_end`)."""
    schedule = subscription.get("schedule")
    if not isinstance(schedule, dict) or schedule.get("status") not in ("active", "not_started"):
        return None
    current = schedule.get("current_phase") or {}
    after = current.get("end_date") or 0
    items = (subscription.get("items") or {}).get("data") or []
    price_now = (items[0].get("price") or {}).get("id") if items else None
    for phase in sorted(schedule.get("phases") or [], key=lambda p: p.get("start_date") or 0):
        if (phase.get("start_date") or 0) < after or not phase.get("items"):
            continue
        price = phase["items"][0].get("price")
        price = price if isinstance(price, dict) else {"id": price}
        if price.get("id") == price_now:
            continue
        plan = plan_for_price(session, price)
        starts = from_timestamp(phase.get("start_date"))
        if plan is not None and starts is not None:
            return plan, starts
    return None


def apply_subscription(session: Session, subscription: dict[str, Any], *, seen_at: datetime) -> str:
    """Store Stripe's current state of a subscription for its user.

    `subscription` is re-fetched from Stripe by the caller, so it is the newest state,
    whatever order events arrived in. `seen_at` (the event's Stripe timestamp) still
    guards against a slower handler, which fetched earlier, committing after a faster
    one that fetched later: the older one is skipped.
    """
    user_id = user_for(
        session, metadata=subscription.get("metadata"), customer=subscription.get("customer")
    )
    if user_id is None:
        return "ignored: no user for this subscription"
    item = subscription["items"]["data"][0]
    plan = plan_for_price(session, item["price"])
    if plan is None:
        return f"ignored: price {item['price'].get('id')} is not one of our plans"

    row = session.scalar(
        select(UserSubscription).where(col(UserSubscription.user_id) == user_id).with_for_update()
    )
    status: str = subscription["status"]
    period_end = from_timestamp(item.get("current_period_end")) or utcnow()
    before = _reported(row) if row is not None else None
    if row is not None:
        if row.stripe_subscription_id == subscription["id"]:
            if row.stripe_state_at and seen_at < row.stripe_state_at:
                return "ignored: older than the state already applied"
        elif row.status in ENTITLED_STATUSES and status not in ENTITLED_STATUSES:
            return "ignored: an ended subscription never replaces a live one"
    else:
        row = UserSubscription(
            user_id=user_id, plan_id=plan.id, status=status, current_period_end=period_end
        )
    row.plan_id = plan.id
    row.stripe_subscription_id = subscription["id"]
    row.status = status
    row.current_period_end = period_end
    row.cancel_at_period_end = bool(
        subscription.get("cancel_at_period_end") or subscription.get("cancel_at")
    )
    scheduled = scheduled_change(subscription, session)
    row.scheduled_plan_id = scheduled[0].id if scheduled else None
    row.scheduled_change_at = scheduled[1] if scheduled else None
    row.stripe_state_at = seen_at
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    if _reported(row) != before:
        outbound.subscription_updated(session, row)
    return f"subscription {subscription['id']} is {status} on {plan.id}"


def _reported(row: UserSubscription) -> tuple:
    """What a subscription.updated webhook tells: sent when it changed."""
    return (row.plan_id, row.status, row.current_period_end, row.cancel_at_period_end)


def current_subscription(
    session: Session, *, user_id: uuid.UUID
) -> tuple[UserSubscription, SubscriptionPlan] | None:
    row = session.execute(
        select(UserSubscription, SubscriptionPlan)
        .join(SubscriptionPlan, col(SubscriptionPlan.id) == col(UserSubscription.plan_id))
        .where(col(UserSubscription.user_id) == user_id)
    ).first()
    return (row[0], row[1]) if row else None


def period_start(
    period_end: datetime | None,
    interval: PlanInterval | str | None,
    now: datetime,
    tz: tzinfo = UTC,
) -> datetime:
    """Start of the current billing period: one interval before its end; on Free (no
    period), the start of the calendar month in `tz`, the person's time zone."""
    if period_end is None or interval not in (PlanInterval.MONTH, PlanInterval.YEAR):
        return zones.month_start(now, tz)
    months = 12 if interval == PlanInterval.YEAR else 1
    year, month = divmod(period_end.year * 12 + period_end.month - 1 - months, 12)
    day = min(period_end.day, calendar.monthrange(year, month + 1)[1])
    return period_end.replace(year=year, month=month + 1, day=day)


def billing_period_start(
    session: Session, *, user_id: uuid.UUID, now: datetime, tz: tzinfo = UTC
) -> datetime:
    """The start of the user's current billing period: one plan interval before the end of
    the subscription's current period; with no subscription, or a canceled one, the start
    of the calendar month in `tz` (the user's time zone)."""
    found = current_subscription(session, user_id=user_id)
    if found is None or found[0].status == SubscriptionStatus.CANCELED:
        return period_start(None, None, now, tz)
    subscription, plan = found
    return period_start(subscription.current_period_end, plan.interval, now)
