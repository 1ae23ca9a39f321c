"""How this deployment takes payments, checked before it serves anyone.

PAYMENTS must be said out loud: `sandbox` (the simulated Stripe the app serves itself, for a
laptop) or `stripe` (real Stripe, or a Stripe-compatible server at STRIPE_API_BASE). A
missing key must never silently turn a public server into one that sells credits for the
test card 4242, so every combination that could is refused here with a message that says
what to set.
"""

from typing import Self

from pydantic import BaseModel, ValidationError, field_validator, model_validator

from credit_app.settings import PaymentMode, Settings

TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")


class UnsafeSettings(RuntimeError):
    """The environment describes a deployment that must not start; says what to fix."""


class PaymentSettings(BaseModel):
    mode: PaymentMode | None
    app_url: str
    app_is_loopback: bool
    allow_public_sandbox: bool
    stripe_secret_key: str | None
    stripe_webhook_secret: str | None
    stripe_api_base: str | None
    redis_url: str | None
    stripe_lookup_key_prefix: str = "credit_app_"
    stripe_tax_behavior: str = "exclusive"
    stripe_automatic_tax: bool = False

    @field_validator("stripe_secret_key", "stripe_webhook_secret", "stripe_api_base")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        """A value of spaces (a quoted empty variable, a stray newline) is no secret."""
        return (value or "").strip() or None

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Self:
        if self.mode is None:
            raise ValueError(
                "PAYMENTS is not set. Choose PAYMENTS=sandbox (simulated payments on this "
                "machine; scripts/run does this) or PAYMENTS=stripe (with STRIPE_SECRET_KEY "
                "and STRIPE_WEBHOOK_SECRET)."
            )
        if self.mode is PaymentMode.STRIPE:
            secret_key, webhook_secret = self.stripe_secret_key, self.stripe_webhook_secret
            if not secret_key or not webhook_secret:
                missing = [
                    name
                    for name, value in (
                        ("STRIPE_SECRET_KEY", secret_key),
                        ("STRIPE_WEBHOOK_SECRET", webhook_secret),
                    )
                    if not value
                ]
                raise ValueError(f"PAYMENTS=stripe needs {' and '.join(missing)}.")
            if not secret_key.startswith(TEST_KEY_PREFIXES + LIVE_KEY_PREFIXES):
                raise ValueError("STRIPE_SECRET_KEY must be a Stripe secret or restricted key.")
            if not webhook_secret.startswith("whsec_"):
                raise ValueError("STRIPE_WEBHOOK_SECRET must be an endpoint secret (whsec_...).")
            return self
        if self.stripe_secret_key or self.stripe_api_base:
            raise ValueError(
                "PAYMENTS=sandbox ignores Stripe keys, yet STRIPE_SECRET_KEY or "
                "STRIPE_API_BASE is set: use PAYMENTS=stripe, or unset them."
            )
        if not self.app_is_loopback and not self.allow_public_sandbox:
            raise ValueError(
                f"PAYMENTS=sandbox simulates payments, and APP_URL={self.app_url} is not a "
                "loopback address: anyone reaching it could 'buy' credits with a test card. "
                "Use PAYMENTS=stripe, or set ALLOW_PUBLIC_SANDBOX=true for a public demo."
            )
        if self.redis_url:
            # Several workers would each hold their own in-memory sandbox and keys.
            raise ValueError(
                "The embedded Stripe sandbox needs a single worker, and REDIS_URL asks for "
                "several: run `python -m stripe_sandbox` and use PAYMENTS=stripe with "
                "STRIPE_API_BASE pointing at it (see README)."
            )
        return self

    @property
    def sandbox(self) -> bool:
        return self.mode is PaymentMode.SANDBOX

    @property
    def test_mode(self) -> bool:
        """Payments are simulated or in Stripe's test mode: the pages say so."""
        return self.sandbox or bool(
            self.stripe_secret_key and self.stripe_secret_key.startswith(TEST_KEY_PREFIXES)
        )

    @property
    def livemode(self) -> bool:
        """What Stripe's `livemode` must say on every event meant for this deployment."""
        return bool(self.stripe_secret_key and self.stripe_secret_key.startswith(LIVE_KEY_PREFIXES))


def payment_settings(settings: Settings) -> PaymentSettings:
    """The checked payment settings, or UnsafeSettings naming what to fix."""
    try:
        return PaymentSettings(
            mode=settings.payments,
            app_url=settings.app_url,
            app_is_loopback=settings.app_is_loopback,
            allow_public_sandbox=settings.allow_public_sandbox,
            stripe_secret_key=settings.stripe_secret_key,
            stripe_webhook_secret=settings.stripe_webhook_secret,
            stripe_api_base=settings.stripe_api_base,
            redis_url=settings.redis_url,
            stripe_lookup_key_prefix=settings.stripe_lookup_key_prefix,
            stripe_tax_behavior=settings.stripe_tax_behavior,
            stripe_automatic_tax=settings.stripe_automatic_tax,
        )
    except ValidationError as exc:
        reasons = "; ".join(
            str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()
        )
        raise UnsafeSettings(f"refusing to start: {reasons}") from None


def shows_test_ribbon(settings: Settings) -> bool:
    """Whether pages carry the "Test mode" ribbon; False while settings are incomplete
    (the build and migrations run without them; serving refuses them)."""
    try:
        return payment_settings(settings).test_mode
    except UnsafeSettings:
        return False
