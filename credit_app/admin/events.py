"""Stripe events for operators: the list, one event with what it did, and replay.

    list_events(session, where=, page=)         -> EventPage
    event_detail(session, event_id=)            -> EventDetail | None
    failed_recently(session, now=)              -> failures in the last 24 hours
    await replay(gateway, actor=, event_id=, livemode=)  -> webhooks.Outcome

Replay is `credit-app replay`'s path (billing.webhooks.replay_event): a failed or deferred
event is claimed and applied once; a final one comes back duplicate. Each replay writes
an audit row with the outcome before and after.
"""

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from credit_app.admin import audit
from credit_app.billing import webhooks
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.db import read_scope, session_scope
from credit_app.models import (
    EventOutcome,
    LedgerEntry,
    StripeEvent,
    StripeEventEntry,
    User,
    utcnow,
)

PER_PAGE = 50
FAILURE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class EventFilter:
    type: str | None = None
    outcome: str | None = None  # an EventOutcome value
    user_id: uuid.UUID | None = None


@dataclass(frozen=True)
class EventRow:
    id: str
    type: str
    outcome: str
    received_at: datetime
    updated_at: datetime
    attempts: int
    detail: str
    error: str | None
    user_id: uuid.UUID | None
    customer_email: str | None

    @property
    def replayable(self) -> bool:
        return self.outcome in (EventOutcome.FAILED, EventOutcome.DEFERRED)


@dataclass(frozen=True)
class EventPage:
    rows: list[EventRow]
    page: int
    has_more: bool


def list_events(session: Session, *, where: EventFilter, page: int = 1) -> EventPage:
    """Events newest first, filtered by type, outcome and customer."""
    page = max(1, page)
    statement = (
        select(StripeEvent, col(User.email))
        .outerjoin(User, col(User.id) == col(StripeEvent.user_id))
        .order_by(col(StripeEvent.received_at).desc(), col(StripeEvent.id).desc())
        .limit(PER_PAGE + 1)
        .offset((page - 1) * PER_PAGE)
    )
    if where.type:
        statement = statement.where(col(StripeEvent.type) == where.type)
    if where.outcome:
        statement = statement.where(col(StripeEvent.outcome) == where.outcome)
    if where.user_id is not None:
        statement = statement.where(col(StripeEvent.user_id) == where.user_id)
    rows = [_row(event, email) for event, email in session.execute(statement)]
    return EventPage(rows=rows[:PER_PAGE], page=page, has_more=len(rows) > PER_PAGE)


def _row(event: StripeEvent, email: str | None) -> EventRow:
    return EventRow(
        id=event.id,
        type=event.type,
        outcome=event.outcome,
        received_at=event.received_at,
        updated_at=event.updated_at,
        attempts=event.attempts,
        detail=event.detail,
        error=event.error,
        user_id=event.user_id,
        customer_email=email,
    )


def event_types(session: Session) -> list[str]:
    """Every event type recorded, for the filter."""
    return list(session.scalars(select(col(StripeEvent.type)).distinct().order_by("type")))


@dataclass(frozen=True)
class EntryRow:
    id: int
    kind: str
    delta: int
    balance_after: int
    idempotency_key: str
    created_at: datetime


@dataclass(frozen=True)
class EventDetail:
    event: EventRow
    payload: str  # pretty JSON ("" when not stored: events from before revision 0005)
    entries: list[EntryRow]  # the ledger entries its processing wrote


def event_detail(session: Session, *, event_id: str) -> EventDetail | None:
    found = session.execute(
        select(StripeEvent, col(User.email))
        .outerjoin(User, col(User.id) == col(StripeEvent.user_id))
        .where(col(StripeEvent.id) == event_id)
    ).first()
    if found is None:
        return None
    event, email = found
    entries = session.scalars(
        select(LedgerEntry)
        .join(StripeEventEntry, col(StripeEventEntry.entry_id) == col(LedgerEntry.id))
        .where(col(StripeEventEntry.event_id) == event_id)
        .order_by(col(LedgerEntry.id))
    ).all()
    payload = ""
    if event.payload:
        try:
            payload = json.dumps(json.loads(event.payload), indent=2, sort_keys=True)
        except ValueError:
            payload = event.payload
    return EventDetail(
        event=_row(event, email),
        payload=payload,
        entries=[
            EntryRow(e.id or 0, e.kind, e.delta, e.balance_after, e.idempotency_key, e.created_at)
            for e in entries
        ],
    )


def failed_recently(session: Session, *, now: datetime) -> int:
    """Events whose last attempt failed within FAILURE_WINDOW (the console's banner)."""
    return (
        session.scalar(
            select(func.count()).where(
                col(StripeEvent.outcome) == EventOutcome.FAILED,
                col(StripeEvent.updated_at) > now - FAILURE_WINDOW,
            )
        )
        or 0
    )


def _outcome_of(engine: Engine | None, event_id: str) -> str | None:
    with read_scope(engine) as session:
        return session.scalar(
            select(col(StripeEvent.outcome)).where(col(StripeEvent.id) == event_id)
        )


def _audit_replay(
    session: Session,
    actor: audit.Actor,
    event_id: str,
    before: str | None,
    outcome: webhooks.Outcome,
) -> None:
    user_id = session.scalar(
        select(col(StripeEvent.user_id)).where(col(StripeEvent.id) == event_id)
    )
    audit.record(
        session,
        actor=actor,
        action=audit.Action.REPLAY,
        target_user_id=user_id,
        target_ref=event_id,
        before={"outcome": before},
        after={"outcome": str(outcome.outcome), "detail": outcome.detail},
        now=utcnow(),
    )


def _audit_in_own_transaction(engine, actor, event_id, before, outcome) -> None:
    with session_scope(engine) as session:
        _audit_replay(session, actor, event_id, before, outcome)


async def replay(
    gateway: StripeGateway,
    *,
    actor: audit.Actor,
    event_id: str,
    livemode: bool,
    engine: Engine | None = None,
) -> webhooks.Outcome:
    """Run a recorded event again (webhooks.replay_event) and audit it: the audit row is
    written in the transaction that records the replay's outcome (with its effects, when
    it applied), so neither commits without the other. An event that was final already
    changes nothing and is audited on its own. Raises webhooks.ReplayRefused for an
    unknown event or one stored without its payload."""
    before = await asyncio.to_thread(_outcome_of, engine, event_id)
    audited: list[webhooks.Outcome] = []

    def audit_row(session: Session, outcome: webhooks.Outcome) -> None:
        # Only this event's: a replayed payment may complete other events waiting for it.
        if outcome.event_id == event_id and not audited:
            _audit_replay(session, actor, event_id, before, outcome)
            audited.append(outcome)

    with webhooks.recording_also(audit_row):
        outcome = await webhooks.replay_event(gateway, event_id, livemode=livemode, engine=engine)
    if not audited:
        await asyncio.to_thread(_audit_in_own_transaction, engine, actor, event_id, before, outcome)
    return outcome
