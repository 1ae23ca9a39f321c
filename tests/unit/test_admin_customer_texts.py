"""The admin console's pure helpers: what the customer pages accept from the URL and the
forms, and the words and numbers they show."""

import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest

from credit_app.admin.adjustments import Preview
from credit_app.admin.metrics import DayCredits, Overview, PlanRevenue
from credit_app.billing.sync import GrantDifference
from credit_app.state.admin_customer import (
    AMOUNT_ERROR,
    EXPIRY_ERROR,
    REASON_ERROR,
    REASON_TOO_LONG,
    adjusted_text,
    events_href,
    first_expiry_day,
    parse_amount,
    parse_expiry,
    parse_user_id,
    preview_texts,
    reason_error,
    stripe_check_text,
)
from credit_app.state.admin_customers import (
    CustomersQuery,
    customers_url,
    parse_customers_query,
)
from credit_app.state.admin_overview import (
    chart_summary,
    day_label,
    money_text,
    mrr_total,
    numbers_table,
    plan_rows,
)

NOW = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)
ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize("raw", [ID, ID.upper()])
def test_a_canonical_uuid_is_a_customer_id(raw):
    assert parse_user_id(raw) == uuid.UUID(ID)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "garbage",
        ID.replace("-", ""),  # 32 bare digits
        "{" + ID + "}",
        f"urn:uuid:{ID}",
        ID + " ",
        " " + ID[:-1],
        ID[:-1] + "g",
        ID[:-1] + "٣",  # a non-ASCII digit
        ["x"],
        42,
    ],
)
def test_anything_else_is_refused(raw):
    assert parse_user_id(raw) is None


@pytest.mark.parametrize(("raw", "value"), [("50", 50), (" 7 ", 7), ("1000000", 1_000_000)])
def test_amounts(raw, value):
    assert parse_amount(raw) == value


@pytest.mark.parametrize(
    "raw",
    ["", "0", "-5", "+5", "1.5", "1,000", "1e3", "١٢", "²", "12345678", "1000001", None, 12],
)
def test_bad_amounts(raw):
    assert parse_amount(raw) is None
    assert "whole number" in AMOUNT_ERROR


def test_reasons():
    assert reason_error("  goodwill  ") == ""
    assert reason_error("   \n ") == REASON_ERROR
    assert reason_error(None) == REASON_ERROR
    assert reason_error("x" * 501) == REASON_TOO_LONG
    assert reason_error("x" * 500) == ""


def test_expiry_is_the_end_of_the_day_in_the_customers_zone():
    tokyo = ZoneInfo("Asia/Tokyo")  # 27 Nov already there at 22:30 UTC on the 26th
    assert first_expiry_day(tokyo, NOW) == "2026-11-28"
    assert parse_expiry("", tokyo, NOW) == (None, "")
    when, error = parse_expiry("2026-11-28", tokyo, NOW)
    assert error == ""
    assert when == datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 29 Nov 00:00 in Tokyo
    for past in ("2026-11-27", "2026-11-26", "2020-01-01"):
        assert parse_expiry(past, tokyo, NOW) == (None, EXPIRY_ERROR)
    # The last day there is has no end to compute; a promotion past 5 years is a typo.
    for far in ("9999-12-31", "2032-01-01"):
        assert parse_expiry(far, tokyo, NOW) == (None, EXPIRY_ERROR)
    assert parse_expiry("2031-11-01", tokyo, NOW)[1] == ""
    for bad in (
        "28/11/2026",
        "2026-13-01",
        "2026-11-28T00:00",
        "tomorrow",
        "\uff12\uff10\uff12\uff16-11-28",
    ):
        assert parse_expiry(bad, UTC, NOW) == (None, EXPIRY_ERROR)


def test_preview_and_result_texts():
    grant = preview_texts(Preview(100, 100, 50, 150, 0), grant=True)
    assert grant == {
        "before": "100",
        "after": "150",
        "delta": "+50",
        "available": "100",
        "shortfall": "",
        "verb": "Grant",
    }
    deduct = preview_texts(Preview(1200, 1000, -1000, 200, 4000), grant=False)
    assert (deduct["shortfall"], deduct["delta"], deduct["verb"]) == ("4,000", "-1,000", "Deduct")
    assert adjusted_text(50, 100, 150, False) == "Granted 50 credits: balance 100 → 150."
    assert adjusted_text(-1, 1, 0, True).startswith("Deducted 1 credit: balance 1 → 0.")


def test_stripe_check_text():
    assert stripe_check_text(1, []) == ("ok: 1 subscription checked.", [])
    diff = GrantDifference("u", "sub_1", "in_1", 1000, None)
    text, lines = stripe_check_text(2, [diff])
    assert text == "1 difference found (2 subscriptions checked):"
    assert lines == [diff.describe()]


def test_event_links_are_encoded():
    assert events_href("evt_1") == "/admin/events?id=evt_1"
    assert events_href("evt 1&x=2") == "/admin/events?id=evt+1%26x%3D2"


def test_customers_query_round_trips_and_refuses_garbage():
    query = parse_customers_query({"q": "  Ada  Love ", "sort": "joined", "page": "3"})
    assert query == CustomersQuery("Ada Love", "joined", 3)
    assert parse_customers_query(dict(parse_qsl(customers_url(query).split("?")[1]))) == query
    assert customers_url(query) == "/admin/customers?q=Ada+Love&sort=joined&page=3"
    assert customers_url(CustomersQuery()) == "/admin/customers"
    bad = parse_customers_query({"q": "x" * 100, "sort": "drop table", "page": "9" * 20})
    assert bad == CustomersQuery("x" * 64, "balance", 1)
    assert parse_customers_query({"page": "-2"}).page == 1
    assert parse_customers_query({"page": "٣"}).page == 1


def _overview() -> Overview:
    days = [
        DayCredits("2026-11-24", 100, 40, 0, 0, 2),
        DayCredits("2026-11-25", 0, 0, 0, 0, 0),
        DayCredits("2026-11-26", 1000, 60, 5, -3, 1),
    ]
    plans = [PlanRevenue("Pro monthly", 3, 3600, "usd"), PlanRevenue("EU", 1, 1000, "eur")]
    return Overview(
        days=days,
        plans=plans,
        top_tools=[],
        reconcile_at=None,
        reconcile_drift=None,
        failed_events=0,
        failed_last_day=0,
        totals={"granted": 1100, "spent": 100, "expired": 5, "adjusted": -3, "signups": 3},
    )


def test_overview_texts():
    overview = _overview()
    assert day_label("2026-11-04") == "Nov 4"
    assert day_label("junk") == "junk"
    assert chart_summary(overview, 30) == (
        "Last 30 days: 1,100 credits granted, 100 spent, 5 expired, -3 adjusted; 3 sign-ups."
        " Most spent on Nov 26 (60 credits)."
    )
    table = numbers_table(overview.days)
    assert [row["day"] for row in table] == ["Nov 26", "Nov 24"]  # newest first, busy days
    assert table[0]["adjusted"] == "-3"
    assert money_text(123456, "usd") == "$1,234.56"
    assert money_text(1000, "eur") == "10.00 EUR"
    assert plan_rows(overview.plans)[0] == {
        "plan": "Pro monthly",
        "subscriptions": "3",
        "mrr": "$36",
    }
    assert mrr_total(overview.plans) == "10.00 EUR + $36"
    assert mrr_total([]) == "$0"
