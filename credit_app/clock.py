"""The application clock: what "now" means for credit expiry, a yearly plan's monthly
grants, "expiring soon" and monthly spending limits (not Stripe's clock: a renewal's date
comes from Stripe, whether a lot has expired from here).

Services take `now` from their caller and the CLI takes `--now`; only the outermost code
(the app's periodic jobs, its pages, the CLI's default) asks this module. Tests move a
running app's clock with CLOCK_OFFSET_SECONDS, which settings refuse in production.
"""

from datetime import datetime, timedelta

from credit_app.models import utcnow
from credit_app.settings import get_settings


def now() -> datetime:
    """The current time, in UTC, moved by the test-only offset if one is set."""
    return utcnow() + timedelta(seconds=get_settings().clock_offset_seconds)
