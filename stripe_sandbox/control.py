"""Synchronous client for the `/_sandbox/*` control endpoints (tests and scripts)."""

import time
from typing import Any

import httpx


class SandboxControl:
    """Drives a running sandbox: time travel, faults, disputes, delivery inspection."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "SandboxControl":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=json)
        response.raise_for_status()
        return response.json()

    def set_faults(
        self,
        *,
        duplicate: int = 1,
        concurrent: bool = False,
        shuffle: bool = False,
        delay_ms: int = 0,
        drop_first: bool = False,
        drop_types: list[str] | None = None,
    ) -> dict[str, Any]:
        """Webhook delivery faults; `drop_types` loses events of those types for good."""
        return self._call(
            "POST",
            "/_sandbox/faults",
            {
                "duplicate": duplicate,
                "concurrent": concurrent,
                "shuffle": shuffle,
                "delay_ms": delay_ms,
                "drop_first": drop_first,
                "drop_types": list(drop_types or []),
            },
        )

    def fail_api(
        self, path: str, method: str = "*", count: int = 1, status: int = 500
    ) -> list[dict[str, Any]]:
        """Make `method path` (a glob such as /v1/invoices/*) answer a 500 `api_error`
        for the next `count` calls."""
        body = {"path": path, "method": method, "count": count, "status": status}
        return self._call("POST", "/_sandbox/api_faults", body)["data"]

    def slow_api(
        self, path: str, seconds: float, method: str = "*", count: int = 1
    ) -> list[dict[str, Any]]:
        """Make `method path` answer only after `seconds` (then normally) for the next
        `count` calls: a slow Stripe."""
        body = {"path": path, "method": method, "count": count, "delay_seconds": seconds}
        return self._call("POST", "/_sandbox/api_faults", body)["data"]

    def clear_api_faults(self) -> None:
        self._call("DELETE", "/_sandbox/api_faults")

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "/_sandbox/faults")

    def deliveries(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_sandbox/deliveries")["data"]

    def pending(self) -> int:
        return self._call("GET", "/_sandbox/idle")["pending"]

    def wait_idle(self, timeout: float = 30.0, interval: float = 0.02) -> None:
        """Block until every event was delivered or gave up retrying."""
        deadline = time.monotonic() + timeout
        while (pending := self.pending()) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pending} webhook event(s) still pending after {timeout}s")
            time.sleep(interval)

    def advance(self, subscription_id: str) -> dict[str, Any]:
        """Renew a subscription now; returns the new invoice, or the subscription if it ended."""
        return self._call("POST", f"/_sandbox/subscriptions/{subscription_id}/advance")

    def pay_checkout(
        self, session_id: str, card: str = "4242424242424242", email: str | None = None
    ) -> dict[str, Any]:
        """Complete a checkout session as the hosted page would."""
        body: dict[str, Any] = {"card": card}
        if email:
            body["email"] = email
        return self._call("POST", f"/_sandbox/checkout/{session_id}/pay", body)

    def set_card(self, payment_method_id: str, number: str) -> dict[str, Any]:
        """Make a saved payment method test card `number` from now on (e.g.
        "4000000000009995" to have its next off-session charges declined); returns it."""
        return self._call(
            "POST", f"/_sandbox/payment_methods/{payment_method_id}/card", {"number": number}
        )

    def clock(self, subscription_id: str, seconds: int) -> dict[str, Any]:
        """Let `seconds` pass for the subscription, inside its current period."""
        return self._call(
            "POST", f"/_sandbox/subscriptions/{subscription_id}/clock", {"seconds": seconds}
        )

    def dispute(
        self, charge_id: str, reason: str = "fraudulent", status: str = "needs_response"
    ) -> dict[str, Any]:
        """Open a chargeback, an inquiry (status="warning_needs_response") or a prevented
        dispute (status="prevented")."""
        return self._call(
            "POST",
            f"/_sandbox/charges/{charge_id}/dispute",
            {"reason": reason, "status": status},
        )

    def dispute_status(self, dispute_id: str, status: str) -> dict[str, Any]:
        return self._call("POST", f"/_sandbox/disputes/{dispute_id}/status", {"status": status})

    def close_dispute(self, dispute_id: str, status: str) -> dict[str, Any]:
        return self._call("POST", f"/_sandbox/disputes/{dispute_id}/close", {"status": status})

    def resend(self, event_id: str) -> dict[str, Any]:
        return self._call("POST", f"/_sandbox/events/{event_id}/resend")

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/_sandbox/reset")
