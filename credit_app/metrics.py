"""The app's Prometheus metrics (served at /metrics by credit_app.api.metrics).

Every label takes a value from a closed set (a tool id, a ledger kind, a Stripe event type
the app handles, one of our event handlers), never a user id, a token or free text, so
the number of series stays bounded whatever clients send.

Several processes (granian workers, several backends) each count their own: with
PROMETHEUS_MULTIPROC_DIR set before the first metric is made, prometheus-client writes
each process's values to files in that directory and `exposition()` sums them; the
directory must be empty when the processes start (the cluster script wipes it).

Changes to credits are counted when their transaction commits (`at_commit`): a spend
rolled back with the rest of its transaction never shows.
"""

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

logger = logging.getLogger(__name__)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The label value for anything outside a label's closed set.
OTHER = "other"

SPENDS = Counter(
    "credit_app_spends",
    "Committed spends (spend and capture entries), by feature (a tool id, or other).",
    ["feature"],
)
SPENT_CREDITS = Counter(
    "credit_app_spent_credits",
    "Credits taken by committed spends, by feature (a tool id, or other).",
    ["feature"],
)
GRANTS = Counter(
    "credit_app_grants",
    "Committed entries that added credits, by ledger kind (grant, refund, adjust) and source.",
    ["kind", "source"],
)
GRANTED_CREDITS = Counter(
    "credit_app_granted_credits",
    "Credits added by committed entries, by ledger kind and source.",
    ["kind", "source"],
)
SPEND_REFUSALS = Counter(
    "credit_app_spend_refusals",
    "Spends and reservations refused, by reason "
    "(insufficient_credits, spending_limit, unknown_user).",
    ["reason"],
)
STRIPE_WEBHOOKS = Histogram(
    "credit_app_stripe_webhook_seconds",
    "Stripe webhook deliveries: time to answer, by event type (other: not handled here) "
    "and outcome; _count is the number of deliveries.",
    ["event_type", "outcome"],
)
EVENT_HANDLERS = Histogram(
    "credit_app_event_handler_seconds",
    "Reflex events, from taking the state to sending its update, by handler "
    "(State.method of ours; other for Reflex's own).",
    ["handler"],
)
LIVE_PUSHES = Histogram(
    "credit_app_live_push_seconds",
    "Pushing a change to a user's open tabs (snapshot) or signing ended sessions' tabs out.",
    ["push"],
)
HTTP_REQUESTS = Histogram(
    "credit_app_http_request_seconds",
    "HTTP requests under /api, by route (other: an unknown path) and status class.",
    ["route", "status"],
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_DIR_VARIABLE) or None


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, and its content type: summed over every
    process writing to PROMETHEUS_MULTIPROC_DIR when it is set, else this process's."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


@contextmanager
def timed(histogram: Histogram, **labels: str) -> Iterator[dict[str, str]]:
    """Observe the block's duration in `histogram`. The labels yielded may be changed
    inside the block (an outcome known only at its end); they are read when it ends,
    also when it raises."""
    values = dict(labels)
    start = time.perf_counter()
    try:
        yield values
    finally:
        histogram.labels(**values).observe(time.perf_counter() - start)


# Where a session keeps what to count once its transaction commits.
_PENDING = "metrics.at_commit"


def at_commit(session: Session, count: Callable[[], None]) -> None:
    """Call `count` when `session`'s transaction commits; forget it if the transaction
    rolls back or the session closes without committing."""
    pending = session.info.get(_PENDING)
    if pending is None:
        _listen()
        pending = session.info[_PENDING] = []
    pending.append(count)


def _listen() -> None:
    # On the base class: every Session (SQLModel's too). Once per process.
    if not event.contains(Session, "after_commit", _count_committed):
        event.listen(Session, "after_commit", _count_committed)
        event.listen(Session, "after_transaction_end", _forget_uncommitted)


def _count_committed(session: Session) -> None:
    for count in session.info.pop(_PENDING, ()):
        try:
            count()
        except Exception:
            # The change is committed: a metric that cannot be written (say, a
            # PROMETHEUS_MULTIPROC_DIR that is gone) must not make it look failed.
            logger.exception("counting a committed change in the metrics failed")


def _forget_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    # A commit has already counted (after_commit runs first); anything left ended with a
    # rollback. Only the outermost transaction ends the session's unit of work.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
