"""Webhook delivery: signed like Stripe, asynchronous, retried with backoff, with fault injection.

Batches (the events of one action) are delivered by a single worker task in the order they
were produced, one event after another, unless faults say otherwise. A failed first attempt
moves into its own retry task so one failing event does not hold up the rest, as with Stripe.
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from .settings import SandboxSettings

log = logging.getLogger("stripe_sandbox.webhooks")


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header: HMAC-SHA256 of "{t}.{payload}" keyed by the whole
    `whsec_...` secret, exactly what `stripe.Webhook.construct_event` recomputes."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


MAX_DUPLICATE = 10
MAX_DELAY_MS = 10_000
MAX_DROP_TYPES = 50


@dataclass(frozen=True)
class Faults:
    """Misbehaviours a real network (or Stripe itself) can exhibit, switched on by tests.

    Bounded, so that a control call cannot make the sandbox send unbounded traffic or hold
    deliveries back indefinitely: duplicate 1..MAX_DUPLICATE, delay_ms 0..MAX_DELAY_MS.
    """

    duplicate: int = 1  # deliver each event this many times
    concurrent: bool = False  # send those copies at the same time
    shuffle: bool = False  # deliver the events of one action in random order
    delay_ms: int = 0  # wait before every attempt
    drop_first: bool = False  # the first attempt of each event is lost, then retried
    # Events of these types (a trailing * matches a prefix) are lost for good: never
    # delivered, never retried, as if Stripe had given up. `GET /v1/events` still has them.
    drop_types: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Faults":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        drop = data.get("drop_types", ())
        if not isinstance(drop, list | tuple) or not all(isinstance(t, str) for t in drop):
            raise ValueError("drop_types must be a list of event types")
        if len(drop) > MAX_DROP_TYPES:
            raise ValueError(f"drop_types takes at most {MAX_DROP_TYPES} types")
        faults = cls(**{**data, "drop_types": tuple(drop)})
        _check_int("duplicate", faults.duplicate, 1, MAX_DUPLICATE)
        _check_int("delay_ms", faults.delay_ms, 0, MAX_DELAY_MS)
        for name in ("concurrent", "shuffle", "drop_first"):
            if not isinstance(getattr(faults, name), bool):
                raise ValueError(f"{name} must be a boolean")
        return faults


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    # bool is an int subclass, but `"duplicate": true` is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")


@dataclass
class DeliveryRecord:
    event_id: str
    type: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False
    # Delivery chains (copies) still sending or waiting to retry.
    open: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "type": self.type,
            "attempts": list(self.attempts),
            "delivered": self.delivered,
            "last_status": self.attempts[-1]["status"] if self.attempts else None,
            "pending": self.open > 0,
        }


class Deliverer:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.faults = Faults()
        self.records: dict[str, DeliveryRecord] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[list[dict[str, Any]], Faults]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- called from request handlers (always on the serving event loop) -----------------

    def enqueue(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        faults = self.faults
        for evt in events:
            record = self.records.setdefault(evt["id"], DeliveryRecord(evt["id"], evt["type"]))
            if self.settings.webhook_url:
                record.open += faults.duplicate
        if not self.settings.webhook_url:
            return
        self._ensure_worker()
        assert self._queue is not None
        self._queue.put_nowait((list(events), faults))

    def pending(self) -> int:
        return sum(1 for record in self.records.values() if record.open > 0)

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults

    async def reset(self) -> None:
        tasks = [t for t in (*self._tasks, self._worker) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._worker = None
        self._queue = None
        self.records.clear()
        self.faults = Faults()

    # -- background machinery ------------------------------------------------------------

    def _ensure_worker(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._worker is not None and not self._worker.done():
            return
        # First use, or the host restarted its loop (e.g. a new test client): start afresh.
        self._loop = loop
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=10.0)
        self._worker = loop.create_task(self._run())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            events, faults = await queue.get()
            try:
                order = list(events)
                if faults.shuffle:
                    random.shuffle(order)
                for evt in order:
                    copies = [self._first_attempt(evt, faults) for _ in range(faults.duplicate)]
                    if faults.concurrent:
                        await asyncio.gather(*copies)
                    else:
                        for copy in copies:
                            await copy
            except Exception:  # never let one bad batch stop all future deliveries
                log.exception("webhook batch failed")

    async def _first_attempt(self, evt: dict[str, Any], faults: Faults) -> None:
        if _matches(evt["type"], faults.drop_types):
            record = self.records.get(evt["id"])
            if record is not None:
                record.attempts.append(
                    {"at": time.time(), "status": None, "error": "dropped for good by fault"}
                )
            self._finish(evt)
            return
        delivered = await self._attempt(evt, faults, dropped=faults.drop_first)
        if delivered or self.settings.max_attempts <= 1:
            self._finish(evt)
        else:
            self._spawn(self._retry(evt, faults))

    async def _retry(self, evt: dict[str, Any], faults: Faults) -> None:
        done = 1
        try:
            while done < self.settings.max_attempts:
                await asyncio.sleep(self.settings.retry_base_seconds * 2 ** (done - 1))
                done += 1
                if await self._attempt(evt, faults, dropped=False):
                    break
        finally:
            self._finish(evt)

    def _finish(self, evt: dict[str, Any]) -> None:
        record = self.records.get(evt["id"])
        if record is not None:
            record.open = max(0, record.open - 1)

    async def _attempt(self, evt: dict[str, Any], faults: Faults, dropped: bool) -> bool:
        if faults.delay_ms:
            await asyncio.sleep(faults.delay_ms / 1000)
        record = self.records.get(evt["id"])
        if record is None:  # reset while in flight
            return True
        attempt: dict[str, Any] = {"at": time.time(), "status": None, "error": None}
        record.attempts.append(attempt)
        if dropped:
            attempt["error"] = "dropped by fault injection"
            return False
        payload = json.dumps(evt, indent=2)
        assert self._client is not None and self.settings.webhook_url
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, self.settings.webhook_secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            response = await self._client.post(
                self.settings.webhook_url, content=payload.encode(), headers=headers
            )
        except httpx.HTTPError as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
            return False
        attempt["status"] = response.status_code
        ok = 200 <= response.status_code < 300
        if ok:
            record.delivered = True
        return ok


def _matches(event_type: str, patterns: tuple[str, ...]) -> bool:
    return any(
        event_type.startswith(p[:-1]) if p.endswith("*") else event_type == p for p in patterns
    )


def faults_json(faults: Faults) -> dict[str, Any]:
    return asdict(faults)
