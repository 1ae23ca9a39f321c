"""Configuration of one sandbox instance."""

from dataclasses import dataclass

from .urls import origin


@dataclass(frozen=True)
class SandboxSettings:
    """How the sandbox authenticates callers, signs webhooks and links to its own pages.

    `public_url` is the absolute URL at which a browser reaches the sandbox (including any
    mount prefix); every hosted-page link is built from it, never from request paths, so the
    same app works standalone and mounted under another Starlette app.

    The defaults suit the standalone test tool. An app that mounts the sandbox on a port
    others can reach should pass a random `api_key`, `controls=False` unless its tests need
    them, its own origin in `allowed_return_origins`, and `loopback_only=True`.
    """

    # None accepts any test-mode key (sk_test_/rk_test_); a value must match exactly.
    api_key: str | None
    webhook_secret: str
    # None keeps events (GET /v1/events) without delivering them.
    webhook_url: str | None
    public_url: str
    retry_base_seconds: float = 1.0
    max_attempts: int = 8
    # Largest request body read by any route (API, hosted pages, controls); larger is a 413.
    max_body_bytes: int = 256 * 1024
    # Origins (scheme://host[:port]) that success_url, cancel_url and return_url must be on;
    # empty allows any absolute http(s) URL.
    allowed_return_origins: tuple[str, ...] = ()
    # Serve the /_sandbox/* test controls (time travel, disputes, faults, reset).
    controls: bool = True
    # Answer only requests whose Host header names the loopback interface (DNS rebinding).
    loopback_only: bool = False
    # The merchant name hosted pages and invoices show (Stripe: the account's public
    # business name, shown on Checkout, the portal and invoices as `account_name`).
    business_name: str = "Stripe Sandbox"

    def __post_init__(self) -> None:
        bad = [o for o in self.allowed_return_origins if origin(o) is None]
        if bad:
            raise ValueError(f"allowed_return_origins must be http(s) origins, got {bad}")

    def link(self, path: str) -> str:
        """Absolute URL of a sandbox path such as `/checkout/cs_test_...`."""
        return self.public_url.rstrip("/") + path
