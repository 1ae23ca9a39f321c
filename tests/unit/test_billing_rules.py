"""Pure billing rules: the plan catalog and Stripe payload parsing."""

import json
from pathlib import Path

import pytest

from credit_app.billing.catalog import load_plans, plans
from credit_app.billing.subscriptions import ENTITLED_STATUSES
from credit_app.billing.webhook_handlers import registry
from credit_app.billing.webhooks import subscription_id_of
from credit_app.models import PlanInterval, PlanKind, SubscriptionStatus

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "stripe" / "fixtures3.json"


def test_the_catalog_has_free_two_paid_tiers_with_both_intervals_and_two_packs():
    catalog = plans()
    assert [p.id for p in catalog if p.kind == "free"] == ["free"]
    tiers = {p.tier for p in catalog if p.kind == "subscription"}
    assert len(tiers) >= 2
    for tier in tiers:
        intervals = {p.interval for p in catalog if p.tier == tier}
        assert intervals == {"month", "year"}
    assert len([p for p in catalog if p.kind == "pack"]) >= 2
    ranks = {p.tier: p.rank for p in catalog if p.tier}
    assert ranks == {"pro": 1, "business": 2}


def test_yearly_plans_grant_a_year_of_monthly_credits():
    by_id = {p.id: p for p in plans()}
    for tier in ("pro", "business"):
        assert (
            by_id[f"{tier}_yearly"].credits_granted == 12 * by_id[f"{tier}_monthly"].credits_granted
        )


def test_a_bad_catalog_is_refused(tmp_path):
    bad = tmp_path / "plans.toml"
    bad.write_text('[[plan]]\nid="x"\nname="X"\nkind="subscription"\nprice=1\ncredits_granted=1\n')
    with pytest.raises(ValueError, match="interval"):
        load_plans(bad)


@pytest.mark.skipif(not FIXTURES.exists(), reason="shared/ not beside the project")
def test_invoice_subscription_is_read_from_parent_details_as_in_the_fixture():
    invoice = json.loads(FIXTURES.read_text())["resources"]["invoice"]
    assert subscription_id_of(invoice) == invoice["parent"]["subscription_details"]["subscription"]


def test_invoice_subscription_falls_back_to_the_legacy_field():
    assert subscription_id_of({"parent": None, "subscription": "sub_old"}) == "sub_old"
    assert subscription_id_of({"parent": {"type": "quote_details"}}) is None


def test_the_issue_event_types_are_handled():
    required = {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.closed",
    }
    assert required <= set(registry.event_types)


def test_the_catalog_and_subscription_rules_speak_the_model_enums():
    for plan in plans():
        assert plan.kind in set(PlanKind)
        assert plan.interval is None or plan.interval in set(PlanInterval)
    assert set(ENTITLED_STATUSES) <= set(SubscriptionStatus)
    # Statuses arrive from Stripe and the database as plain strings.
    assert "active" in ENTITLED_STATUSES and "canceled" not in ENTITLED_STATUSES
