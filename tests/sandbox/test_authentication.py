"""Card 4000 0027 6000 3184: the checkout payment is authenticated on the page, every
renewal needs the customer (invoice.payment_action_required, then the hosted invoice page)."""

import httpx

from .conftest import Env, submit_form


def test_renewal_needs_authentication_then_is_paid_on_the_hosted_invoice_page(env: Env) -> None:
    session = env.subscribe(card="4000 0027 6000 3184")
    c = env.client.v1
    sub = c.subscriptions.retrieve(session.subscription)
    assert sub.status == "active"
    assert c.invoices.retrieve(sub.latest_invoice).status == "paid"
    env.settle()

    renewal = env.control.advance(sub.id)
    env.control.wait_idle()
    assert renewal["status"] == "open"
    assert env.receiver.types == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "customer.subscription.updated",
    ]
    action = env.receiver.deliveries[3].event["data"]["object"]
    url = action["hosted_invoice_url"]
    assert url and url.startswith(f"{env.url}/invoice/") and action["id"] == renewal["id"]
    assert c.subscriptions.retrieve(sub.id).status == "past_due"
    pi_id = (
        c.invoice_payments.list(params={"invoice": renewal["id"]}).data[0].payment.payment_intent
    )
    pi = c.payment_intents.retrieve(pi_id)
    assert (
        pi.status == "requires_action" and pi.last_payment_error.code == "authentication_required"
    )

    page = httpx.get(url)
    assert page.status_code == 200 and "confirm this payment" in page.text
    assert "Authenticate and pay $20.00 with the Visa ending in 3184" in page.text
    env.settle()
    paid = submit_form(page.text, {}, 0)
    assert paid.status_code == 303
    assert "Paid on" in httpx.get(paid.headers["location"]).text
    env.control.wait_idle()
    assert env.receiver.types == [
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]
    assert c.invoices.retrieve(renewal["id"]).amount_paid == 2000
    assert c.subscriptions.retrieve(sub.id).status == "active"
    assert c.payment_intents.retrieve(pi_id).status == "succeeded"


def test_hosted_invoice_page_takes_another_card_and_keeps_it_after_a_decline(env: Env) -> None:
    session = env.subscribe(card="4000 0000 0000 0341")
    renewal = env.control.advance(session.subscription)
    url = env.client.v1.invoices.retrieve(renewal["id"]).hosted_invoice_url
    page = httpx.get(url).text
    declined = submit_form(page, {"cardnumber": "4000 0000 0000 0002"}, 1)
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    assert 'value="4000 0000 0000 0002"' in declined.text
    paid = submit_form(declined.text, {"cardnumber": "4242 4242 4242 4242"}, 1)
    assert paid.status_code == 303
    assert env.client.v1.invoices.retrieve(renewal["id"]).status == "paid"
    assert env.client.v1.subscriptions.retrieve(session.subscription).status == "active"
