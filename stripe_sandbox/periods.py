"""Billing period arithmetic, anchored like Stripe's billing_cycle_anchor."""

import calendar
from datetime import UTC, datetime, timedelta


def add_intervals(anchor: int, interval: str, count: int) -> int:
    """`anchor` moved forward by `count` intervals. Months are counted from the anchor (not
    chained), so a subscription anchored on Jan 31 renews Feb 28, then Mar 31."""
    start = datetime.fromtimestamp(anchor, UTC)
    if interval == "day":
        return int((start + timedelta(days=count)).timestamp())
    if interval == "week":
        return int((start + timedelta(weeks=count)).timestamp())
    months = count * (12 if interval == "year" else 1)
    if interval not in ("month", "year"):
        raise ValueError(f"unknown interval {interval!r}")
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def monthly_amount(unit_amount: int, interval: str, interval_count: int) -> float:
    """Price normalised per month, to tell upgrades from downgrades across intervals."""
    months = {"day": 12 / 365, "week": 12 / 52, "month": 1.0, "year": 12.0}[interval]
    return unit_amount / (months * interval_count)
