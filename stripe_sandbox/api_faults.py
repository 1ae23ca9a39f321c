"""The API-error fault: a chosen endpoint answers Stripe's 500 `api_error` for N calls.

Tests use it to make one step of an integration fail on purpose (e.g. the app's re-fetch of
an invoice while it handles `invoice.paid`), then succeed once the count is used up.
"""

import fnmatch
import threading
from dataclasses import asdict, dataclass
from typing import Any

from .errors import StripeError

MAX_COUNT = 100
_METHODS = ("GET", "POST", "DELETE", "*")


@dataclass
class ApiFault:
    method: str  # GET, POST, DELETE or * (any)
    path: str  # a glob matched against the request path, e.g. /v1/invoices/*
    remaining: int
    status: int = 500
    # Stripe sends `Stripe-Should-Retry: false` with most 500s (the SDK then does not retry);
    # None leaves the header out (the SDK retries if configured to).
    should_retry: bool | None = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ApiFault":
        unknown = set(data) - {"method", "path", "count", "status", "should_retry"}
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
        status = data.get("status", 500)
        if status not in (500, 502, 503, 504):
            raise ValueError("status must be 500, 502, 503 or 504")
        should_retry = data.get("should_retry", False)
        if should_retry is not None and not isinstance(should_retry, bool):
            raise ValueError("should_retry must be a boolean or null")
        return cls(method, path, count, status, should_retry)

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
    return StripeError(
        fault.status,
        "An unknown error occurred (sandbox fault injection).",
        type_="api_error",
    )
