"""HTTP routes mounted next to the Reflex app. No business logic here."""

import secrets

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from credit_app.api.health import health
from credit_app.api.stripe_webhook import stripe_webhook
from credit_app.billing import runtime
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.settings import get_settings


def build_api() -> Starlette:
    """Health, the Stripe webhook and, with no Stripe key, the embedded Stripe sandbox."""
    settings = get_settings()
    routes = [
        Route("/api/health", health, methods=["GET"]),
        Route("/api/webhooks/stripe", stripe_webhook, methods=["POST"]),
    ]
    # A fresh signing secret per process: the sandbox signs and the webhook verifies
    # inside the same process, and nothing secret is ever written down.
    webhook_secret = "whsec_" + secrets.token_hex(24)
    if runtime.uses_embedded_sandbox(settings):
        if settings.redis_url:
            # Several workers would each hold a different in-memory sandbox and secret.
            raise RuntimeError(
                "The embedded Stripe sandbox needs a single worker: with REDIS_URL, run "
                "`python -m stripe_sandbox` and set STRIPE_SECRET_KEY, STRIPE_API_BASE and "
                "STRIPE_WEBHOOK_SECRET (see README)."
            )
        from stripe_sandbox import SandboxSettings, create_app

        base = settings.app_url.rstrip("/")
        sandbox = create_app(
            SandboxSettings(
                api_key=runtime.SANDBOX_API_KEY,
                webhook_secret=webhook_secret,
                webhook_url=f"{base}/api/webhooks/stripe",
                public_url=base + runtime.SANDBOX_PATH,
            )
        )
        routes.append(Mount(runtime.SANDBOX_PATH, app=sandbox))
    runtime.configure(
        StripeGateway(runtime.config_from_settings(settings, sandbox_webhook_secret=webhook_secret))
    )
    return Starlette(routes=routes)
