"""The admin overview's numbers, each computed when asked from the ledger (through its
daily totals, credits.daily: a cache rebuilt from the ledger at will and checked by
reconcile), users, subscriptions, Stripe events and the audit log.

    overview(session, days=, now=)   -> Overview

Days are UTC calendar days, the last one today. Credits per day and the top tools read
the window's daily totals plus the entries not rolled up yet; sign-ups read
`users.created_at`.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from credit_app.admin import audit
from credit_app.admin.events import failed_recently
from credit_app.credits import daily
from credit_app.models import (
    AuditEntry,
    EntryKind,
    EventOutcome,
    PlanInterval,
    StripeEvent,
    SubscriptionPlan,
    SubscriptionStatus,
    User,
    UserSubscription,
)

WINDOWS = (30, 90)
TOP_TOOLS = 5
# Subscriptions that bring in money: still billed, or in a grace period.
PAYING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)
ADDED_KINDS = (EntryKind.GRANT,)
USED_KINDS = (EntryKind.SPEND, EntryKind.CAPTURE, EntryKind.REFUND)


@dataclass(frozen=True)
class DayCredits:
    day: str  # "2026-11-26"
    granted: int
    spent: int  # net of refunds for failed tools
    expired: int
    adjusted: int  # operators' adjustments, net (+ added, - removed)
    signups: int


@dataclass(frozen=True)
class PlanRevenue:
    plan: str
    subscriptions: int
    mrr: int  # minor units per month (a yearly price counts a twelfth)
    currency: str


@dataclass(frozen=True)
class Overview:
    days: list[DayCredits]
    plans: list[PlanRevenue]
    top_tools: list[tuple[str, int]]  # (feature id, credits used) most first
    reconcile_at: datetime | None  # the last `reconcile` run (CLI or console)
    reconcile_drift: int | None
    failed_events: int  # events whose outcome is failed now
    failed_last_day: int
    totals: dict[str, int] = field(default_factory=dict)


def _day(session: Session, column):
    """The UTC calendar day of a timestamp column, as text 'YYYY-MM-DD'."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def _ledger_days(session: Session, first_day: str) -> list[daily.DayTotal]:
    """The window's totals per day, kind and tool: the rolled-up days, plus the entries
    not rolled up yet counted live."""
    return daily.totals(session, since_day=first_day) + daily.live_totals(
        session, since_day=first_day
    )


def _credits_per_day(rows: list[daily.DayTotal]) -> dict[str, dict[str, int]]:
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        if row.kind in ADDED_KINDS:
            per_day[row.day]["granted"] += row.credits
        elif row.kind in USED_KINDS:
            per_day[row.day]["spent"] -= row.credits
        elif row.kind == EntryKind.EXPIRE:
            per_day[row.day]["expired"] -= row.credits
        elif row.kind == EntryKind.ADJUST:
            per_day[row.day]["adjusted"] += row.credits
    return per_day


def _signups_per_day(session: Session, since: datetime) -> dict[str, int]:
    day = _day(session, col(User.created_at))
    rows = session.execute(
        select(day, func.count()).where(col(User.created_at) >= since).group_by(day)
    ).all()
    return {on: int(n) for on, n in rows}


def _plans(session: Session) -> list[PlanRevenue]:
    rows = session.execute(
        select(
            col(SubscriptionPlan.name),
            col(SubscriptionPlan.price),
            col(SubscriptionPlan.interval),
            col(SubscriptionPlan.currency),
            func.count(),
        )
        .join(UserSubscription, col(UserSubscription.plan_id) == col(SubscriptionPlan.id))
        .where(col(UserSubscription.status).in_(PAYING))
        .group_by(
            col(SubscriptionPlan.id),
            col(SubscriptionPlan.name),
            col(SubscriptionPlan.price),
            col(SubscriptionPlan.interval),
            col(SubscriptionPlan.currency),
        )
        .order_by(col(SubscriptionPlan.id))
    ).all()
    revenue = []
    for name, price, interval, currency, count in rows:
        monthly = price // 12 if interval == PlanInterval.YEAR else price
        revenue.append(PlanRevenue(name, int(count), int(count) * monthly, currency))
    return revenue


def _top_tools(rows: list[daily.DayTotal]) -> list[tuple[str, int]]:
    used: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.kind in USED_KINDS and row.feature != daily.NO_TOOL:
            used[row.feature] -= row.credits
    ranked = sorted(used.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:TOP_TOOLS]


def _last_reconcile(session: Session) -> tuple[datetime | None, int | None]:
    row = session.execute(
        select(col(AuditEntry.created_at), col(AuditEntry.after))
        .where(col(AuditEntry.action) == audit.Action.RECONCILE)
        .order_by(col(AuditEntry.id).desc())
        .limit(1)
    ).first()
    if row is None:
        return None, None
    return row.created_at, int(json.loads(row.after or "{}").get("drift", 0))


def overview(session: Session, *, days: int = 30, now: datetime) -> Overview:
    """The overview for the last `days` days (30 or 90)."""
    if days not in WINDOWS:
        days = WINDOWS[0]
    first: date = now.astimezone(UTC).date() - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    rows = _ledger_days(session, first.isoformat())
    credits = _credits_per_day(rows)
    signups = _signups_per_day(session, since)
    series = []
    for offset in range(days):
        on = (first + timedelta(days=offset)).isoformat()
        numbers = credits.get(on, {})
        series.append(
            DayCredits(
                day=on,
                granted=numbers.get("granted", 0),
                spent=numbers.get("spent", 0),
                expired=numbers.get("expired", 0),
                adjusted=numbers.get("adjusted", 0),
                signups=signups.get(on, 0),
            )
        )
    reconcile_at, drift = _last_reconcile(session)
    failed = (
        session.scalar(select(func.count()).where(col(StripeEvent.outcome) == EventOutcome.FAILED))
        or 0
    )
    return Overview(
        days=series,
        plans=_plans(session),
        top_tools=_top_tools(rows),
        reconcile_at=reconcile_at,
        reconcile_drift=drift,
        failed_events=failed,
        failed_last_day=failed_recently(session, now=now),
        totals={
            "granted": sum(d.granted for d in series),
            "spent": sum(d.spent for d in series),
            "expired": sum(d.expired for d in series),
            "adjusted": sum(d.adjusted for d in series),
            "signups": sum(d.signups for d in series),
        },
    )
