"""The process's Stripe gateway, built once when the app starts serving (credit_app.api)
from the checked payment settings: real Stripe, or the embedded sandbox."""

from credit_app.billing.payments import PaymentSettings
from credit_app.billing.stripe_gateway import StripeConfig, StripeGateway

SANDBOX_PATH = "/stripe-sandbox"

_gateway: StripeGateway | None = None
_payments: PaymentSettings | None = None


def stripe_config(
    payments: PaymentSettings, *, sandbox_api_key: str = "", sandbox_webhook_secret: str = ""
) -> StripeConfig:
    """Where the gateway sends requests and how it checks webhooks. The embedded sandbox's
    key and signing secret are made up per process by whoever mounts it."""
    if payments.sandbox:
        return StripeConfig(
            secret_key=sandbox_api_key,
            webhook_secret=sandbox_webhook_secret,
            api_base=payments.app_url.rstrip("/") + SANDBOX_PATH,
        )
    return StripeConfig(
        secret_key=payments.stripe_secret_key or "",
        webhook_secret=payments.stripe_webhook_secret or "",
        api_base=payments.stripe_api_base,
    )


def configure(gateway: StripeGateway, payments: PaymentSettings) -> None:
    global _gateway, _payments
    _gateway, _payments = gateway, payments


def gateway() -> StripeGateway:
    if _gateway is None:
        raise RuntimeError("billing gateway not configured (credit_app.api.build_api does it)")
    return _gateway


def payments() -> PaymentSettings:
    if _payments is None:
        raise RuntimeError("payments not configured (credit_app.api.build_api does it)")
    return _payments
