"""Reflex configuration. The app's own settings live in credit_app/settings.py."""

import os

import reflex as rx

from credit_app.billing.payments import UnsafeSettings, payment_settings
from credit_app.settings import get_settings

settings = get_settings()


def _backend_host() -> str:
    """Simulated payments are served to this machine only, unless the operator opted in
    to a public sandbox (APP_URL defaults to localhost while Reflex would bind 0.0.0.0)."""
    try:
        payments = payment_settings(settings)
    except UnsafeSettings:
        return "127.0.0.1"  # serving refuses these settings anyway
    if payments.sandbox and not payments.allow_public_sandbox:
        return "127.0.0.1"
    return os.environ.get("BACKEND_HOST", "0.0.0.0")


config = rx.Config(
    app_name="credit_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    backend_host=_backend_host(),
    # Several backend workers share per-client state through Redis when it is configured.
    # Without it, state stays in this one process's memory: Reflex's default (disk) would
    # write session tokens and emails into .states/ for an hour.
    redis_url=settings.redis_url,
    state_manager_mode="redis" if settings.redis_url else "memory",
    # Behind a reverse proxy, how many hops of X-Forwarded-For to trust for client
    # addresses (login and sign-up limits); 0 ignores the header.
    trusted_proxy_hops=int(os.environ.get("TRUSTED_PROXY_HOPS", "0")),
    # Browsers may call the backend from the app's own pages only.
    cors_allowed_origins=settings.browser_origins,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="light", accent_color="violet", radius="large")
        )
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
