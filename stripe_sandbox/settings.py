"""Configuration of one sandbox instance."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxSettings:
    """How the sandbox authenticates callers, signs webhooks and links to its own pages.

    `public_url` is the absolute URL at which a browser reaches the sandbox (including any
    mount prefix); every hosted-page link is built from it, never from request paths, so the
    same app works standalone and mounted under another Starlette app.
    """

    # None accepts any test-mode key (sk_test_/rk_test_); a value must match exactly.
    api_key: str | None
    webhook_secret: str
    # None keeps events (GET /v1/events) without delivering them.
    webhook_url: str | None
    public_url: str
    retry_base_seconds: float = 1.0
    max_attempts: int = 8

    def link(self, path: str) -> str:
        """Absolute URL of a sandbox path such as `/checkout/cs_test_...`."""
        return self.public_url.rstrip("/") + path
