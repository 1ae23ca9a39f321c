"""One Settings object, read from the environment (DESIGN.md section 5).

Reading settings never needs a secret: migrations, the build and `reflex export` run with
none. What serving needs is checked by `payment_settings()` (payments.py), called when the
app starts serving and by the commands that touch payments, so a deployment that forgot a
setting stops at start-up instead of taking money the wrong way.
"""

import ipaddress
import os
import re
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class PaymentMode(StrEnum):
    # The Stripe sandbox served by the app itself: simulated cards, nothing is charged.
    SANDBOX = "sandbox"
    # Real Stripe (test or live keys), or any Stripe-compatible server at STRIPE_API_BASE.
    STRIPE = "stripe"


def is_loopback_host(host: str | None) -> bool:
    """localhost, 127.0.0.0/8 or ::1: a URL only this machine can reach."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# A host as browsers send it: DNS letters (punycode for others), IPv4, or IPv6 (with ":").
_ORIGIN_HOST = re.compile(r"[a-z0-9.:-]+")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def exact_origin(text: str) -> str:
    """`text` if it is one browser origin exactly as a browser sends it in `Origin`:
    http(s)://host[:port], lower case, no default port, path, query, user or "*"; else
    ValueError (an origin spelled otherwise would silently never match)."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"not an origin: {text!r}") from None
    host = parts.hostname or ""
    shown_host = f"[{host}]" if ":" in host else host
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    shown_port = f":{port}" if port is not None else ""
    if (
        default_port is None
        or not _ORIGIN_HOST.fullmatch(host)
        or (":" in host and not _is_ip(host))
        or port in (0, default_port)
        or text != f"{parts.scheme}://{shown_host}{shown_port}"
    ):
        raise ValueError(
            f"not an exact origin (http(s)://host[:port], lower case, no default port, path "
            f"or *): {text!r}"
        )
    return text


def networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated CIDRs ("127.0.0.0/8,::1"; a bare address is one host); ValueError
    for anything else."""
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


class Settings(BaseSettings):
    # An empty variable counts as unset: `STRIPE_SECRET_KEY=` must not mean "a key".
    model_config = SettingsConfigDict(env_file=None, extra="ignore", env_ignore_empty=True)

    # SQLite file by default so the app runs with no other service; a postgresql+psycopg://
    # URL switches to PostgreSQL with no code change.
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'credit_app.db'}"
    initial_credits: int = Field(default=100, ge=0)
    # Below this many available credits, every signed-in page shows a low-balance banner.
    low_balance_threshold: int = Field(default=20, ge=0)
    # Sessions last this long after sign-in; a sliding expiry would let a stolen token live on.
    session_ttl_hours: int = Field(default=24 * 14, gt=0)
    # Login throttling per (email, client address): after this many failures, each further
    # attempt must wait twice as long as the previous one (capped).
    login_free_failures: int = Field(default=3, ge=1)
    login_max_delay_seconds: int = Field(default=300, gt=0)
    # Attempts per client address, sliding window, in the `limits` library's notation.
    # Every test client comes from 127.0.0.1, so tests raise these.
    login_rate_limit: str = "20/minute"
    signup_rate_limit: str = "5/hour"
    # Password-reset requests per client address (each may send a mail; the answer never
    # says whether the address has an account).
    password_reset_rate_limit: str = "10/hour"
    # Password hashing (Argon2, ~150 ms and 64 MiB each) runs on its own pool of this many
    # threads; a request that cannot get a turn within the wait is told to try again.
    # Half the cores: Argon2 releases the GIL and would otherwise take every core from the
    # event loop that serves everyone else's pages during a flood.
    password_hash_workers: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1
    )
    password_hash_wait_seconds: float = Field(default=2.0, gt=0)

    # Premium tools run in a pool of processes, each run limited in time and memory.
    tool_workers: int = Field(default=2, ge=1)
    tool_time_limit_seconds: float = Field(default=30.0, gt=0)
    tool_memory_limit_mb: int = Field(default=1024, ge=128)

    # Where people reach the app; Stripe's return URLs and the embedded sandbox use it.
    app_url: str = "http://localhost:3000"

    # sandbox | stripe. No default on purpose: see payments.py.
    payments: PaymentMode | None = None
    # The loud opt-in for serving the simulated-payments sandbox on a non-loopback APP_URL
    # (a shared demo); without it sandbox mode refuses to start there.
    allow_public_sandbox: bool = False
    # Turns on the embedded sandbox's test controls (/stripe-sandbox/_sandbox/...: renew,
    # dispute, delivery faults) for development and tests; their key is written to
    # `sandbox_control_key_file` (mode 0600) for `credit-app sandbox ...`.
    sandbox_controls: bool = False
    sandbox_control_key_file: Path = PROJECT_ROOT / ".sandbox-control-key"
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    # Stripe prices' lookup keys are this prefix + the plan id, so the app's keys never
    # collide with another product's on a shared Stripe account (seed-plans).
    stripe_lookup_key_prefix: str = Field(default="credit_app_", max_length=100)
    # The `tax_behavior` given to new prices (Stripe never lets it change once set).
    stripe_tax_behavior: Literal["exclusive", "inclusive"] = "exclusive"
    # Stripe Tax at Checkout (packs and subscriptions): off by default; on needs Stripe
    # Tax set up in the Dashboard (Checkout then collects the buyer's billing address).
    stripe_automatic_tax: bool = False
    # Minutes between two runs of the Stripe event sync (webhooks Stripe gave up on,
    # deferred events); 0 turns it off.
    stripe_sync_minutes: int = Field(default=15, ge=0)
    redis_url: str | None = None

    # Where e-mail goes: smtp://user:password@host:port (STARTTLS when the server offers
    # it) or smtps://... (TLS from the start). Unset on a loopback APP_URL: messages are
    # written as .eml files to `outbox_dir` instead; unset on a public APP_URL: the app
    # refuses to start (mail.settings), since nobody could reset a password.
    smtp_url: str | None = None
    mail_from: str = "Credit App <no-reply@localhost>"
    outbox_dir: Path = PROJECT_ROOT / "outbox"
    # Spending needs a verified address (sign-ups scripted to farm welcome credits get
    # none to spend). Unset: on for a public APP_URL, off on a loopback one.
    require_verified_email: bool | None = None
    # Reverse proxies in front of the app whose X-Forwarded-For entries name the client
    # address (0: the header is ignored, since a client can write it). Reflex reads the
    # same variable (rxconfig.py) for the pages' per-address limits; the credits API here.
    trusted_proxy_hops: int = Field(default=0, ge=0)
    # The credits API (/api/v1). Requests per API key, as `limits` parses it ("120/minute",
    # "10/second"); shared by every worker through REDIS_URL when set.
    api_rate_limit: str = "120/minute"
    # Browser origins allowed to call /api/v1 with CORS (comma-separated, exact
    # scheme://host[:port]); empty: none (the API is for servers, which need no CORS).
    # Never "*": a key in a browser page is a leaked key.
    api_cors_origins: str = ""
    # Outgoing webhooks may go to loopback and private addresses (10/8, 192.168/16, ...):
    # off, so a customer cannot make the server call the operator's own network (SSRF).
    # On for a development machine whose receiver runs locally.
    webhooks_allow_private: bool = False
    # Who may read /metrics: peers connecting directly from these networks (comma-separated
    # CIDRs). A request that came through a proxy (X-Forwarded-For, Forwarded, X-Real-IP)
    # is refused whatever its address, so the page never leaks through the public proxy.
    metrics_allow: str = "127.0.0.0/8,::1"
    # text: log lines as the server writes them; json: one JSON object per line, with the
    # request and event ids (credit_app.logs). Anything else stops the start.
    log_format: Literal["text", "json"] = "text"
    # Test-only: moves the application clock (credit_app.clock) this many seconds ahead,
    # so a running app's expiry, monthly drip, "expiring soon" and monthly limits can be
    # shown without waiting. Refused with real payments or on a public APP_URL.
    clock_offset_seconds: int = 0

    @field_validator("api_rate_limit")
    @classmethod
    def _one_rate(cls, value: str) -> str:
        """One rate the `limits` library reads, of at least one request: a typo must stop
        the start, not leave the API unlimited or closed."""
        try:
            items = parse_many(value)
        except ValueError:
            raise ValueError(f"API_RATE_LIMIT is not a rate like 120/minute: {value!r}") from None
        if len(items) != 1 or items[0].amount < 1:
            raise ValueError(f"API_RATE_LIMIT must be one rate of 1 or more: {value!r}")
        return value

    @field_validator("api_cors_origins")
    @classmethod
    def _exact_origins(cls, value: str) -> str:
        for origin in value.split(","):
            if origin.strip():
                exact_origin(origin.strip())
        return value

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        try:
            networks(value)
        except ValueError as exc:
            raise ValueError(f"METRICS_ALLOW is not a list of CIDRs: {exc}") from None
        return value

    @model_validator(mode="after")
    def _clock_offset_only_in_tests(self) -> "Settings":
        if self.clock_offset_seconds and (
            self.payments == PaymentMode.STRIPE or not self.app_is_loopback
        ):
            raise ValueError(
                "CLOCK_OFFSET_SECONDS is for tests: it is refused with PAYMENTS=stripe and on "
                "a public APP_URL, where credits would expire on a made-up date"
            )
        return self

    @property
    def metrics_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return networks(self.metrics_allow)

    @property
    def session_ttl(self) -> timedelta:
        return timedelta(hours=self.session_ttl_hours)

    @property
    def app_origin(self) -> str:
        """scheme://host[:port] of APP_URL: the only place Stripe may send people back to."""
        parts = urlsplit(self.app_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def browser_origins(self) -> list[str]:
        """Origins whose pages may talk to the backend (CORS, and Socket.IO's Origin check).
        On a loopback APP_URL every loopback spelling of it, since Reflex prints
        127.0.0.1 while APP_URL says localhost; elsewhere exactly APP_URL's origin."""
        parts = urlsplit(self.app_url)
        if not self.app_is_loopback:
            return [self.app_origin]
        port = f":{parts.port}" if parts.port else ""
        hosts = ("localhost", "127.0.0.1", "[::1]")
        return [f"{parts.scheme}://{host}{port}" for host in hosts]

    @property
    def api_cors_origin_list(self) -> list[str]:
        """API_CORS_ORIGINS as a list (each checked by `exact_origin` at start)."""
        return [origin.strip() for origin in self.api_cors_origins.split(",") if origin.strip()]

    @property
    def https(self) -> bool:
        return urlsplit(self.app_url).scheme == "https"

    @property
    def app_is_loopback(self) -> bool:
        return is_loopback_host(urlsplit(self.app_url).hostname)

    @property
    def verified_email_required(self) -> bool:
        if self.require_verified_email is not None:
            return self.require_verified_email
        return not self.app_is_loopback


@lru_cache
def get_settings() -> Settings:
    return Settings()
