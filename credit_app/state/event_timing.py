"""Every Reflex event timed (metrics.EVENT_HANDLERS) and given an id for the log lines
written while it runs (logs.EVENT_ID).

Reflex 0.10 never calls `Middleware.postprocess`, so there is no hook after an event; the
one place that runs an event from taking its state (waiting for its lock) to sending the
update back is `BaseStateEventProcessor._execute_event`, which `install` wraps. Labels
are bounded: a handler of our states by its `State.method` name, anything of Reflex's
own (hydrate, on_load_internal, ...) as "other".
"""

import functools
from collections.abc import Callable
from typing import Any

from reflex_base.event.processor import BaseStateEventProcessor

from credit_app import logs, metrics

_INSTALLED = "_credit_app_timed"


def handler_label(fn: Callable[..., Any]) -> str:
    if getattr(fn, "__module__", "").startswith("credit_app."):
        return fn.__qualname__
    return metrics.OTHER


def install() -> None:
    """Wrap the event processor's `_execute_event` (once, however often called)."""
    execute = BaseStateEventProcessor._execute_event
    if getattr(execute, _INSTALLED, False):
        return

    @functools.wraps(execute)
    async def timed_execute(self, *, entry, registered_handler) -> None:
        # Random per event: the client token, which Reflex names events by, is a secret.
        event_id = logs.EVENT_ID.set(logs.new_id())
        try:
            label = handler_label(registered_handler.handler.fn)
            with metrics.timed(metrics.EVENT_HANDLERS, handler=label):
                await execute(self, entry=entry, registered_handler=registered_handler)
        finally:
            logs.EVENT_ID.reset(event_id)

    setattr(timed_execute, _INSTALLED, True)
    BaseStateEventProcessor._execute_event = timed_execute  # type: ignore[method-assign]
