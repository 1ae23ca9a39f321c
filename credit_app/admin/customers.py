"""Finding a customer, and everything the admin's customer page shows of one.

    search(session, query=, sort=, page=)           -> CustomerPage
    find_by_email(session, email)                   -> user id | None
    customer_view(session, user_id=, now=)          -> CustomerView | None

Search matches a case-insensitive prefix of the address or of the name. On PostgreSQL
both comparisons are served by expression indexes with `text_pattern_ops` (revision
0011), so a prefix finds its first page without reading the users table; a page holds
PER_PAGE rows and says whether more follow (no count over a million rows).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from credit_app.auth import accounts, sessions, validation
from credit_app.billing.auto_topup import AutoTopUpView, topup_view
from credit_app.credits import limits, lot_views
from credit_app.credits.lot_views import LotGroup
from credit_app.models import (
    Hold,
    HoldStatus,
    Shortfall,
    StripeEvent,
    SubscriptionPlan,
    User,
    UserSubscription,
)

PER_PAGE = 25
QUERY_MAX = 64
EVENTS_SHOWN = 20


class Sort(StrEnum):
    BALANCE = "balance"
    PLAN = "plan"
    ACTIVITY = "activity"
    JOINED = "joined"


@dataclass(frozen=True)
class CustomerRow:
    user_id: uuid.UUID
    email: str
    name: str | None
    credits: int
    held: int
    plan: str | None  # the subscription's plan name (None: no subscription)
    status: str | None
    last_activity_at: datetime | None
    created_at: datetime
    role: str
    deleted: bool


@dataclass(frozen=True)
class CustomerPage:
    rows: list[CustomerRow]
    page: int
    has_more: bool


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def search(
    session: Session, *, query: str, sort: Sort = Sort.BALANCE, page: int = 1
) -> CustomerPage:
    """Customers whose address or name starts with `query` (any case; empty: everyone),
    sorted by `sort` (balance and activity highest/newest first, plan by its rank, joined
    newest first), page `page` (from 1)."""
    page = max(1, page)
    prefix = query.strip()[:QUERY_MAX]
    statement = (
        select(
            col(User.id),
            col(User.email),
            col(User.name),
            col(User.credits),
            col(User.held),
            cast(Any, col(SubscriptionPlan.name).label("plan")),
            col(UserSubscription.status),
            col(User.last_activity_at),
            col(User.created_at),
            col(User.role),
            col(User.deleted_at),
        )
        .outerjoin(UserSubscription, col(UserSubscription.user_id) == col(User.id))
        .outerjoin(SubscriptionPlan, col(SubscriptionPlan.id) == col(UserSubscription.plan_id))
    )
    if prefix:
        # The address part compares with email_key, the address's canonical form
        # (NFKC + casefold, as sign-up stores it); lower() matches the index expression.
        key = _like_prefix(validation.email_key(prefix))
        name = _like_prefix(prefix.lower())
        statement = statement.where(
            or_(
                func.lower(col(User.email_key)).like(key, escape="\\"),
                func.lower(col(User.name)).like(name, escape="\\"),
            )
        )
    orders: dict[Sort, list[Any]] = {
        Sort.BALANCE: [col(User.credits).desc()],
        Sort.PLAN: [col(SubscriptionPlan.rank).desc().nulls_last(), col(User.credits).desc()],
        Sort.ACTIVITY: [col(User.last_activity_at).desc().nulls_last()],
        Sort.JOINED: [col(User.created_at).desc()],
    }
    order = orders[sort]
    rows = session.execute(
        statement.order_by(*order, col(User.id)).limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)
    ).all()
    return CustomerPage(
        rows=[
            CustomerRow(
                user_id=row.id,
                email=row.email,
                name=row.name,
                credits=row.credits,
                held=row.held,
                plan=row.plan,
                status=row.status,
                last_activity_at=row.last_activity_at,
                created_at=row.created_at,
                role=row.role,
                deleted=row.deleted_at is not None,
            )
            for row in rows[:PER_PAGE]
        ],
        page=page,
        has_more=len(rows) > PER_PAGE,
    )


def find_by_email(session: Session, email: str) -> uuid.UUID | None:
    return accounts.user_id_by_email(session, email)


@dataclass(frozen=True)
class HoldRow:
    id: int
    amount: int
    feature: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class SubscriptionRow:
    plan: str
    status: str
    current_period_end: datetime
    cancel_at_period_end: bool
    scheduled_plan: str | None
    scheduled_change_at: datetime | None


@dataclass(frozen=True)
class ShortfallRow:
    id: int
    credits: int
    recovered: int
    status: str
    reference: str
    created_at: datetime


@dataclass(frozen=True)
class EventRow:
    id: str
    type: str
    outcome: str
    received_at: datetime
    detail: str


@dataclass(frozen=True)
class CustomerView:
    user_id: uuid.UUID
    email: str
    name: str | None
    role: str
    created_at: datetime
    email_verified: bool
    time_zone: str | None
    deleted: bool
    stripe_customer_id: str | None
    credits: int
    held: int
    last_activity_at: datetime | None
    lots: list[LotGroup]
    holds: list[HoldRow]
    subscription: SubscriptionRow | None
    auto_topup: AutoTopUpView
    spend_limit: limits.LimitStatus
    sessions: list[sessions.SessionInfo]
    shortfalls: list[ShortfallRow]
    events: list[EventRow]

    @property
    def available(self) -> int:
        return self.credits - self.held


def _subscription(session: Session, user_id: uuid.UUID) -> SubscriptionRow | None:
    row = session.execute(
        select(UserSubscription, col(SubscriptionPlan.name))
        .join(SubscriptionPlan, col(SubscriptionPlan.id) == col(UserSubscription.plan_id))
        .where(col(UserSubscription.user_id) == user_id)
    ).first()
    if row is None:
        return None
    subscription, plan = row
    scheduled = (
        session.get(SubscriptionPlan, subscription.scheduled_plan_id)
        if subscription.scheduled_plan_id
        else None
    )
    return SubscriptionRow(
        plan=plan,
        status=subscription.status,
        current_period_end=subscription.current_period_end,
        cancel_at_period_end=subscription.cancel_at_period_end,
        scheduled_plan=scheduled.name if scheduled else None,
        scheduled_change_at=subscription.scheduled_change_at,
    )


def customer_view(session: Session, *, user_id: uuid.UUID, now: datetime) -> CustomerView | None:
    """Everything the customer page shows but the ledger (`credits.usage.entries_page`,
    paged with /usage's filters); None for an unknown id."""
    user = session.get(User, user_id)
    if user is None:
        return None
    holds = session.scalars(
        select(Hold)
        .where(col(Hold.user_id) == user_id, col(Hold.status) == HoldStatus.ACTIVE)
        .order_by(col(Hold.id))
    ).all()
    shortfalls = session.scalars(
        select(Shortfall).where(col(Shortfall.user_id) == user_id).order_by(col(Shortfall.id))
    ).all()
    events = session.scalars(
        select(StripeEvent)
        .where(col(StripeEvent.user_id) == user_id)
        .order_by(col(StripeEvent.received_at).desc())
        .limit(EVENTS_SHOWN)
    ).all()
    return CustomerView(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        created_at=user.created_at,
        email_verified=user.email_verified_at is not None,
        time_zone=user.time_zone,
        deleted=user.deleted_at is not None,
        stripe_customer_id=user.stripe_customer_id,
        credits=user.credits,
        held=user.held,
        last_activity_at=user.last_activity_at,
        lots=lot_views.balance_by_lot(session, user_id=user_id, now=now),
        holds=[HoldRow(h.id or 0, h.amount, h.feature, h.created_at, h.expires_at) for h in holds],
        subscription=_subscription(session, user_id),
        auto_topup=topup_view(session, user_id, now),
        spend_limit=limits.limit_status(session, user_id=user_id, now=now),
        sessions=sessions.list_sessions(session, user_id=user_id, current_token="", now=now),
        shortfalls=[
            ShortfallRow(s.id or 0, s.credits, s.recovered, s.status, s.reference, s.created_at)
            for s in shortfalls
        ],
        events=[EventRow(e.id, e.type, e.outcome, e.received_at, e.detail) for e in events],
    )
