"""The pricing copy computed from the catalog (billing.catalog): price per credit, the best
value mark, packs against plans, and what happens to unused plan credits."""

from fractions import Fraction

import pytest

from credit_app.billing import catalog
from credit_app.billing.catalog import PlanInterval, PlanKind, PlanSpec


def _spec(plan_id: str, price: int, credits: int, **kw) -> PlanSpec:
    kind = kw.pop("kind", PlanKind.SUBSCRIPTION)
    return PlanSpec(id=plan_id, name=plan_id, kind=kind, price=price, credits_granted=credits, **kw)


def test_the_catalog_prices_per_credit():
    by_id = {p.id: catalog.per_credit_label(p) for p in catalog.plans()}
    assert by_id == {
        "free": "",
        "pro_monthly": "1.2¢ per credit",
        "pro_yearly": "1¢ per credit",
        "business_monthly": "0.98¢ per credit",
        "business_yearly": "0.82¢ per credit",
        "pack_500": "1.6¢ per credit",
        "pack_2000": "1.4¢ per credit",
    }
    assert catalog.cents_per_credit(catalog.plan_by_id("business_yearly")) == Fraction(49, 60)
    assert catalog.cents_per_credit(catalog.free_plan()) is None


def test_every_plan_costs_less_per_credit_than_every_pack():
    """The pricing decision of issue #9: subscribing is the better deal per credit."""
    subscriptions = [p for p in catalog.plans() if p.kind is PlanKind.SUBSCRIPTION]
    worst_plan = max(catalog.cents_per_credit(p) for p in subscriptions)
    best_pack = min(catalog.cents_per_credit(p) for p in catalog.packs())
    assert worst_plan < best_pack
    assert catalog.packs_compared() == (
        "Packs cost 1.4¢ to 1.6¢ per credit; every plan costs less per credit (from 0.82¢), "
        "so packs are for topping up between renewals."
    )


def test_the_bigger_pack_is_the_cheaper_credit():
    small, big = catalog.top_up_pack(), catalog.biggest_pack()
    assert catalog.cents_per_credit(big) < catalog.cents_per_credit(small)


@pytest.mark.parametrize(
    ("interval", "expected"),
    [(PlanInterval.MONTH, "business_monthly"), (PlanInterval.YEAR, "business_yearly")],
)
def test_the_best_value_plan_is_the_cheapest_credit_of_its_interval(interval, expected):
    assert catalog.best_value_plan(interval).id == expected


def test_best_value_follows_the_numbers_not_the_rank():
    specs = (
        _spec("cheap", 1000, 2000, tier="a", interval=PlanInterval.MONTH, rank=1),
        _spec("dear", 5000, 4000, tier="b", interval=PlanInterval.MONTH, rank=2),
        _spec("tie", 2000, 4000, tier="c", interval=PlanInterval.MONTH, rank=3),
        _spec("pack", 1, 1000, kind=PlanKind.PACK),
    )
    # cheap and tie both cost 0.5¢ a credit: the one granting more credits wins; a pack,
    # however cheap, is not a plan.
    assert catalog.best_value_plan(PlanInterval.MONTH, specs).id == "tie"
    with pytest.raises(ValueError, match="year"):
        catalog.best_value_plan(PlanInterval.YEAR, specs)


def test_packs_compared_says_only_what_is_true():
    dear_plan = (
        _spec("plan", 3000, 1000, tier="a", interval=PlanInterval.MONTH),
        _spec("pack", 2000, 1000, kind=PlanKind.PACK),
    )
    assert catalog.packs_compared(dear_plan) == (
        "Packs cost 2¢ per credit; plans cost from 3¢ per credit."
    )
    assert catalog.packs_compared((_spec("plan", 1, 1, interval=PlanInterval.MONTH),)) == ""


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "$0"), (800, "$8"), (2800, "$28"), (49000, "$490"), (850, "$8.50"), (123456, "$1,234.56")],
)
def test_prices_read_as_dollars(cents, text):
    assert catalog.price_text(cents) == text


def test_the_unused_credits_sentence_states_the_expiry_policy_of_plans_toml():
    """Plan credits expire with their period, the plans with a rollover say how much, and
    pack credits never expire (none of plans.toml's packs sets expires_after_days)."""
    sentence = catalog.unused_credits_sentence()
    assert sentence.startswith("Plan credits expire at the end of the period")
    assert "Business carries up to 2,500 unused credits into the next period." in sentence
    assert "Pro carries" not in sentence
    assert "Pack credits never expire" in sentence
    assert f"cancel back to {catalog.free_plan().name}" in sentence
