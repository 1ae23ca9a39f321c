"""Facts about this deployment that every page shows."""

import reflex as rx

from credit_app.billing.payments import shows_test_ribbon
from credit_app.settings import get_settings


class DeploymentState(rx.State):
    # Read when the backend starts: sandbox payments or Stripe test keys.
    test_mode: bool = shows_test_ribbon(get_settings())
    # REQUIRE_VERIFIED_EMAIL (on by default for a public APP_URL): spending needs a
    # verified address, which the "confirm your email" banner then says.
    verified_email_required: bool = get_settings().verified_email_required
