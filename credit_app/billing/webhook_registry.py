"""Which Stripe events the app handles, and what each needs fetched from Stripe first.

One table, built by registration: a handler declares its event types and its fetch plan
where it is written (`@registry.handles("invoice.paid", fetch={Fetch.SUBSCRIPTION})`, see
webhook_handlers.py). The handled types, the fetch plan of `webhooks.gather_facts` and the
`stripe listen --events` line (`credit-app stripe-events`, the README) are all read from
it, so a new event type is one decorated function. Shaped after dj-stripe's
`djstripe/event_handlers.py` registry, with one handler per type and typed results.
"""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from credit_app.models import EventOutcome


class RetryLater(Exception):
    """The event cannot be applied yet (e.g. a refund of our payment not yet recorded).
    Its effects are rolled back and the event is recorded as deferred; the webhook answers
    2xx (Stripe disables endpoints that keep failing, and its retries would not help), and
    the event is completed later by our own side: when the event that records its payment
    is applied (webhooks.process_event), by `credit-app replay`, or by a sync."""


class Fetch(StrEnum):
    """Something a handler needs from Stripe, fetched before its transaction opens (network
    calls never hold database locks)."""

    # The current state of the subscription the event's object belongs to (Stripe does not
    # deliver in order: the fetched object is the newest state whatever arrived first).
    SUBSCRIPTION = "subscription"
    # Every line of an invoice, when the event's copy does not hold them all
    # (`lines.has_more`): the grant is the sum over its lines.
    INVOICE_LINES = "invoice_lines"
    # The prices an invoice's lines billed (not the subscription's price now: it may have
    # changed), for those not already known from the fetched subscription. After
    # INVOICE_LINES: fetches run in this declaration order.
    INVOICE_PRICES = "invoice_prices"
    # A dispute's current state: events about it may arrive in any order.
    DISPUTE = "dispute"
    # The invoice a charge's payment intent paid (a subscription payment's purchase is
    # recorded under its invoice).
    PAYMENT_INVOICE = "payment_invoice"


@dataclass
class Facts:
    """What was fetched from Stripe for a handler (the fields its fetch plan names)."""

    subscription: dict[str, Any] | None = None
    # All of an invoice's lines, when fetched (None: the event's own `lines` are complete).
    invoice_lines: list[dict[str, Any]] | None = None
    # Prices by id, for the invoice lines whose price the subscription does not carry.
    invoice_prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoice_id: str | None = None
    dispute: dict[str, Any] | None = None


@dataclass(frozen=True)
class Handled:
    """A handler's result: the outcome, the text kept in `stripe_events.detail`, and whose
    balance or plan may have changed (their open tabs are refreshed).

    Always final (applied, ignored, duplicate): it is committed with the handler's
    effects. An event that must wait raises RetryLater instead, and an error raises."""

    outcome: EventOutcome
    detail: str
    user_ids: tuple[uuid.UUID, ...] = field(default=())

    def __post_init__(self) -> None:
        if not EventOutcome(self.outcome).final:
            raise ValueError(
                f"a handler's outcome is final (applied, ignored or duplicate), not "
                f"{self.outcome!r}: raise RetryLater to wait for another event"
            )

    @classmethod
    def applied(cls, detail: str, *user_ids: uuid.UUID) -> "Handled":
        return cls(EventOutcome.APPLIED, detail, user_ids)

    @classmethod
    def ignored(cls, detail: str) -> "Handled":
        return cls(EventOutcome.IGNORED, detail)

    @classmethod
    def duplicate(cls, detail: str, *user_ids: uuid.UUID) -> "Handled":
        return cls(EventOutcome.DUPLICATE, detail, user_ids)


HandlerFn = Callable[[Session, dict[str, Any], Facts], Handled]


@dataclass(frozen=True)
class Handler:
    name: str
    event_types: tuple[str, ...]
    fetch: frozenset[Fetch]
    run: HandlerFn


class Registry:
    """Event type -> its one handler, in registration order."""

    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}

    def handles(
        self, *event_types: str, fetch: Iterable[Fetch] = ()
    ) -> Callable[[HandlerFn], HandlerFn]:
        """Register the decorated function for `event_types`, fetching `fetch` first."""
        if not event_types:
            raise ValueError("a handler handles at least one event type")

        def register(run: HandlerFn) -> HandlerFn:
            for event_type in event_types:
                if event_type in self._by_type:
                    other = self._by_type[event_type].name
                    raise ValueError(f"{event_type} is already handled by {other}")
            handler = Handler(run.__name__, tuple(event_types), frozenset(fetch), run)
            self._by_type.update(dict.fromkeys(event_types, handler))
            return run

        return register

    def handler_for(self, event_type: str) -> Handler | None:
        return self._by_type.get(event_type)

    def fetch_plan(self, event_type: str) -> frozenset[Fetch]:
        """What to fetch from Stripe before handling `event_type` (nothing if unhandled)."""
        handler = self._by_type.get(event_type)
        return handler.fetch if handler else frozenset()

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self._by_type)

    def stripe_listen_command(self, forward_to: str) -> str:
        """The Stripe CLI command that forwards exactly the handled events to `forward_to`."""
        return (
            f"stripe listen --forward-to {forward_to} \\\n  --events {','.join(self.event_types)}"
        )
