"""The sandbox mounted under a prefix, the standalone CLI, and object shapes vs fixtures."""

import json
from pathlib import Path

import httpx
import pytest
import stripe
from starlette.applications import Starlette
from starlette.routing import Mount

from stripe_sandbox import SandboxControl, SandboxSettings, create_app

from .conftest import SECRET, Env
from .harness import Receiver, free_port, serve, standalone_sandbox

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "stripe" / "fixtures3.json"


def test_mounted_under_a_prefix() -> None:
    receiver = Receiver(SECRET)
    with serve(receiver.app(), free_port()) as hook_url:
        port = free_port()
        public = f"http://127.0.0.1:{port}/stripe-sandbox"
        sandbox = create_app(
            SandboxSettings(
                api_key=None,
                webhook_secret=SECRET,
                webhook_url=hook_url + "/webhook",
                public_url=public,
            )
        )
        host = Starlette(routes=[Mount("/stripe-sandbox", app=sandbox)])
        with serve(host, port):
            client = stripe.StripeClient("sk_test_x", base_addresses={"api": public})
            prod = client.v1.products.create(params={"name": "Mounted"})
            price = client.v1.prices.create(
                params={"product": prod.id, "unit_amount": 900, "currency": "usd",
                        "recurring": {"interval": "year"}}
            )  # fmt: skip
            session = client.v1.checkout.sessions.create(
                params={"mode": "subscription", "line_items": [{"price": price.id}],
                        "success_url": "http://app.test/ok"}
            )  # fmt: skip
            assert session.url == f"{public}/checkout/{session.id}"
            page = httpx.get(session.url).text
            assert f'action="{public}/checkout/{session.id}"' in page
            assert "$9.00 / year" in page
            paid = httpx.post(session.url, data={"cardnumber": "4242424242424242"})
            assert paid.headers["location"] == "http://app.test/ok"
            SandboxControl(public).wait_idle()
            assert receiver.types[-1] == "checkout.session.completed"
            sub = client.v1.subscriptions.retrieve(
                client.v1.checkout.sessions.retrieve(session.id).subscription
            )
            item = sub["items"].data[0]
            assert 365 * 86400 <= item.current_period_end - item.current_period_start <= 366 * 86400


def test_standalone_cli() -> None:
    with standalone_sandbox("--webhook-secret", SECRET, "--api-key", "sk_test_cli") as url:
        client = stripe.StripeClient("sk_test_cli", base_addresses={"api": url})
        assert client.v1.customers.create(params={"email": "cli@x.io"}).email == "cli@x.io"


@pytest.mark.skipif(not FIXTURES.exists(), reason="shared/stripe/fixtures3.json not present")
def test_objects_have_stripes_field_sets(env: Env) -> None:
    """Every field of Stripe's own fixture is present (the invoice's top-level `subscription`
    is gone in this API version: it moved to parent.subscription_details)."""
    fixtures = json.loads(FIXTURES.read_text())["resources"]
    session = env.subscribe()
    c = env.client.v1
    sub = c.subscriptions.retrieve(session.subscription)
    inv = c.invoices.retrieve(session.invoice)
    pay = c.invoice_payments.list(params={"invoice": inv.id}).data[0]
    pi = c.payment_intents.retrieve(pay.payment.payment_intent)
    charge = c.charges.retrieve(pi.latest_charge)
    refund = c.refunds.create(params={"charge": charge.id, "amount": 1})
    dispute = env.control.dispute(charge.id)
    price = c.prices.retrieve(sub["items"].data[0].price.id)
    portal = c.billing_portal.sessions.create(params={"customer": session.customer})
    ours = {
        "checkout.session": session.to_dict(),
        "subscription": sub.to_dict(),
        "invoice": inv.to_dict(),
        "invoice_payment": pay.to_dict(),
        "payment_intent": pi.to_dict(),
        "charge": charge.to_dict(),
        "refund": refund.to_dict(),
        "dispute": dispute,
        "price": price.to_dict(),
        "product": c.products.retrieve(price.product).to_dict(),
        "customer": c.customers.retrieve(session.customer).to_dict(),
        "billing_portal.session": portal.to_dict(),
        "event": c.events.list(params={"limit": 1}).data[0].to_dict(),
    }
    allowed_missing = {"invoice": {"subscription"}}
    for name, obj in ours.items():
        missing = set(fixtures[name]) - set(obj) - allowed_missing.get(name, set())
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert obj["object"] == fixtures[name]["object"]
    assert set(fixtures["subscription"]["items"]["data"][0]) <= set(sub["items"].data[0].to_dict())
    assert set(fixtures["invoice"]["lines"]["data"][0]) <= set(inv.lines.data[0].to_dict())
