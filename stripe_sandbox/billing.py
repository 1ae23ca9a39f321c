"""What happens when money moves: checkout completion, renewals, plan changes, refunds, disputes.

Every operation runs under the store lock, mutates objects in place and emits its events into a
`Batch` in the order Stripe sends them. Hosted pages, REST routes and control endpoints all call
into this module, so a subscription behaves the same whichever way it is driven.
"""

from typing import Any

from . import objects
from .cards import CardOutcome, card_details, classify
from .errors import StripeError, card_declined
from .events import Batch, changed
from .ids import now
from .periods import add_intervals
from .store import Store

# Key under which a price change made with proration_behavior=none waits for the renewal.
SCHEDULED_PRICE_KEY = "sandbox_scheduled_price"
# Subscription statuses that have ended: nothing left to cancel.
_ENDED = ("canceled", "incomplete_expired")


class PaymentDeclined(Exception):
    """A hosted page must show `message` and change nothing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_card(number: str) -> CardOutcome:
    """Refuse unusable cards the way Checkout's form does, before anything is created."""
    outcome = classify(number)
    if outcome is CardOutcome.INVALID:
        raise PaymentDeclined("Your card number is invalid.")
    if outcome is CardOutcome.DECLINED:
        raise PaymentDeclined("Your card was declined.")
    return outcome


class Billing:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- customers and cards -------------------------------------------------------------

    def create_customer(
        self,
        batch: Batch,
        email: str | None,
        name: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        cust = self.store.put(objects.customer(email, name, metadata or {}))
        batch.emit("customer.created", cust)
        return cust

    def customer_deleted(self, customer_id: str) -> bool:
        return bool(self.store.private.get(customer_id, {}).get("deleted"))

    def delete_customer(self, batch: Batch, cust: dict[str, Any]) -> dict[str, Any]:
        """Stripe's DELETE /v1/customers/{id}: the customer's subscriptions that have not
        ended are canceled at once (no proration, no final invoice), its payment methods
        detached, and the customer is gone: updates and new uses answer "No such customer",
        a retrieve answers the deletion stub. `customer.deleted` carries the last state."""
        for sub in self.store.newest_first("subscription"):
            if sub["customer"] == cust["id"] and sub["status"] not in _ENDED:
                self.cancel_now(batch, sub)
        for pm in self.store.newest_first("payment_method"):
            if pm["customer"] == cust["id"]:
                pm["customer"] = None
        del self.store.objects["customer"][cust["id"]]
        self.store.private_of(cust["id"])["deleted"] = True
        batch.emit("customer.deleted", cust)
        return objects.deleted_customer(cust["id"])

    def attach_card(
        self, batch: Batch | None, cust: dict[str, Any] | None, number: str
    ) -> dict[str, Any]:
        """A payment method for `number`, made the customer's default when there is one."""
        outcome = check_card(number)
        email = cust["email"] if cust else None
        pm = self.store.put(
            objects.payment_method(cust["id"] if cust else None, card_details(number), email)
        )
        self.store.private_of(pm["id"])["outcome"] = outcome
        if cust is not None:
            before = Store.snapshot(cust)
            cust["invoice_settings"]["default_payment_method"] = pm["id"]
            if batch is not None:
                batch.emit("payment_method.attached", pm)
                batch.emit("customer.updated", cust, changed(before, cust))
        return pm

    def _card_charges(self, pm: dict[str, Any], off_session: bool) -> bool:
        outcome = self.store.private_of(pm["id"]).get("outcome", CardOutcome.OK)
        if outcome is CardOutcome.ATTACH_THEN_FAIL:
            return not off_session
        return outcome is CardOutcome.OK

    def _payment_method_for(self, sub: dict[str, Any]) -> dict[str, Any] | None:
        cust = self.store.get("customer", sub["customer"])
        pm_id = sub["default_payment_method"] or cust["invoice_settings"]["default_payment_method"]
        return self.store.maybe("payment_method", pm_id)

    # -- checkout ------------------------------------------------------------------------

    def complete_checkout(
        self, batch: Batch, session: dict[str, Any], number: str, email: str | None
    ) -> dict[str, Any]:
        """Pay a checkout session with a test card (raises PaymentDeclined, changing nothing)."""
        self.expire_if_due(batch, session)
        if session["status"] != "open":
            raise PaymentDeclined("This checkout session is no longer open.")
        check_card(number)
        private = self.store.private_of(session["id"])
        p = self.store.get("price", private["price"])
        quantity = private["quantity"]
        email = session["customer_email"] or email or None
        cust = self.store.maybe("customer", session["customer"])
        if session["mode"] == "subscription":
            if cust is None:
                cust = self.create_customer(batch, email)
            pm = self.attach_card(None, cust, number)
            sub, inv = self._start_subscription(
                batch, cust, pm, p, quantity, private["subscription_metadata"]
            )
            session.update(
                customer=cust["id"],
                subscription=sub["id"],
                invoice=inv["id"],
            )
        else:
            pm = self.attach_card(None, cust, number)
            pi = self.store.put(
                objects.payment_intent(
                    amount=session["amount_total"],
                    currency=session["currency"],
                    customer_id=cust["id"] if cust else None,
                    payment_method_id=pm["id"],
                    description=None,
                    metadata=dict(private["payment_intent_metadata"]),
                )
            )
            ch = self.store.put(objects.charge(pi=pi, pm=pm, succeeded=True, email=email))
            pi.update(status="succeeded", amount_received=pi["amount"], latest_charge=ch["id"])
            session["payment_intent"] = pi["id"]
            batch.emit("payment_intent.succeeded", pi)
            batch.emit("charge.succeeded", ch)
        session.update(
            status="complete",
            payment_status="paid",
            customer_details=objects.customer_details(
                cust["email"] if cust else email, cust["name"] if cust else None
            ),
        )
        batch.emit("checkout.session.completed", session)
        return session

    def expire_if_due(self, batch: Batch, session: dict[str, Any]) -> None:
        """Sessions expire 24 h after creation; checked whenever a session is looked at."""
        if session["status"] == "open" and now() >= session["expires_at"]:
            session["status"] = "expired"
            batch.emit("checkout.session.expired", session)

    def expire_checkout(self, batch: Batch, session: dict[str, Any]) -> dict[str, Any]:
        if session["status"] != "open":
            raise StripeError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired.',
                code="checkout_session_expired" if session["status"] == "expired" else None,
            )
        session.update(status="expired")
        batch.emit("checkout.session.expired", session)
        return session

    # -- subscriptions -------------------------------------------------------------------

    def _period(self, sub_id: str) -> tuple[int, int]:
        private = self.store.private_of(sub_id)
        interval, count, index = private["interval"], private["interval_count"], private["index"]
        start = add_intervals(private["anchor"], interval, count * index)
        return start, add_intervals(private["anchor"], interval, count * (index + 1))

    def _set_anchor(self, sub: dict[str, Any], p: dict[str, Any], anchor: int) -> None:
        self.store.private_of(sub["id"]).update(
            anchor=anchor,
            interval=p["recurring"]["interval"],
            interval_count=p["recurring"]["interval_count"],
            index=0,
        )
        sub["billing_cycle_anchor"] = anchor

    def _start_subscription(
        self,
        batch: Batch,
        cust: dict[str, Any],
        pm: dict[str, Any],
        p: dict[str, Any],
        quantity: int,
        metadata: dict[str, str],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        started = now()
        sub = objects.subscription(
            customer_id=cust["id"],
            currency=p["currency"],
            metadata=dict(metadata),
            default_payment_method=pm["id"],
            anchor=started,
        )
        self.store.put(sub)
        self._set_anchor(sub, p, started)
        start, end = self._period(sub["id"])
        item = objects.subscription_item(sub["id"], Store.snapshot(p), quantity, start, end)
        sub["items"]["data"] = [item]
        inv = self._new_invoice(cust, sub, "subscription_create", started, started)
        sub["latest_invoice"] = inv["id"]
        batch.emit("customer.subscription.created", sub)
        self._finalize_and_collect(batch, inv, cust, pm, off_session=False)
        return sub, inv

    def _new_invoice(
        self,
        cust: dict[str, Any],
        sub: dict[str, Any],
        reason: str,
        period_start: int,
        period_end: int,
    ) -> dict[str, Any]:
        """A draft invoice billing the subscription's current item for its current period.

        Like Stripe, the invoice-level period is the usage period before the invoice (equal
        start and end on a subscription's first invoice); the line carries the billed period.
        """
        item = sub["items"]["data"][0]
        inv = objects.invoice(
            cust=cust,
            sub=sub,
            item=item,
            billing_reason=reason,
            period_start=period_start,
            period_end=period_end,
        )
        line = inv["lines"]["data"][0]
        line["period"] = {
            "start": item["current_period_start"],
            "end": item["current_period_end"],
        }
        return self.store.put(inv)

    def _finalize_and_collect(
        self,
        batch: Batch,
        inv: dict[str, Any],
        cust: dict[str, Any],
        pm: dict[str, Any] | None,
        off_session: bool,
    ) -> bool:
        batch.emit("invoice.created", inv)
        finalized = now()
        sequence = cust["next_invoice_sequence"]
        cust["next_invoice_sequence"] = sequence + 1
        inv.update(status="open", number=f"{cust['invoice_prefix']}-{sequence:04d}")
        inv["status_transitions"]["finalized_at"] = finalized
        inv["webhooks_delivered_at"] = finalized
        batch.emit("invoice.finalized", inv)
        return self._attempt_payment(batch, inv, cust, pm, off_session)

    def _attempt_payment(
        self,
        batch: Batch,
        inv: dict[str, Any],
        cust: dict[str, Any],
        pm: dict[str, Any] | None,
        off_session: bool,
    ) -> bool:
        """Charge an open invoice: a payment intent, a charge, and the invoice_payment that
        links them (reused across retries, as Stripe reuses the invoice's payment intent)."""
        private = self.store.private_of(inv["id"])
        pi = self.store.maybe("payment_intent", private.get("payment_intent"))
        if pi is None:
            reason = inv["billing_reason"]
            description = {
                "subscription_create": "Subscription creation",
                "subscription_update": "Subscription update",
            }.get(reason, "Subscription cycle")
            pi = self.store.put(
                objects.payment_intent(
                    amount=inv["amount_due"],
                    currency=inv["currency"],
                    customer_id=cust["id"],
                    payment_method_id=pm["id"] if pm else None,
                    description=description,
                    metadata={},
                )
            )
            private["payment_intent"] = pi["id"]
            private["invoice_payment"] = self.store.put(objects.invoice_payment(inv, pi, False))[
                "id"
            ]
        inpay = self.store.get("invoice_payment", private["invoice_payment"])
        ok = pm is not None and self._card_charges(pm, off_session)
        inv["attempt_count"] += 1
        inv["attempted"] = True
        if pm is not None:
            ch = self.store.put(objects.charge(pi=pi, pm=pm, succeeded=ok, email=cust["email"]))
            pi.update(latest_charge=ch["id"], payment_method=pm["id"])
        if ok:
            paid_at = now()
            pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None)
            inv.update(
                status="paid",
                amount_paid=inv["amount_due"],
                amount_remaining=0,
                next_payment_attempt=None,
            )
            inv["status_transitions"]["paid_at"] = paid_at
            inpay.update(status="paid", amount_paid=pi["amount"])
            inpay["status_transitions"]["paid_at"] = paid_at
            cust["delinquent"] = False
            batch.emit("invoice.paid", inv)
            batch.emit("invoice.payment_succeeded", inv)
        else:
            pi.update(
                status="requires_payment_method",
                last_payment_error={
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                    "payment_method": pm,
                },
            )
            inv["next_payment_attempt"] = now() + 3 * 24 * 3600
            cust["delinquent"] = True
            batch.emit("invoice.payment_failed", inv)
        return ok

    def update_subscription(
        self,
        batch: Batch,
        sub: dict[str, Any],
        *,
        cancel_at_period_end: bool | None = None,
        new_price: dict[str, Any] | None = None,
        quantity: int | None = None,
        proration_behavior: str = "create_prorations",
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Apply a subscription update and emit `customer.subscription.updated`.

        Price changes: `always_invoice` switches now, restarts the period and charges the full
        new price at once (no proration credit, a sandbox simplification); `none` keeps the
        current price until the next renewal, remembered in metadata under
        SCHEDULED_PRICE_KEY; `create_prorations` (Stripe's default) switches now and bills the
        new price from the next renewal, without proration lines.
        """
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise StripeError(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        before = Store.snapshot(sub)
        item = sub["items"]["data"][0]
        if metadata is not None:
            sub["metadata"] = metadata
        if cancel_at_period_end is not None:
            sub["cancel_at_period_end"] = cancel_at_period_end
            if cancel_at_period_end:
                sub.update(cancel_at=item["current_period_end"], canceled_at=now())
                sub["cancellation_details"]["reason"] = "cancellation_requested"
            else:
                sub.update(cancel_at=None, canceled_at=None)
                sub["cancellation_details"]["reason"] = None
        invoice_now = False
        if new_price is not None and new_price["id"] != item["price"]["id"]:
            if proration_behavior == "none":
                sub["metadata"] = {**sub["metadata"], SCHEDULED_PRICE_KEY: new_price["id"]}
            else:
                sub["metadata"].pop(SCHEDULED_PRICE_KEY, None)
                if proration_behavior == "always_invoice":
                    pm = self._payment_method_for(sub)
                    if pm is None or not self._card_charges(pm, off_session=True):
                        sub.clear()
                        sub.update(before)
                        raise card_declined()
                    self._set_anchor(sub, new_price, now())
                    invoice_now = True
                elif new_price["recurring"]["interval"] != item["price"]["recurring"]["interval"]:
                    # Stripe resets the billing cycle when the interval changes.
                    self._set_anchor(sub, new_price, now())
                self._switch_item(sub, new_price)
        elif new_price is not None:
            # Choosing the current price again cancels a scheduled change.
            sub["metadata"].pop(SCHEDULED_PRICE_KEY, None)
        if quantity is not None:
            item["quantity"] = quantity
        cust = self.store.get("customer", sub["customer"])
        inv = None
        if invoice_now:
            started = sub["billing_cycle_anchor"]
            inv = self._new_invoice(cust, sub, "subscription_update", started, started)
            sub["latest_invoice"] = inv["id"]
        previous = changed(before, sub)
        if previous:
            batch.emit("customer.subscription.updated", sub, previous)
        if inv is not None:
            self._finalize_and_collect(batch, inv, cust, self._payment_method_for(sub), True)
        return sub

    def _switch_item(self, sub: dict[str, Any], p: dict[str, Any]) -> None:
        item = sub["items"]["data"][0]
        item["price"] = Store.snapshot(p)
        item["plan"] = objects.plan_from_price(p)
        self.store.private_of(sub["id"]).update(
            interval=p["recurring"]["interval"], interval_count=p["recurring"]["interval_count"]
        )
        self._sync_item_period(sub)

    def _sync_item_period(self, sub: dict[str, Any]) -> None:
        start, end = self._period(sub["id"])
        item = sub["items"]["data"][0]
        item.update(current_period_start=start, current_period_end=end)
        if sub["cancel_at_period_end"]:
            sub["cancel_at"] = end

    def cancel_now(self, batch: Batch, sub: dict[str, Any]) -> dict[str, Any]:
        if sub["status"] == "canceled":
            raise StripeError(
                404, f"No such subscription: '{sub['id']}'", param="id", code="resource_missing"
            )
        ended = now()
        sub.update(status="canceled", canceled_at=sub["canceled_at"] or ended, ended_at=ended)
        sub["cancellation_details"]["reason"] = "cancellation_requested"
        batch.emit("customer.subscription.deleted", sub)
        return sub

    def advance(self, batch: Batch, sub: dict[str, Any]) -> dict[str, Any]:
        """Move a subscription to its next period, as Stripe's renewal would.

        Returns the renewal invoice, or the subscription when it ended instead.
        """
        if sub["status"] == "canceled":
            raise StripeError(400, f"Subscription {sub['id']} is canceled.")
        item = sub["items"]["data"][0]
        previous_start, previous_end = item["current_period_start"], item["current_period_end"]
        if sub["cancel_at_period_end"]:
            sub.update(status="canceled", ended_at=previous_end)
            batch.emit("customer.subscription.deleted", sub)
            return sub
        before = Store.snapshot(sub)
        scheduled = sub["metadata"].pop(SCHEDULED_PRICE_KEY, None)
        self.store.private_of(sub["id"])["index"] += 1
        if scheduled:
            new_price = self.store.get("price", scheduled)
            # The new price starts a fresh cycle at the renewal moment.
            self._set_anchor(sub, new_price, previous_end)
            self._switch_item(sub, new_price)
        else:
            self._sync_item_period(sub)
        cust = self.store.get("customer", sub["customer"])
        inv = self._new_invoice(cust, sub, "subscription_cycle", previous_start, previous_end)
        sub["latest_invoice"] = inv["id"]
        ok = self._finalize_and_collect(batch, inv, cust, self._payment_method_for(sub), True)
        sub["status"] = "active" if ok else "past_due"
        batch.emit("customer.subscription.updated", sub, changed(before, sub))
        return inv

    def update_card(self, batch: Batch, cust: dict[str, Any], number: str) -> dict[str, Any]:
        """Portal "Update card": new default card; past-due invoices are retried at once."""
        pm = self.attach_card(batch, cust, number)
        for sub in self.store.newest_first("subscription"):
            if sub["customer"] != cust["id"] or sub["status"] == "canceled":
                continue
            before = Store.snapshot(sub)
            sub["default_payment_method"] = pm["id"]
            if sub["status"] == "past_due":
                inv = self.store.get("invoice", sub["latest_invoice"])
                if inv["status"] == "open" and self._attempt_payment(
                    batch, inv, cust, pm, off_session=True
                ):
                    sub["status"] = "active"
            previous = changed(before, sub)
            if previous:
                batch.emit("customer.subscription.updated", sub, previous)
        return pm

    # -- refunds and disputes ------------------------------------------------------------

    def refund(
        self,
        batch: Batch,
        ch: dict[str, Any],
        amount: int | None,
        reason: str | None,
        metadata: dict[str, str],
    ) -> dict[str, Any]:
        if ch["status"] != "succeeded":
            raise StripeError(400, f"Charge {ch['id']} has not succeeded; it cannot be refunded.")
        remaining = ch["amount"] - ch["amount_refunded"]
        if remaining <= 0:
            raise StripeError(
                400,
                f"Charge {ch['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount is None:
            amount = remaining
        if amount <= 0:
            raise StripeError(
                400, "Invalid positive integer", param="amount", code="parameter_invalid_integer"
            )
        if amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({_money(amount, ch['currency'])}) is greater than unrefunded "
                f"amount on charge ({_money(remaining, ch['currency'])})",
                param="amount",
                code="amount_too_large",
            )
        before = Store.snapshot(ch)
        re = self.store.put(objects.refund(ch, amount, reason, metadata))
        ch["amount_refunded"] += amount
        ch["refunded"] = ch["amount_refunded"] == ch["amount"]
        ch["refunds"]["data"].insert(0, Store.snapshot(re))
        batch.emit("charge.refunded", ch, changed(before, ch))
        batch.emit("refund.created", re)
        return re

    def open_dispute(self, batch: Batch, ch: dict[str, Any], reason: str) -> dict[str, Any]:
        if ch["status"] != "succeeded":
            raise StripeError(400, f"Charge {ch['id']} has not succeeded; it cannot be disputed.")
        dp = self.store.put(objects.dispute(ch, reason))
        ch["disputed"] = True
        batch.emit("charge.dispute.created", dp)
        return dp

    def close_dispute(self, batch: Batch, dp: dict[str, Any], status: str) -> dict[str, Any]:
        if status not in ("won", "lost"):
            raise StripeError(400, "status must be 'won' or 'lost'", param="status")
        if dp["status"] in ("won", "lost"):
            raise StripeError(400, f"Dispute {dp['id']} is already closed.")
        dp["status"] = status
        dp["evidence_details"]["has_evidence"] = True
        batch.emit("charge.dispute.closed", dp)
        return dp


def _money(amount: int, currency: str) -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency, "")
    return f"{symbol}{amount / 100:.2f}"
