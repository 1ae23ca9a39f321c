"""/usage's filters in the URL (state.usage.parse_usage_query / usage_url), and the
subscription terms the dashboard shows (pages.dashboard.plan_terms)."""

import pytest

from credit_app.billing import catalog
from credit_app.pages.dashboard import plan_terms
from credit_app.state.usage import (
    ALL,
    KIND_FILTERS,
    KIND_SLUGS,
    UsageQuery,
    parse_usage_query,
    usage_url,
)

TOOLS = {"qr", "keywords", "report"}


def test_the_url_carries_kind_tool_and_page():
    query = parse_usage_query({"kind": "used", "tool": "qr", "page": "2"}, TOOLS)
    assert query == UsageQuery(kind="spend", tool="qr", page=2)
    assert usage_url(query) == "/usage?kind=used&tool=qr&page=2"


def test_every_kind_filter_has_a_slug_that_round_trips():
    assert set(KIND_SLUGS.values()) == set(KIND_FILTERS)
    assert set(KIND_SLUGS) == {
        "added",
        "used",
        "returned",
        "taken-back",
        "expired",
        "adjusted-by-support",
    }
    for slug, value in KIND_SLUGS.items():
        assert parse_usage_query({"kind": slug}, TOOLS).kind == value
        assert usage_url(UsageQuery(kind=value)) == f"/usage?kind={slug}"


def test_defaults_leave_the_url_bare():
    assert parse_usage_query({}, TOOLS) == UsageQuery(ALL, ALL, 1)
    assert usage_url(UsageQuery()) == "/usage"


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "spend"},  # the internal value is not the URL's word
        {"kind": "nonsense"},
        {"tool": "not-a-tool"},
        {"tool": "all"},
        {"page": "0"},
        {"page": "-3"},
        {"page": "two"},
        {"page": "1e9"},
        {"page": "9" * 100},
        {"kind": "", "tool": "", "page": ""},
    ],
)
def test_unknown_or_malformed_values_fall_back_to_defaults(params):
    query = parse_usage_query(params, TOOLS)
    for field, default in (("kind", ALL), ("tool", ALL), ("page", 1)):
        if field in params:
            assert getattr(query, field) == default


def test_kind_words_are_matched_whatever_their_case():
    assert parse_usage_query({"kind": "Used"}, TOOLS).kind == "spend"


def test_subscription_terms_show_price_and_credits_per_renewal():
    for plan in catalog.plans():
        terms = plan_terms(plan)
        if plan.kind != catalog.PlanKind.SUBSCRIPTION:
            assert terms == ""
            continue
        assert terms.startswith(catalog.price_text(plan.price) + f" a {plan.interval}")
        assert f"{plan.credits_granted:,} credit" in terms
        assert terms.endswith("each renewal")
