"""Facts about this deployment that every page shows."""

import reflex as rx

from credit_app.billing.payments import shows_test_ribbon
from credit_app.settings import get_settings


class DeploymentState(rx.State):
    # Read when the backend starts: sandbox payments or Stripe test keys.
    test_mode: bool = shows_test_ribbon(get_settings())
