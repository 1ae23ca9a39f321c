"""API faults: a chosen endpoint answers Stripe's 500 `api_error` for N calls, or answers
only after a delay (a slow Stripe), or both.

Tests use it to make one step of an integration fail on purpose (e.g. the app's re-fetch of
an invoice while it handles `invoice.paid`), then succeed once the count is used up; and to
check that a person waiting on a slow Stripe gets an answer in time.
"""

import fnmatch
import threading
from dataclasses import asdict, dataclass
from typing import Any

from .errors import StripeError

MAX_COUNT = 100
MAX_DELAY_SECONDS = 120.0
_METHODS = ("GET", "POST", "DELETE", "*")


@dataclass
class ApiFault:
    method: str  # GET, POST, DELETE or * (any)
    path: str  # a glob matched against the request path, e.g. /v1/invoices/*
    remaining: int
    # None: no error (a delay-only fault answers normally once the delay is over).
    status: int | None = 500
    # Stripe sends `Stripe-Should-Retry: false` with most 500s (the SDK then does not retry);
    # None leaves the header out (the SDK retries if configured to).
    should_retry: bool | None = False
    # Seconds the sandbox waits before answering (the request's other work waits too).
    delay_seconds: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ApiFault":
        fields = {"method", "path", "count", "status", "should_retry", "delay_seconds"}
        unknown = set(data) - fields
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        method = str(data.get("method", "*")).upper()
        if method not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(_METHODS)}")
        path = data.get("path")
        if not isinstance(path, str) or not path.startswith("/v1/"):
            raise ValueError("path must be a /v1/... path pattern (glob: * and ?)")
        count = data.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
            raise ValueError(f"count must be an integer from 1 to {MAX_COUNT}")
        delay = data.get("delay_seconds", 0)
        if (
            not isinstance(delay, int | float)
            or isinstance(delay, bool)
            or not 0 <= delay <= MAX_DELAY_SECONDS
        ):
            raise ValueError(f"delay_seconds must be a number from 0 to {MAX_DELAY_SECONDS:g}")
        # A delay alone answers normally afterwards; anything else fails with `status`.
        status = data.get("status", None if delay and "status" not in data else 500)
        if status not in (500, 502, 503, 504) and not (delay and status is None):
            raise ValueError("status must be 500, 502, 503 or 504 (or null with a delay)")
        should_retry = data.get("should_retry", False)
        if should_retry is not None and not isinstance(should_retry, bool):
            raise ValueError("should_retry must be a boolean or null")
        return cls(method, path, count, status, should_retry, float(delay))

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


class ApiFaults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[ApiFault] = []

    def add(self, fault: ApiFault) -> None:
        with self._lock:
            self.items.append(fault)

    def clear(self) -> None:
        with self._lock:
            self.items.clear()

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self.items]

    def take(self, method: str, path: str) -> ApiFault | None:
        """The first armed fault for this request, with one call used up."""
        with self._lock:
            for fault in self.items:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.items.remove(fault)
                    return fault
        return None


def api_error(fault: ApiFault) -> StripeError:
    assert fault.status is not None
    return StripeError(
        fault.status,
        "An unknown error occurred (sandbox fault injection).",
        type_="api_error",
    )
