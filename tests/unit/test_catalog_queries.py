"""The questions the pages ask of the plan catalog (billing.catalog), and its checks."""

import pytest

from credit_app.billing import catalog, checkout
from credit_app.models import PlanInterval, PlanKind


def test_the_catalog_answers_free_tiers_and_packs():
    assert catalog.free_plan().id == "free"
    assert catalog.free_plan().kind is PlanKind.FREE
    tiers = catalog.tiers()
    assert [(t.tier, t.monthly.id, t.yearly.id) for t in tiers] == [
        ("pro", "pro_monthly", "pro_yearly"),
        ("business", "business_monthly", "business_yearly"),
    ]
    assert all(t.monthly.interval is PlanInterval.MONTH for t in tiers)
    assert all(t.yearly.interval is PlanInterval.YEAR for t in tiers)
    assert [p.id for p in catalog.packs()] == ["pack_500", "pack_2000"]
    assert catalog.top_up_pack().id == "pack_500"


def test_only_subscriptions_and_packs_are_for_sale():
    """What a browser sends as a plan id is checked with this before it is used."""
    for_sale = [p.id for p in catalog.plans() if checkout.plan_for_sale(p.id) is not None]
    assert for_sale == [p.id for p in catalog.plans() if p.kind is not PlanKind.FREE]
    assert {"pro_monthly", "business_yearly", "pack_500"} <= set(for_sale)
    for sent in ("free", "", "no_such_plan", "PRO_MONTHLY", "pro_monthly ", "pack_500\x00"):
        assert checkout.plan_for_sale(sent) is None


@pytest.mark.parametrize(
    ("rank", "expected"),
    [(0, "pro_monthly"), (1, "business_monthly"), (2, "pack_2000"), (99, "pack_2000")],
)
def test_the_next_plan_up_is_the_next_tier_monthly_then_the_biggest_pack(rank, expected):
    assert catalog.next_plan_up(rank).id == expected


BAD = {
    "unknown kind": ('id="x"\nname="X"\nkind="gift"\nprice=1\ncredits_granted=1\n', "kind"),
    "unknown interval": (
        'id="x"\nname="X"\nkind="subscription"\ninterval="week"\nprice=1\ncredits_granted=1\n',
        "interval",
    ),
    "no free plan": ('id="p"\nname="P"\nkind="pack"\nprice=1\ncredits_granted=1\n', "free plan"),
    "a tier without its yearly plan": (
        'id="free"\nname="F"\nkind="free"\nprice=0\ncredits_granted=0\n[[plan]]\n'
        'id="m"\nname="M"\ntier="t"\nkind="subscription"\ninterval="month"\nprice=1\n'
        "credits_granted=1\n",
        "monthly and one yearly",
    ),
}


@pytest.mark.parametrize(("text", "reason"), BAD.values(), ids=BAD.keys())
def test_a_catalog_the_pages_could_not_show_is_refused(tmp_path, text, reason):
    bad = tmp_path / "plans.toml"
    bad.write_text("[[plan]]\n" + text)
    with pytest.raises(ValueError, match=reason):
        catalog.load_plans(bad)
