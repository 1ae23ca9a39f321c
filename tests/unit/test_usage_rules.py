"""The billing-period rule behind /usage's period totals (billing.subscriptions.period_start)."""

from datetime import UTC, datetime

import pytest

from credit_app.billing.subscriptions import period_start
from credit_app.models import PlanInterval

NOW = datetime(2026, 5, 20, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period_end", "interval", "expected"),
    [
        (None, None, datetime(2026, 5, 1, tzinfo=UTC)),  # Free: the calendar month
        (datetime(2026, 6, 3, 8, tzinfo=UTC), None, datetime(2026, 5, 1, tzinfo=UTC)),
        (
            datetime(2026, 6, 3, 8, tzinfo=UTC),
            PlanInterval.MONTH,
            datetime(2026, 5, 3, 8, tzinfo=UTC),
        ),
        (
            datetime(2026, 3, 31, 8, tzinfo=UTC),
            PlanInterval.MONTH,
            datetime(2026, 2, 28, 8, tzinfo=UTC),
        ),
        (datetime(2027, 2, 1, tzinfo=UTC), PlanInterval.YEAR, datetime(2026, 2, 1, tzinfo=UTC)),
        (datetime(2029, 2, 28, tzinfo=UTC), "year", datetime(2028, 2, 28, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), "month", datetime(2025, 12, 15, tzinfo=UTC)),
    ],
)
def test_the_period_starts_one_interval_before_it_ends(period_end, interval, expected):
    assert period_start(period_end, interval, NOW) == expected
