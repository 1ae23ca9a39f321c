"""The ledger's events, queued when the transaction that wrote the entries commits.

The ledger knows nothing of webhooks (it is the layer below), but it records the ids of
the entries each session wrote (`credits.entries_written`). A `before_commit` listener on
every SQLModel session reads the ones not yet handled and queues, in the same transaction:

    grant, and adjust adding credits    -> credits.granted
    spend and capture                    -> credits.spent
    expire                               -> credits.expired
    any entry taking the balance from at least an endpoint's threshold to below it
                                         -> credits.low_balance (once per crossing)

so every path that changes a balance (the app, the CLI, the credits API, Stripe webhooks,
background jobs) queues its events with no call of its own, and an event exists exactly
when its entry does. The cost on the spend path is one indexed SELECT at commit (the
entries joined with the endpoints that may want them), and nothing more when nobody has
an endpoint; a commit that wrote no entry pays nothing.

    install()                     idempotent; credit_app/__init__.py calls it
    queue_entries(session, ids)   what the listener does: the events of these entries
"""

from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, event, or_, select
from sqlmodel import Session, col

from credit_app import clock, credits
from credit_app.models import EntryKind, LedgerEntry, User, WebhookEndpoint, WebhookEvent
from credit_app.outbound import events

# How many of the session's entries (credits.entries_written, cumulative for the
# session) have been handled: queued at a commit, or gone with a rollback.
HANDLED = "outbound.entries_handled"
# Ids per SELECT: far below every database's limit on bound parameters.
CHUNK = 500


def install() -> None:
    """Listen on every SQLModel session (once, however often called)."""
    if not event.contains(Session, "before_commit", _queue_at_commit):
        event.listen(Session, "before_commit", _queue_at_commit)
        event.listen(Session, "after_rollback", _forget_rolled_back)


def _queue_at_commit(session: Session) -> None:
    written = credits.entries_written(session)
    handled = session.info.get(HANDLED, 0)
    if len(written) <= handled:
        return
    session.info[HANDLED] = len(written)
    # A set: on SQLite a rolled-back entry's id is given to the next insert.
    queue_entries(session, sorted(set(written[handled:])))


def _forget_rolled_back(session: Session) -> None:
    # The entries written so far are gone with the transaction (or were queued before).
    session.info[HANDLED] = len(credits.entries_written(session))


_ENTRY_COLUMNS: tuple[Any, ...] = (
    col(LedgerEntry.id),
    col(LedgerEntry.user_id),
    col(LedgerEntry.kind),
    col(LedgerEntry.delta),
    col(LedgerEntry.balance_after),
    col(LedgerEntry.feature),
    col(LedgerEntry.description),
    col(LedgerEntry.created_at),
)
_ENDPOINT_COLUMNS: tuple[Any, ...] = (
    col(WebhookEndpoint.id).label("endpoint_id"),
    col(WebhookEndpoint.user_id).label("endpoint_user_id"),
    col(WebhookEndpoint.events),
    col(WebhookEndpoint.low_balance_threshold),
)


# Each entry of `ids` with each live endpoint that may want its events (its user's, and
# the operator's), for users not deleted: no row when nobody listens. Built once (every
# ledger commit runs it): rebuilding it and its cache key on each commit cost more than
# the query itself (benchmarks/api_spend.py, in-process spends +34 to +61 %).
_WITH_SUBSCRIBERS = (
    select(*_ENTRY_COLUMNS, *_ENDPOINT_COLUMNS)
    .join(User, col(User.id) == col(LedgerEntry.user_id))
    .join(
        WebhookEndpoint,
        col(WebhookEndpoint.removed_at).is_(None)
        & or_(
            col(WebhookEndpoint.user_id) == col(LedgerEntry.user_id),
            col(WebhookEndpoint.user_id).is_(None),
        ),
    )
    .where(col(LedgerEntry.id).in_(bindparam("ids", expanding=True)))
    .where(col(User.deleted_at).is_(None))
    .order_by(col(LedgerEntry.id), col(WebhookEndpoint.id))
)


def event_type_of(kind: str, delta: int) -> WebhookEvent | None:
    """The event an entry of `kind` is, besides a low balance (None: only that)."""
    if kind == EntryKind.GRANT or (kind == EntryKind.ADJUST and delta > 0):
        return WebhookEvent.GRANTED
    if kind in (EntryKind.SPEND, EntryKind.CAPTURE):
        return WebhookEvent.SPENT
    if kind == EntryKind.EXPIRE:
        return WebhookEvent.EXPIRED
    return None


def queue_entries(session: Session, entry_ids: list[int]) -> int:
    """Queue the events of these committed-to-be entries; how many events were queued."""
    by_entry: dict[int, list] = defaultdict(list)
    entries = {}
    for start in range(0, len(entry_ids), CHUNK):
        for row in session.execute(_WITH_SUBSCRIBERS, {"ids": entry_ids[start : start + CHUNK]}):
            entries[row.id] = row
            by_entry[row.id].append(
                events.Subscriber(
                    endpoint_id=row.endpoint_id,
                    user_id=row.endpoint_user_id,
                    events=frozenset(row.events.split(",")),
                    low_balance_threshold=row.low_balance_threshold,
                )
            )
    if not entries:
        return 0
    now = clock.now()
    queued = 0
    for entry_id in sorted(entries):
        entry, subscribers = entries[entry_id], by_entry[entry_id]
        data = {
            "entry_id": entry.id,
            "kind": entry.kind,
            "amount": abs(entry.delta),
            "delta": entry.delta,
            "balance_after": entry.balance_after,
            "feature": entry.feature,
            "description": entry.description,
        }
        event_type = event_type_of(entry.kind, entry.delta)
        if event_type is not None:
            wanted = [s.endpoint_id for s in subscribers if s.wants(event_type)]
            if wanted:
                events.queue_to(
                    session,
                    wanted,
                    user_id=entry.user_id,
                    event_type=event_type,
                    data=data,
                    occurred=entry.created_at,
                    now=now,
                )
                queued += 1
        # Endpoints with one threshold share one event (the threshold is in its body).
        crossed: dict[int, list[int]] = defaultdict(list)
        before = entry.balance_after - entry.delta
        for s in subscribers:
            threshold = s.low_balance_threshold
            if s.wants(WebhookEvent.LOW_BALANCE) and entry.balance_after < threshold <= before:
                crossed[threshold].append(s.endpoint_id)
        for threshold, endpoint_ids in sorted(crossed.items()):
            events.queue_to(
                session,
                endpoint_ids,
                user_id=entry.user_id,
                event_type=WebhookEvent.LOW_BALANCE,
                data={
                    "balance": entry.balance_after,
                    "threshold": threshold,
                    "entry_id": entry.id,
                },
                occurred=entry.created_at,
                now=now,
            )
            queued += 1
    return queued
