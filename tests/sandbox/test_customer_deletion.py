"""Deleting a customer, as Stripe does it: its live subscriptions canceled at once, then
`customer.deleted`; afterwards a retrieve answers the deletion stub and anything else
"No such customer"."""

import pytest
import stripe

from .conftest import Env


def test_deleting_a_customer_cancels_its_subscription_and_leaves_a_stub(env: Env) -> None:
    session = env.subscribe()
    env.settle()
    customer = session.customer

    env.client.v1.customers.update(customer, params={"email": "new@example.com"})
    assert env.client.v1.customers.retrieve(customer).email == "new@example.com"
    env.settle()

    gone = env.client.v1.customers.delete(customer)
    assert (gone.id, gone.deleted) == (customer, True)
    env.control.wait_idle()
    assert env.receiver.types == ["customer.subscription.deleted", "customer.deleted"]
    deleted = [d.event for d in env.receiver.deliveries][-1]["data"]["object"]
    assert deleted["id"] == customer and deleted["email"] == "new@example.com"

    sub = env.client.v1.subscriptions.retrieve(session.subscription)
    assert sub.status == "canceled" and sub.ended_at
    assert env.client.v1.subscriptions.list(params={"customer": customer}).data == []
    stub = env.client.v1.customers.retrieve(customer)
    assert stub.to_dict() == {"id": customer, "object": "customer", "deleted": True}
    with pytest.raises(stripe.InvalidRequestError) as missing:
        env.client.v1.customers.update(customer, params={"email": "x@example.com"})
    assert missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as again:
        env.client.v1.customers.delete(customer)
    assert again.value.code == "resource_missing"
    # A canceled subscription cannot be canceled again.
    with pytest.raises(stripe.InvalidRequestError):
        env.client.v1.subscriptions.cancel(session.subscription)
