"""Renewals, failed payments, cancellation and plan changes, via the SDK and the portal."""

import re

import httpx
import pytest
import stripe

from .conftest import Env, submit_form


def _events(env: Env, type_: str) -> list[dict]:
    return [d.event for d in env.receiver.deliveries if d.event["type"] == type_]


def test_two_renewals_create_two_cycle_invoices(env: Env) -> None:
    session = env.subscribe()
    sub = env.client.v1.subscriptions.retrieve(session.subscription)
    first_end = sub["items"].data[0].current_period_end
    env.settle()

    one = env.control.advance(sub.id)
    two = env.control.advance(sub.id)
    env.control.wait_idle()
    assert [one["billing_reason"], two["billing_reason"]] == ["subscription_cycle"] * 2
    assert one["status"] == two["status"] == "paid"
    assert one["lines"]["data"][0]["period"]["start"] == first_end
    assert two["lines"]["data"][0]["period"]["start"] == one["lines"]["data"][0]["period"]["end"]
    assert one["parent"]["subscription_details"]["subscription"] == sub.id
    renewal = [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]
    assert env.receiver.types == renewal * 2
    updated = _events(env, "customer.subscription.updated")[0]["data"]
    assert updated["previous_attributes"]["items"]["data"][0]["current_period_end"] == first_end
    sub = env.client.v1.subscriptions.retrieve(sub.id)
    assert sub.latest_invoice == two["id"]
    assert sub["items"].data[0].current_period_start == one["lines"]["data"][0]["period"]["end"]


def test_0341_card_fails_renewals_until_the_card_is_updated(env: Env) -> None:
    session = env.subscribe(card="4000 0000 0000 0341")  # the first payment succeeds
    sub_id = session.subscription
    env.settle()

    failed = env.control.advance(sub_id)
    env.control.wait_idle()
    assert failed["status"] == "open" and failed["attempt_count"] == 1
    assert env.receiver.types == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    assert env.client.v1.subscriptions.retrieve(sub_id).status == "past_due"
    assert env.client.v1.customers.retrieve(session.customer).delinquent is True

    # With payment_behavior=error_if_incomplete an immediate upgrade with a failing card is
    # a card error, and changes nothing.
    sub = env.client.v1.subscriptions.retrieve(sub_id)
    dearer = env.catalog(amount=5000, name="Max")
    with pytest.raises(stripe.CardError):
        env.client.v1.subscriptions.update(
            sub_id,
            params={"items": [{"id": sub["items"].data[0].id, "price": dearer.id}],
                    "proration_behavior": "always_invoice",
                    "payment_behavior": "error_if_incomplete"},
        )  # fmt: skip
    assert env.client.v1.subscriptions.retrieve(sub_id)["items"].data[0].price.id != dearer.id

    portal = env.client.v1.billing_portal.sessions.create(
        params={"customer": session.customer, "return_url": "http://app.test/account"}
    )
    page = httpx.get(portal.url)
    assert "Your last payment failed" in page.text
    env.settle()
    card_form = _form_index(page.text, "/card")
    updated = submit_form(page.text, {"cardnumber": "4242424242424242"}, card_form)
    assert updated.status_code == 303
    env.control.wait_idle()
    assert env.client.v1.invoices.retrieve(failed["id"]).status == "paid"
    assert env.client.v1.subscriptions.retrieve(sub_id).status == "active"
    assert "invoice.paid" in env.receiver.types
    paid = _events(env, "invoice.paid")[0]["data"]["object"]
    assert paid["id"] == failed["id"] and paid["attempt_count"] == 2
    assert env.control.advance(sub_id)["status"] == "paid"


def test_cancel_at_period_end_then_renewal_deletes(env: Env) -> None:
    session = env.subscribe()
    sub_id = session.subscription
    env.settle()
    sub = env.client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    assert sub.cancel_at_period_end and sub.cancel_at == sub["items"].data[0].current_period_end
    env.control.wait_idle()
    (updated,) = _events(env, "customer.subscription.updated")
    assert updated["data"]["previous_attributes"]["cancel_at_period_end"] is False

    ended = env.control.advance(sub_id)
    env.control.wait_idle()
    assert ended["object"] == "subscription" and ended["status"] == "canceled"
    assert env.receiver.types[-1] == "customer.subscription.deleted"
    assert "invoice.created" not in env.receiver.types
    with pytest.raises(stripe.InvalidRequestError):
        env.client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})


def test_price_changes_now_or_at_renewal_and_cancel_now(env: Env) -> None:
    session = env.subscribe(amount=1000)
    c = env.client.v1
    sub = c.subscriptions.retrieve(session.subscription)
    item_id = sub["items"].data[0].id
    pro = env.catalog(amount=3000, name="Pro+")
    env.settle()

    now = c.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item_id, "price": pro.id}],
            "proration_behavior": "always_invoice",
        },
    )
    assert now["items"].data[0].price.id == pro.id
    inv = c.invoices.retrieve(now.latest_invoice)
    assert inv.billing_reason == "subscription_update" and inv.status == "paid"
    # Right after subscribing: about -$10 unused time, +$30 remaining time.
    assert [line.amount for line in inv.lines.data] in ([-1000, 3000], [-999, 2999])
    assert inv.amount_paid == sum(line.amount for line in inv.lines.data)
    env.control.wait_idle()
    assert env.receiver.types == [
        "customer.subscription.updated",
        "invoiceitem.created",
        "invoiceitem.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]

    # proration_behavior=none changes the price now, without any proration.
    basic = env.catalog(amount=500, name="Basic")
    env.settle()
    later = c.subscriptions.update(
        sub.id, params={"items": [{"id": item_id, "price": basic.id}], "proration_behavior": "none"}
    )
    assert later["items"].data[0].price.id == basic.id
    assert later.latest_invoice == inv.id
    env.control.wait_idle()
    assert env.receiver.types == ["customer.subscription.updated"]
    renewal = env.control.advance(sub.id)
    assert renewal["amount_paid"] == 500 and len(renewal["lines"]["data"]) == 1

    env.settle()
    gone = c.subscriptions.cancel(sub.id)
    assert gone.status == "canceled" and gone.ended_at
    env.control.wait_idle()
    assert env.receiver.types == ["customer.subscription.deleted"]


def _form_index(html: str, action_suffix: str) -> int:
    forms = re.findall(r"<form[^>]*>", html)
    return next(i for i, f in enumerate(forms) if re.search(rf'action="[^"]*{action_suffix}"', f))


def test_customer_portal(env: Env) -> None:
    session = env.subscribe(amount=1000)
    sub_id = session.subscription
    sub = env.client.v1.subscriptions.retrieve(sub_id)
    current = sub["items"].data[0].price
    pro = env.catalog(amount=3000, name="Pro+")
    basic = env.catalog(amount=500, name="Basic")
    config = env.client.v1.billing_portal.configurations.create(
        params={
            "business_profile": {"headline": "Manage your plan"},
            "features": {
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "proration_behavior": "always_invoice",
                    "products": [
                        {"product": p.product, "prices": [p.id]} for p in (current, pro, basic)
                    ],
                    "schedule_at_period_end": {"conditions": [{"type": "decreasing_item_amount"}]},
                },
                "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
                "payment_method_update": {"enabled": True},
                "invoice_history": {"enabled": True},
            },
        }
    )
    portal = env.client.v1.billing_portal.sessions.create(
        params={
            "customer": session.customer,
            "return_url": "http://app.test/account",
            "configuration": config.id,
        }
    )
    assert portal.id.startswith("bps_") and portal.url == f"{env.url}/portal/{portal.id}"
    assert portal.configuration == config.id
    page = httpx.get(portal.url).text
    assert "Current period ends" in page and 'href="http://app.test/account"' in page
    assert "Return to app" in page and '<label for="cardnumber">Card number</label>' in page
    assert "Manage your plan" in page and 'id="invoice-history"' in page

    # Cancelling asks for a confirmation first.
    review = submit_form(page, {}, _form_index(page, "/cancel_review"))
    assert review.status_code == 200 and "Confirm cancellation" in review.text
    assert env.client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    cancel = submit_form(review.text, {}, _form_index(review.text, "/cancel"))
    assert cancel.status_code == 303
    page = httpx.get(cancel.headers["location"]).text
    assert "will be canceled at the end" in page and "Resume plan" in page
    assert env.client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is True
    resume = submit_form(page, {}, _form_index(page, "/resume"))
    page = httpx.get(resume.headers["location"]).text
    assert env.client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False

    # An upgrade is reviewed (amount due today), then applied at once with prorations.
    forms = re.findall(r"<form.*?</form>", page, flags=re.S)
    upgrade = next(i for i, f in enumerate(forms) if pro.id in f)
    env.settle()
    review = submit_form(page, {}, upgrade)
    assert "Amount due today" in review.text and "Confirm" in review.text
    switched = submit_form(review.text, {}, 0)
    page = httpx.get(switched.headers["location"]).text
    assert "Your plan was changed" in page
    sub = env.client.v1.subscriptions.retrieve(sub_id)
    assert sub["items"].data[0].price.id == pro.id
    inv = env.client.v1.invoices.retrieve(sub.latest_invoice)
    assert inv.billing_reason == "subscription_update"
    assert [line.parent.subscription_item_details.proration for line in inv.lines.data] == [
        True,
        True,
    ]

    # A downgrade waits for the end of the period (a subscription schedule).
    forms = re.findall(r"<form.*?</form>", page, flags=re.S)
    downgrade = next(i for i, f in enumerate(forms) if basic.id in f)
    review = submit_form(page, {}, downgrade)
    assert "Nothing is charged today" in review.text
    scheduled = submit_form(review.text, {}, 0)
    page = httpx.get(scheduled.headers["location"]).text
    assert "will change at the end" in page and "Switches to Basic" in page
    sub = env.client.v1.subscriptions.retrieve(sub_id)
    assert sub["items"].data[0].price.id == pro.id and sub.schedule
    env.control.advance(sub_id)
    assert env.client.v1.subscriptions.retrieve(sub_id)["items"].data[0].price.id == basic.id

    declined = submit_form(page, {"cardnumber": "4000000000000002"}, _form_index(page, "/card"))
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    assert 'value="4000000000000002"' in declined.text  # what was typed stays
