"""The process's Stripe gateway: real Stripe when STRIPE_SECRET_KEY is set, otherwise the
embedded sandbox (the api layer mounts it and configures this before serving)."""

from credit_app.billing.stripe_gateway import StripeConfig, StripeGateway
from credit_app.settings import Settings

SANDBOX_PATH = "/stripe-sandbox"
# Not a secret: the embedded sandbox accepts this key and only listens inside the app.
SANDBOX_API_KEY = "sk_test_embedded_sandbox"

_gateway: StripeGateway | None = None


def uses_embedded_sandbox(settings: Settings) -> bool:
    return not settings.stripe_secret_key


def config_from_settings(settings: Settings, *, sandbox_webhook_secret: str) -> StripeConfig:
    if uses_embedded_sandbox(settings):
        return StripeConfig(
            secret_key=SANDBOX_API_KEY,
            webhook_secret=sandbox_webhook_secret,
            api_base=settings.app_url.rstrip("/") + SANDBOX_PATH,
        )
    if not settings.stripe_webhook_secret:
        raise RuntimeError("STRIPE_WEBHOOK_SECRET is required with STRIPE_SECRET_KEY")
    return StripeConfig(
        secret_key=settings.stripe_secret_key,
        webhook_secret=settings.stripe_webhook_secret,
        api_base=settings.stripe_api_base,
    )


def configure(gateway: StripeGateway) -> None:
    global _gateway
    _gateway = gateway


def gateway() -> StripeGateway:
    if _gateway is None:
        raise RuntimeError("billing gateway not configured (credit_app.api.build_api does it)")
    return _gateway
