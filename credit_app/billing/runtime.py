"""Where the Stripe gateway points: real Stripe (or Stripe's test mode), or the sandbox the
app serves itself at SANDBOX_PATH. The gateway is built by credit_app.api and the CLI."""

from credit_app.billing.payments import PaymentSettings
from credit_app.billing.stripe_gateway import StripeConfig

SANDBOX_PATH = "/stripe-sandbox"


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
            lookup_key_prefix=payments.stripe_lookup_key_prefix,
            tax_behavior=payments.stripe_tax_behavior,
            automatic_tax=payments.stripe_automatic_tax,
        )
    return StripeConfig(
        secret_key=payments.stripe_secret_key or "",
        webhook_secret=payments.stripe_webhook_secret or "",
        api_base=payments.stripe_api_base,
        lookup_key_prefix=payments.stripe_lookup_key_prefix,
        tax_behavior=payments.stripe_tax_behavior,
        automatic_tax=payments.stripe_automatic_tax,
    )
