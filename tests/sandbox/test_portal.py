"""Billing-portal configurations and the hosted portal that follows them."""

import re
from typing import Any

import httpx
import pytest
import stripe

from .conftest import Env, submit_form


def _subscribe(env: Env, price_id: str) -> Any:
    session = env.checkout(price_id, customer_email="portal@example.com")
    assert env.pay(session).status_code == 303
    env.control.wait_idle()
    session = env.client.v1.checkout.sessions.retrieve(session.id)
    return env.client.v1.subscriptions.retrieve(session.subscription)


def _features(prices: list[Any], behavior: str = "always_invoice", **update: Any) -> dict:
    return {
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price"],
            "proration_behavior": behavior,
            "products": [{"product": p.product, "prices": [p.id]} for p in prices],
            "schedule_at_period_end": {
                "conditions": [
                    {"type": "decreasing_item_amount"},
                    {"type": "shortening_interval"},
                ]
            },
            **update,
        },
        "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
        "payment_method_update": {"enabled": True},
        "invoice_history": {"enabled": True},
    }


def _form_with(html: str, needle: str) -> int:
    forms = re.findall(r"<form.*?</form>", html, flags=re.S)
    return next(i for i, f in enumerate(forms) if needle in f)


def test_configurations_create_retrieve_update_list_and_validate(env: Env) -> None:
    c = env.client.v1.billing_portal.configurations
    pro = env.catalog(amount=2000)
    other = env.catalog(amount=900, name="Other")
    config = c.create(
        params={
            "business_profile": {"headline": "Acme billing", "privacy_policy_url": "https://a.b/p"},
            "default_return_url": "http://app.test/account",
            "features": _features([pro]),
            "metadata": {"app": "credits"},
        }
    )
    assert config.id.startswith("bpc_") and config.object == "billing_portal.configuration"
    assert config.is_default is False and config.active is True
    update = config.features.subscription_update
    assert update.products[0].prices == [pro.id] and update.proration_behavior == "always_invoice"
    assert [x.type for x in update.schedule_at_period_end.conditions] == [
        "decreasing_item_amount",
        "shortening_interval",
    ]
    assert config.features.subscription_cancel.mode == "at_period_end"
    assert c.retrieve(config.id).business_profile.headline == "Acme billing"

    changed = c.update(
        config.id,
        params={
            "features": {"subscription_update": {"schedule_at_period_end": {"conditions": ""}}},
            "active": False,
        },
    )
    assert changed.features.subscription_update.schedule_at_period_end.conditions == []
    assert changed.features.subscription_update.products[0].prices == [pro.id]
    assert changed.active is False
    assert [x.id for x in c.list(params={"active": False}).data] == [config.id]

    with pytest.raises(stripe.InvalidRequestError, match="features"):
        c.create(params={"business_profile": {"headline": "x"}})
    with pytest.raises(stripe.InvalidRequestError, match="product"):
        c.create(params={"features": _features([], products="")})
    with pytest.raises(stripe.InvalidRequestError) as bad:
        c.create(params={"features": _features([pro], proration_behavior="sometimes")})
    assert bad.value.code == "parameter_invalid_enum"
    with pytest.raises(stripe.InvalidRequestError, match="recurring price of product"):
        c.create(
            params={
                "features": _features(
                    [pro], products=[{"product": pro.product, "prices": [other.id]}]
                )
            }
        )
    sub = _subscribe(env, pro.id)
    with pytest.raises(stripe.InvalidRequestError, match="inactive"):
        env.client.v1.billing_portal.sessions.create(
            params={"customer": sub.customer, "configuration": config.id}
        )


def test_without_a_configuration_the_default_one_offers_no_plan_switching(env: Env) -> None:
    pro = env.catalog(amount=2000)
    env.catalog(amount=5000, name="Business")
    sub = _subscribe(env, pro.id)
    portal = env.client.v1.billing_portal.sessions.create(params={"customer": sub.customer})
    default = env.client.v1.billing_portal.configurations.retrieve(portal.configuration)
    assert default.is_default is True and default.features.subscription_update.enabled is False
    assert default.features.subscription_cancel.enabled is True
    page = httpx.get(portal.url).text
    assert "Switch plan" not in page and "Cancel plan" in page
    assert "Update card" in page and 'id="invoice-history"' in page
    assert "Stripe Sandbox" in page  # the merchant name
    invoice = env.client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.hosted_invoice_url in page and "$20.00" in page and ">paid<" in page


def test_flow_data_confirms_one_change_then_redirects(env: Env) -> None:
    pro = env.catalog(amount=2000)
    business = env.catalog(amount=5000, name="Business")
    sub = _subscribe(env, pro.id)
    item = sub["items"].data[0]
    config = env.client.v1.billing_portal.configurations.create(
        params={"features": _features([pro, business], behavior="create_prorations")}
    )
    flow = {
        "type": "subscription_update_confirm",
        "subscription_update_confirm": {
            "subscription": sub.id,
            "items": [{"id": item.id, "price": business.id, "quantity": 1}],
        },
        "after_completion": {
            "type": "redirect",
            "redirect": {"return_url": "http://app.test/dashboard?upgraded=1"},
        },
    }
    stranger = env.catalog(amount=7000, name="Not offered")
    bad = {**flow, "subscription_update_confirm": {
        "subscription": sub.id, "items": [{"id": item.id, "price": stranger.id}]}}  # fmt: skip
    with pytest.raises(stripe.InvalidRequestError, match="not one of the configuration"):
        env.client.v1.billing_portal.sessions.create(
            params={"customer": sub.customer, "configuration": config.id, "flow_data": bad}
        )
    portal = env.client.v1.billing_portal.sessions.create(
        params={"customer": sub.customer, "configuration": config.id, "flow_data": flow}
    )
    assert portal.flow.type == "subscription_update_confirm"
    assert portal.flow.subscription_update_confirm["items"][0].price == business.id
    page = httpx.get(portal.url).text
    assert "Confirm your new plan" in page and "Business" in page
    assert "prorated on your next invoice" in page  # create_prorations: nothing due today
    done = submit_form(page, {}, 0)
    assert done.status_code == 303
    assert done.headers["location"] == "http://app.test/dashboard?upgraded=1"
    after = env.client.v1.subscriptions.retrieve(sub.id)
    assert after["items"].data[0].price.id == business.id
    assert after.latest_invoice == sub.latest_invoice  # create_prorations: pending items only
    pending = env.client.v1.invoice_items.list(params={"customer": sub.customer, "pending": True})
    assert len(pending.data) == 2
    assert "Confirm your new plan" not in httpx.get(portal.url).text  # the flow is done


def test_shorter_interval_is_scheduled_and_applied_at_renewal(env: Env) -> None:
    yearly = env.catalog(amount=20000, interval="year", name="Business yearly")
    monthly = env.catalog(amount=5000, name="Business monthly")
    dearer = env.catalog(amount=30000, interval="year", name="Max yearly")
    sub = _subscribe(env, yearly.id)
    year_end = sub["items"].data[0].current_period_end
    config = env.client.v1.billing_portal.configurations.create(
        params={"features": _features([yearly, monthly, dearer])}
    )
    portal = env.client.v1.billing_portal.sessions.create(
        params={"customer": sub.customer, "configuration": config.id}
    )
    page = httpx.get(portal.url).text
    assert "Business monthly, $50.00 / month (at the end of the period)" in page
    assert "Max yearly, $300.00 / year (now)" in page
    env.settle()
    review = submit_form(page, {}, _form_with(page, monthly.id))
    assert "Nothing is charged today" in review.text
    done = submit_form(review.text, {}, 0)
    page = httpx.get(done.headers["location"]).text
    assert "Switches to Business monthly" in page
    sub = env.client.v1.subscriptions.retrieve(sub.id)
    assert sub["items"].data[0].price.id == yearly.id
    sched = env.client.v1.subscription_schedules.retrieve(sub.schedule)
    assert sched.status == "active" and sched.subscription == sub.id
    assert [p["items"][0].price for p in sched.phases] == [yearly.id, monthly.id]
    assert sched.phases[1].start_date == year_end
    env.control.wait_idle()
    assert env.receiver.types == ["subscription_schedule.created", "customer.subscription.updated"]

    env.settle()
    renewal = env.control.advance(sub.id)
    assert [line["amount"] for line in renewal["lines"]["data"]] == [5000]
    assert renewal["lines"]["data"][0]["period"]["start"] == year_end
    sub = env.client.v1.subscriptions.retrieve(sub.id)
    assert sub["items"].data[0].price.id == monthly.id and sub.schedule == sched.id
    env.control.wait_idle()
    assert env.receiver.types[0] == "subscription_schedule.updated"
    env.control.advance(sub.id)
    assert env.client.v1.subscriptions.retrieve(sub.id).schedule is None
    assert env.client.v1.subscription_schedules.retrieve(sched.id).status == "released"


def test_cancel_a_scheduled_change_and_hosted_confirmation(env: Env) -> None:
    pro = env.catalog(amount=2000)
    lite = env.catalog(amount=1000, name="Lite")
    sub = _subscribe(env, pro.id)
    config = env.client.v1.billing_portal.configurations.create(
        params={"features": _features([pro, lite])}
    )
    portal = env.client.v1.billing_portal.sessions.create(
        params={"customer": sub.customer, "configuration": config.id}
    )
    page = httpx.get(portal.url).text
    review = submit_form(page, {}, _form_with(page, lite.id))
    page = httpx.get(submit_form(review.text, {}, 0).headers["location"]).text
    kept = submit_form(page, {}, _form_with(page, "/keep"))
    page = httpx.get(kept.headers["location"]).text
    assert "scheduled change was canceled" in page and "Switches to" not in page
    assert env.client.v1.subscriptions.retrieve(sub.id).schedule is None

    cancel_flow = env.client.v1.billing_portal.sessions.create(
        params={
            "customer": sub.customer,
            "configuration": config.id,
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": sub.id},
                "after_completion": {
                    "type": "hosted_confirmation",
                    "hosted_confirmation": {"custom_message": "See you soon"},
                },
            },
        }
    )
    page = httpx.get(cancel_flow.url).text
    assert "Confirm cancellation" in page
    done = submit_form(page, {}, 0)
    assert done.status_code == 200 and "See you soon" in done.text
    assert env.client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is True
