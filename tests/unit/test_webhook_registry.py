"""The webhook registry is the one list of handled events: the fetch plan, the handled
types and the README's `stripe listen` command all come from it."""

import re
from pathlib import Path

import pytest

from credit_app.billing.webhook_handlers import registry
from credit_app.billing.webhook_registry import Facts, Fetch, Handled, Registry
from credit_app.models import EventOutcome

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_stripe_listen_command_is_the_registrys():
    command = registry.stripe_listen_command("http://localhost:3000/api/webhooks/stripe")
    assert command in README.read_text()
    assert README.read_text().count("stripe listen --forward-to") == 1


def test_handled_types_and_fetch_plans_come_from_the_registrations():
    assert registry.fetch_plan("invoice.paid") == {
        Fetch.SUBSCRIPTION,
        Fetch.INVOICE_LINES,
        Fetch.INVOICE_PRICES,
    }
    assert registry.fetch_plan("charge.refunded") == {Fetch.PAYMENT_INVOICE}
    for kind in ("created", "updated", "closed", "funds_withdrawn", "funds_reinstated"):
        assert registry.fetch_plan(f"charge.dispute.{kind}") == {
            Fetch.DISPUTE,
            Fetch.PAYMENT_INVOICE,
        }
    assert registry.fetch_plan("balance.available") == frozenset()
    assert registry.handler_for("balance.available") is None
    subscription = registry.handler_for("customer.subscription.deleted")
    assert subscription is not None and subscription.name == "subscription_changed"
    # Mode safety and 3-D Secure on renewal (issue #10): registered, so `stripe listen
    # --events` and stripe-sync include them.
    assert registry.fetch_plan("customer.deleted") == frozenset()
    assert registry.fetch_plan("invoice.payment_action_required") == {Fetch.SUBSCRIPTION}
    assert {"customer.deleted", "invoice.payment_action_required"} <= set(registry.event_types)
    # Stripe's Events API takes at most 20 types per call (stripe-sync asks in batches).
    assert len(registry.event_types) <= 20


def test_an_event_type_has_one_handler():
    local = Registry()

    @local.handles("invoice.paid", fetch={Fetch.SUBSCRIPTION})
    def first(session, event, facts: Facts) -> Handled:
        return Handled.ignored("first")

    with pytest.raises(ValueError, match=re.escape("invoice.paid is already handled by first")):

        @local.handles("invoice.upcoming", "invoice.paid")
        def second(session, event, facts: Facts) -> Handled:
            return Handled.ignored("second")

    with pytest.raises(ValueError, match="at least one event type"):
        local.handles()
    assert local.event_types == ("invoice.paid",)
    assert local.stripe_listen_command("https://x.test/hook") == (
        "stripe listen --forward-to https://x.test/hook \\\n  --events invoice.paid"
    )


@pytest.mark.parametrize("outcome", ["deferred", "failed", "processing", "weird"])
def test_a_handler_result_is_always_final(outcome):
    # It is committed with the handler's effects: a non-final outcome would leave them
    # applied on a row that the next delivery claims and applies again.
    with pytest.raises(ValueError):
        Handled(outcome, "detail")  # type: ignore[arg-type]
    for final in (EventOutcome.APPLIED, EventOutcome.IGNORED, EventOutcome.DUPLICATE):
        assert Handled(final, "detail").outcome is final
