"""Saved cards and the payments made with them without the customer (off-session).

A card is saved by Checkout (`payment_intent_data[setup_future_usage]`, or any subscription).
`POST /v1/payment_intents` with `off_session=true&confirm=true` then charges it at once; the
outcome is decided by the test card number it was saved with, which a control can change.
"""

from typing import Any

from . import objects
from .cards import DECLINE_MESSAGES, CardOutcome, card_details, classify, decline_code, normalise
from .errors import StripeError
from .events import Batch, changed
from .invoicing import Charge, Invoicer
from .store import Store


class Payments:
    def __init__(self, store: Store, invoicer: Invoicer) -> None:
        self.store = store
        self.invoicer = invoicer

    # -- saved cards ---------------------------------------------------------------------

    def detach(self, batch: Batch, pm: dict[str, Any]) -> dict[str, Any]:
        """Stripe's detach: the card can no longer be charged; a customer's default that
        named it is cleared."""
        if pm["customer"] is None:
            raise StripeError(
                400,
                "The payment method you provided is not attached to a customer so detachment "
                "is impossible.",
            )
        cust = self.store.maybe("customer", pm["customer"])
        before = Store.snapshot(pm)
        pm["customer"] = None
        batch.emit("payment_method.detached", pm, changed(before, pm))
        if cust is not None and cust["invoice_settings"]["default_payment_method"] == pm["id"]:
            previous = Store.snapshot(cust)
            cust["invoice_settings"]["default_payment_method"] = None
            batch.emit("customer.updated", cust, changed(previous, cust))
        return pm

    def set_card(self, pm: dict[str, Any], number: str) -> dict[str, Any]:
        """A control, not Stripe: the saved card now is (and behaves as) test card `number`,
        e.g. so that it starts declining."""
        if classify(number) is CardOutcome.INVALID:
            raise StripeError(400, f"Not a sandbox test card: {number!r}", param="number")
        pm["card"].update(card_details(number))
        self.store.private_of(pm["id"])["number"] = normalise(number)
        return pm

    # -- off-session payment intents -----------------------------------------------------

    def charge_off_session(
        self,
        batch: Batch,
        *,
        amount: int,
        currency: str,
        cust: dict[str, Any],
        pm: dict[str, Any],
        description: str | None,
        metadata: dict[str, str],
    ) -> dict[str, Any]:
        """Create and confirm a payment intent for a saved card the customer is not there
        to authenticate. Success: `succeeded` with its charge. Failure: Stripe's 402
        card_error naming the payment intent, now `requires_payment_method` with
        `last_payment_error` (also for cards needing 3-D Secure: off-session nobody can
        authenticate), and its events are sent all the same."""
        pi = self.store.put(
            objects.payment_intent(
                amount=amount,
                currency=currency,
                customer_id=cust["id"],
                payment_method_id=pm["id"],
                description=description,
                metadata=metadata,
            )
        )
        pi["status"] = "requires_confirmation"
        batch.emit("payment_intent.created", pi)
        result = self.invoicer.card_result(pm, off_session=True)
        reason = (
            "authentication_required"
            if result is Charge.ACTION
            else decline_code(self.invoicer.card_outcome(pm))
        )
        ch = self.store.put(
            objects.charge(
                pi=pi,
                pm=pm,
                succeeded=result is Charge.OK,
                email=cust["email"],
                decline_code=reason,
            )
        )
        pi["latest_charge"] = ch["id"]
        if result is Charge.OK:
            pi.update(status="succeeded", amount_received=amount)
            batch.emit("payment_intent.succeeded", pi)
            batch.emit("charge.succeeded", ch)
            return pi
        code = "authentication_required" if result is Charge.ACTION else "card_declined"
        error = {
            "charge": ch["id"],
            "code": code,
            "decline_code": reason,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
            "message": DECLINE_MESSAGES[reason],
            "payment_method": Store.snapshot(pm),
            "type": "card_error",
        }
        # Like Stripe, a failed attempt unsets the payment method: the card that failed is
        # named by `last_payment_error.payment_method`.
        pi.update(status="requires_payment_method", last_payment_error=error, payment_method=None)
        batch.emit("payment_intent.payment_failed", pi)
        batch.emit("charge.failed", ch)
        raise StripeError(
            402,
            error["message"],
            code=code,
            type_="card_error",
            extra={
                "charge": ch["id"],
                "decline_code": reason,
                "payment_intent": Store.snapshot(pi),
                "payment_method": Store.snapshot(pm),
            },
            keeps_events=True,
        )
