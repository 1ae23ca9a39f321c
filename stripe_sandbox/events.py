"""Events produced by one action, in the order Stripe would send them."""

from dataclasses import dataclass, field
from typing import Any

from . import objects
from .store import Store


@dataclass
class Cause:
    """The API request behind an action (None for automatic ones such as renewals)."""

    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class Batch:
    """Collects the events of one action; the caller hands them to webhook delivery only
    after the action finished, so delivery never happens inside the causing request."""

    store: Store
    cause: Cause
    pending_webhooks: int
    events: list[dict[str, Any]] = field(default_factory=list)

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        evt = objects.event(
            event_type,
            Store.snapshot(obj),
            Store.snapshot(previous_attributes) if previous_attributes is not None else None,
            self.cause.request_id,
            self.cause.idempotency_key,
            self.pending_webhooks,
        )
        self.store.put(evt)
        self.events.append(evt)
        return evt


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stripe's `previous_attributes`: the old value of every top-level field that changed."""
    return {key: before.get(key) for key in after if before.get(key) != after[key]}
