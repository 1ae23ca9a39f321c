"""Apply a verified Stripe event exactly once (DESIGN.md invariant 3), and keep what came
of it on the event's row.

Two steps. First, outside any transaction, fetch what the event's handler declared it
needs from Stripe (webhook_registry.Fetch) — network calls never hold database locks.
Then, in one transaction: claim the event row and apply the handler's effects. The claim
inserts the row under the event's unique id, or takes back a row left `deferred` or
`failed` (`UPDATE ... WHERE outcome IN ('deferred', 'failed')`); a concurrent or later
delivery finds the row claimed or final and changes nothing. A crash rolls back both.
A repeated delivery is answered before step one from the event's row (final: one indexed
read, no Stripe call), or from the attempt already running in this process.

Outcomes (models.EventOutcome): applied, ignored and duplicate are final. RetryLater
rolls the effects back and records `deferred` (the route answers 2xx: it waits for
another event, which Stripe's retries would not bring, and Stripe disables endpoints
that keep failing); any other error rolls them back and records `failed` with the error,
in a transaction of its own (the route answers 500). A deferred refund or dispute is run
again as soon as the payment it waits for is recorded (`process_event`), and either kind
is claimed again by Stripe's next delivery (failed), by `credit-app replay EVT_ID`, which
runs the stored payload through this same path, or by a sync. An
unfinished outcome never overwrites a final one written meanwhile. An object Stripe no
longer has (404, `resource_missing`) makes the event `ignored`, final: no retry would
find it.
"""

import asyncio
import dataclasses
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from credit_app import credits
from credit_app.billing import purchases
from credit_app.billing.stripe_gateway import StripeGateway, StripeObjectMissing
from credit_app.billing.subscriptions import deleted_account_for
from credit_app.billing.webhook_handlers import (
    COMPLETES_TAKE_BACKS,
    TAKE_BACK_TYPES,
    event_time,
    registry,
)
from credit_app.billing.webhook_records import (
    deferred_events_about,
    erase_personal_data_from_events,
)
from credit_app.billing.webhook_registry import Facts, Fetch, Handled, RetryLater
from credit_app.db import insert_unless_exists, read_scope, session_scope
from credit_app.models import (
    EVENT_TYPE_MAX,
    RETRYABLE_OUTCOMES,
    STRIPE_ID_MAX,
    EventOutcome,
    StripeEvent,
    StripeEventEntry,
    utcnow,
)

__all__ = [
    "Facts",
    "Outcome",
    "ReplayRefused",
    "RetryLater",
    "apply_event",
    "claim_event",
    "gather_facts",
    "invoice_price_ids",
    "owner_ids",
    "process_event",
    "replay_event",
    "subscription_id_of",
]

logger = logging.getLogger(__name__)

DETAIL_MAX = 255
ERROR_MAX = 2000


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery (or replay) of an event. `duplicate` when it had been
    processed already (or another event had done what it reports): nothing changed."""

    event_id: str
    type: str
    outcome: EventOutcome
    detail: str
    user_ids: tuple[str, ...] = ()  # whose balance or plan may have changed
    error: str | None = None

    @property
    def final(self) -> bool:
        return self.outcome.final


class ReplayRefused(Exception):
    """`replay` cannot run this event (unknown id, or recorded without its payload)."""


def invoice_price_ids(lines: list[dict[str, Any]]) -> list[str]:
    """The ids of the prices an invoice's lines bill and carry only by id, in line order,
    each once (a line with its Price expanded needs nothing fetched)."""
    ids: list[str] = []
    for line in lines:
        price = purchases.line_price(line)
        if isinstance(price, str) and price not in ids:
            ids.append(price)
    return ids


def _dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else empty (a field missing, null or malformed)."""
    return value if isinstance(value, dict) else {}


def subscription_id_of(obj: dict[str, Any]) -> str | None:
    """An invoice's subscription: `parent.subscription_details.subscription` since API
    2025-03; older payloads had a top-level `subscription`."""
    details = _dict(_dict(obj.get("parent")).get("subscription_details"))
    return details.get("subscription") or obj.get("subscription")


def _subscription_of(obj: dict[str, Any]) -> str | None:
    """The subscription a subscription, invoice or subscription checkout is about."""
    kind = obj.get("object")
    if kind == "subscription":
        return obj.get("id")
    if kind == "checkout.session":
        return obj.get("subscription") if obj.get("mode") == "subscription" else None
    return subscription_id_of(obj)


async def _fetch_subscription(gateway: StripeGateway, obj: dict[str, Any], facts: Facts) -> None:
    if subscription_id := _subscription_of(obj):
        facts.subscription = await gateway.retrieve_subscription(subscription_id)


def _is_subscription_invoice(obj: dict[str, Any]) -> bool:
    return obj.get("object") == "invoice" and bool(subscription_id_of(obj))


async def _fetch_invoice_lines(gateway: StripeGateway, obj: dict[str, Any], facts: Facts) -> None:
    lines = _dict(obj.get("lines"))
    complete = isinstance(lines.get("data"), list) and not lines.get("has_more")
    if _is_subscription_invoice(obj) and obj.get("id") and not complete:
        facts.invoice_lines = await gateway.list_invoice_lines(obj["id"])


async def _fetch_invoice_prices(gateway: StripeGateway, obj: dict[str, Any], facts: Facts) -> None:
    if not _is_subscription_invoice(obj):
        return
    lines = facts.invoice_lines
    if lines is None:
        lines = _dict(obj.get("lines")).get("data") or []
    items = _dict(_dict(facts.subscription).get("items")).get("data") or []
    carried = {_dict(item.get("price")).get("id") for item in items if isinstance(item, dict)}
    for price_id in invoice_price_ids(lines):
        if price_id not in carried:
            facts.invoice_prices[price_id] = await gateway.retrieve_price(price_id)


async def _fetch_dispute(gateway: StripeGateway, obj: dict[str, Any], facts: Facts) -> None:
    facts.dispute = await gateway.retrieve_dispute(obj["id"])


async def _fetch_payment_invoice(gateway: StripeGateway, obj: dict[str, Any], facts: Facts) -> None:
    if payment_intent := obj.get("payment_intent"):
        facts.invoice_id = await gateway.invoice_for_payment_intent(payment_intent)


_FETCHERS: dict[Fetch, Callable[[StripeGateway, dict[str, Any], Facts], Awaitable[None]]] = {
    Fetch.SUBSCRIPTION: _fetch_subscription,
    Fetch.INVOICE_LINES: _fetch_invoice_lines,
    Fetch.INVOICE_PRICES: _fetch_invoice_prices,
    Fetch.DISPUTE: _fetch_dispute,
    Fetch.PAYMENT_INVOICE: _fetch_payment_invoice,
}
assert set(_FETCHERS) == set(Fetch), "every Fetch needs a fetcher"


async def gather_facts(gateway: StripeGateway, event: dict[str, Any]) -> Facts:
    """Fetch what the event's handler declared (nothing for an unhandled type), in the
    order `Fetch` declares (an invoice's prices after its lines)."""
    facts = Facts()
    obj = event["data"]["object"]
    plan = registry.fetch_plan(event["type"])
    for need in Fetch:
        if need in plan:
            await _FETCHERS[need](gateway, obj, facts)
    return facts


# The deliveries being processed in this process, by event loop and event id: a
# concurrent copy of one (Stripe retrying while the first attempt still runs, copies sent
# at once) waits for that attempt instead of fetching from Stripe again. Across processes
# the claim's unique row still applies the event once. An entry lives while its attempt
# runs. None: the attempt raised (it was cancelled), and a waiting copy processes the
# event itself.
_in_flight: dict[tuple[asyncio.AbstractEventLoop, str], "asyncio.Future[Outcome | None]"] = {}


def _joined(event: dict[str, Any], first: Outcome) -> Outcome:
    """A copy's answer from the attempt it waited for: `duplicate` when that one ended
    final; otherwise the same deferred or failed outcome (answered 202 or 500 as well, so
    Stripe retries a failed event through this copy too)."""
    if first.final:
        return _already(event, first.outcome)
    return Outcome(event["id"], event["type"], first.outcome, first.detail, error=first.error)


async def process_event(
    gateway: StripeGateway,
    event: dict[str, Any],
    *,
    livemode: bool = False,
    engine: Engine | None = None,
) -> Outcome:
    """Fetch, then claim and apply in one transaction. Safe to call any number of times
    per event, concurrently too; never raises for the event's own failures (they come
    back as `failed`, recorded).

    `livemode` is what this deployment's key is: a test-mode event reaching a live
    deployment (or the other way round) is recorded as ignored and changes nothing.

    A repeat delivery is answered from our own records before anything is asked of
    Stripe: one indexed read of the event's outcome when it is final, and nothing at all
    while another delivery of it runs in this process (it waits for that one's outcome).
    A first delivery costs that read, the fetches its handler declared (an `invoice.paid`:
    the subscription, one request) and one transaction (claim, effects, outcome)."""
    key = (asyncio.get_running_loop(), event["id"])
    while (running := _in_flight.get(key)) is not None:
        first = await asyncio.shield(running)
        if first is not None:
            return _joined(event, first)
    flight: asyncio.Future[Outcome | None] = key[0].create_future()
    _in_flight[key] = flight
    try:
        outcome = await _process(gateway, event, livemode=livemode, engine=engine)
    except BaseException:
        flight.set_result(None)
        raise
    else:
        flight.set_result(outcome)
        return outcome
    finally:
        del _in_flight[key]


async def _process(
    gateway: StripeGateway, event: dict[str, Any], *, livemode: bool, engine: Engine | None
) -> Outcome:
    recorded = await asyncio.to_thread(_final_outcome, engine, event["id"])
    if recorded is not None:
        return _already(event, recorded)
    if bool(event.get("livemode")) != livemode:
        mode = "live" if livemode else "test"
        refused = Handled.ignored(
            f"ignored: livemode={bool(event.get('livemode'))} event for a {mode}-mode app"
        )
        return await asyncio.to_thread(_apply, event, engine, lambda _session: refused)
    try:
        facts = await gather_facts(gateway, event)
    except StripeObjectMissing as exc:
        # Permanent: the object was deleted (or never was in this account and mode), so
        # no retry will find it. Final, changing nothing (answered 2xx: Stripe stops).
        gone = Handled.ignored(f"ignored: Stripe no longer has {exc.what}")
        return await asyncio.to_thread(_apply, event, engine, lambda _session: gone)
    except Exception as exc:
        return await asyncio.to_thread(_record_failure, event, exc, engine)
    outcome = await asyncio.to_thread(apply_event, event, facts, engine)
    if outcome.outcome is EventOutcome.APPLIED and event["type"] in COMPLETES_TAKE_BACKS:
        outcome = await _complete_waiting_takebacks(gateway, event, outcome, livemode, engine)
    return outcome


async def _complete_waiting_takebacks(
    gateway: StripeGateway,
    event: dict[str, Any],
    outcome: Outcome,
    livemode: bool,
    engine: Engine | None,
) -> Outcome:
    """A payment was just recorded: run again the refunds and disputes that were deferred
    waiting for it (those of its customer, or naming its payment), so they do not wait for
    a sync. Each goes through `process_event` as a replay would; one that still cannot be
    applied stays deferred. Whose balances changed is added to `outcome`."""
    obj = _dict(event["data"]["object"])
    _, customer = owner_ids(event)
    with read_scope(engine) as session:
        waiting = deferred_events_about(
            session,
            customer=customer,
            stripe_ids=(obj.get("payment_intent"), obj.get("id")),
            types=TAKE_BACK_TYPES,
        )
    users = list(outcome.user_ids)
    for event_id in waiting:
        try:
            done = await replay_event(gateway, event_id, livemode=livemode, engine=engine)
        except ReplayRefused:
            continue
        users.extend(user for user in done.user_ids if user not in users)
    return dataclasses.replace(outcome, user_ids=tuple(users))


def apply_event(event: dict[str, Any], facts: Facts, engine: Engine | None = None) -> Outcome:
    """Step two on its own: claim the event and run its handler with `facts`."""

    def handle(session: Session) -> Handled:
        handler = registry.handler_for(event["type"])
        if handler is None:
            return Handled.ignored("ignored: not a type this app handles")
        return handler.run(session, event, facts)

    return _apply(event, engine, handle)


def _apply(
    event: dict[str, Any], engine: Engine | None, decide: Callable[[Session], Handled]
) -> Outcome:
    try:
        with session_scope(engine) as session:
            # Claim first: a concurrent delivery waits here, then finds the event final.
            if not claim_event(session, event):
                stored = session.exec(
                    select(col(StripeEvent.outcome)).where(col(StripeEvent.id) == event["id"])
                ).one()
                return _recorded_also(session, _already(event, stored))
            handled = _unless_account_deleted(session, event) or decide(session)
            _finish(session, event["id"], handled)
            users = tuple(str(user_id) for user_id in handled.user_ids)
            outcome = Outcome(event["id"], event["type"], handled.outcome, handled.detail, users)
            _recorded_also(session, outcome)
    except RetryLater as exc:
        logger.info("stripe event %s %s deferred: %s", event["id"], event["type"], exc)
        return _record_unfinished(event, EventOutcome.DEFERRED, str(exc), None, engine)
    except Exception as exc:
        return _record_failure(event, exc, engine)
    logger.info(
        "stripe event %s %s %s: %s", event["id"], event["type"], handled.outcome, handled.detail
    )
    return outcome


# Something to write in the very transaction that records an attempt's outcome, e.g. the
# admin console's audit row for a replay, so the two commit (or roll back) together. Set
# for the duration of one call with `recording_also`; a context variable, so it follows
# the call onto the worker threads that run the transactions, and nothing else.
RecordAlso = Callable[[Session, "Outcome"], None]
_record_also: ContextVar[RecordAlso | None] = ContextVar("record_also", default=None)


@contextmanager
def recording_also(hook: RecordAlso) -> Iterator[None]:
    token = _record_also.set(hook)
    try:
        yield
    finally:
        _record_also.reset(token)


def _recorded_also(session: Session, outcome: Outcome) -> Outcome:
    if (hook := _record_also.get()) is not None:
        hook(session, outcome)
    return outcome


def _unless_account_deleted(session: Session, event: dict[str, Any]) -> Handled | None:
    """An event about a deleted account (Stripe's own echoes of the deletion, or anything
    later): recorded as ignored, changing nothing, and stored without the personal fields
    it carries (as the account's earlier events were erased). None for anyone else's."""
    user_id, customer = owner_ids(event)
    gone = deleted_account_for(session, user_id=user_id, customer=customer)
    if gone is None:
        return None
    erase_personal_data_from_events(session, user_id=gone, stripe_customer_id=customer)
    return Handled.ignored("ignored: the account was deleted")


def _already(event: dict[str, Any], stored: str) -> Outcome:
    return Outcome(
        event["id"], event["type"], EventOutcome.DUPLICATE, f"already processed ({stored})"
    )


def _final_outcome(engine: Engine | None, event_id: str) -> str | None:
    with read_scope(engine) as session:
        outcome = session.exec(
            select(col(StripeEvent.outcome)).where(col(StripeEvent.id) == event_id)
        ).first()
    return outcome if outcome is not None and EventOutcome(outcome).final else None


def claim_event(session: Session, event: dict[str, Any]) -> bool:
    """Take the event for this transaction: insert its row as `processing`, or take back a
    row left deferred or failed. False when it is final, or was claimed by a transaction
    that committed first (PostgreSQL re-checks the WHERE after waiting for its lock;
    SQLite runs one writer at a time)."""
    now = utcnow()
    if _insert_row(session, event, EventOutcome.PROCESSING, detail="", error=None):
        return True
    reclaimed = session.execute(
        update(StripeEvent)
        .where(
            col(StripeEvent.id) == event["id"],
            col(StripeEvent.outcome).in_(RETRYABLE_OUTCOMES),
        )
        .values(
            outcome=EventOutcome.PROCESSING,
            attempts=col(StripeEvent.attempts) + 1,
            updated_at=now,
            payload=func.coalesce(col(StripeEvent.payload), _payload(event)),
        )
        .returning(col(StripeEvent.id))
    ).first()
    return reclaimed is not None


def _insert_row(
    session: Session,
    event: dict[str, Any],
    outcome: EventOutcome,
    *,
    detail: str,
    error: str | None,
) -> bool:
    now = utcnow()
    user_id, customer = owner_ids(event)
    row = session.execute(
        insert_unless_exists(session, StripeEvent, key="id")
        .values(
            id=event["id"],
            type=event["type"][:EVENT_TYPE_MAX],
            stripe_created=event_time(event),
            received_at=now,
            updated_at=now,
            outcome=outcome,
            detail=detail[:DETAIL_MAX],
            error=error,
            attempts=1,
            payload=_payload(event),
            user_id=user_id,
            stripe_customer_id=customer,
        )
        .returning(col(StripeEvent.id))
    ).first()
    return row is not None


def _finish(session: Session, event_id: str, handled: Handled) -> None:
    # Committed with the effects: only a final outcome may be (Handled checks it too; this
    # holds whatever built the result). Raising rolls the effects back, recorded as failed.
    if not EventOutcome(handled.outcome).final:
        raise ValueError(f"refusing to commit effects with outcome {str(handled.outcome)!r}")
    values: dict[str, Any] = {
        "outcome": handled.outcome,
        "detail": handled.detail[:DETAIL_MAX],
        "error": None,
        "updated_at": utcnow(),
    }
    if handled.user_ids:
        values["user_id"] = handled.user_ids[0]
    session.execute(update(StripeEvent).where(col(StripeEvent.id) == event_id).values(**values))
    # What the event did, for the admin console: the entries written in this transaction.
    session.add_all(
        StripeEventEntry(event_id=event_id, entry_id=entry_id)
        for entry_id in credits.entries_written(session)
    )


def _error_text(exc: BaseException) -> str:
    """What is kept of an error on the event's row: its type and message, without the
    lines in which PostgreSQL quotes row values ("DETAIL:  Failing row contains (...)");
    bound parameters are never in it (db.make_engine's hide_parameters)."""
    message = "\n".join(
        line for line in str(exc).splitlines() if not line.lstrip().startswith("DETAIL:")
    )
    return f"{type(exc).__name__}: {message}"[:ERROR_MAX]


def _record_failure(event: dict[str, Any], exc: Exception, engine: Engine | None) -> Outcome:
    logger.exception("stripe event %s %s failed", event["id"], event["type"], exc_info=exc)
    error = _error_text(exc)
    return _record_unfinished(event, EventOutcome.FAILED, error, error, engine)


def _record_unfinished(
    event: dict[str, Any],
    outcome: EventOutcome,
    detail: str,
    error: str | None,
    engine: Engine | None,
) -> Outcome:
    """Record `deferred` or `failed` in a transaction of its own (the attempt's own was
    rolled back), unless a concurrent delivery finished the event meanwhile."""
    with session_scope(engine) as session:
        if not _insert_row(session, event, outcome, detail=detail, error=error):
            updated = session.execute(
                update(StripeEvent)
                .where(
                    col(StripeEvent.id) == event["id"],
                    col(StripeEvent.outcome).in_(RETRYABLE_OUTCOMES),
                )
                .values(
                    outcome=outcome,
                    detail=detail[:DETAIL_MAX],
                    error=error,
                    attempts=col(StripeEvent.attempts) + 1,
                    updated_at=utcnow(),
                    payload=func.coalesce(col(StripeEvent.payload), _payload(event)),
                )
                .returning(col(StripeEvent.id))
            ).first()
            if updated is None:
                stored = session.exec(
                    select(col(StripeEvent.outcome)).where(col(StripeEvent.id) == event["id"])
                ).one()
                return _recorded_also(session, _already(event, stored))
        return _recorded_also(
            session, Outcome(event["id"], event["type"], outcome, detail, error=error)
        )


def _payload(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), sort_keys=True)


def owner_ids(event: dict[str, Any]) -> tuple[uuid.UUID | None, str | None]:
    """Whose event this looks like before any handler runs: the user id we put in
    metadata or client_reference_id, and the Stripe customer. Kept on the row so a user's
    events can be found when their account is deleted, whatever became of the event."""
    obj = _dict(_dict(event.get("data")).get("object"))
    customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    details = _dict(_dict(obj.get("parent")).get("subscription_details"))
    for candidate in (
        _dict(obj.get("metadata")).get("user_id"),
        obj.get("client_reference_id"),
        _dict(details.get("metadata")).get("user_id"),
    ):
        if not isinstance(candidate, str | uuid.UUID) or not candidate:
            continue
        try:
            user_id = uuid.UUID(str(candidate))
        except ValueError:
            continue
        return user_id, _customer_id(customer)
    return None, _customer_id(customer)


def _customer_id(value: Any) -> str | None:
    """A customer id that fits its column, else None (the row is written all the same)."""
    return value if isinstance(value, str) and 0 < len(value) <= STRIPE_ID_MAX else None


async def replay_event(
    gateway: StripeGateway,
    event_id: str,
    *,
    livemode: bool = False,
    engine: Engine | None = None,
) -> Outcome:
    """Run a recorded event again through `process_event`, from its stored payload: a
    deferred or failed one is claimed (atomically, as a Stripe retry would be); a final
    one comes back `duplicate` and nothing changes."""
    with read_scope(engine) as session:
        row = session.get(StripeEvent, event_id)
    if row is None:
        raise ReplayRefused(f"no event {event_id} has been received")
    if EventOutcome(row.outcome).final:
        return Outcome(
            row.id,
            row.type,
            EventOutcome.DUPLICATE,
            f"already processed ({row.outcome}); nothing changed",
        )
    if row.payload is None:
        raise ReplayRefused(
            f"{event_id} was recorded before events were stored whole (revision 0005); "
            "resend it from the Stripe Dashboard instead"
        )
    return await process_event(gateway, json.loads(row.payload), livemode=livemode, engine=engine)
