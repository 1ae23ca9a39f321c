"""What happens when money moves: checkout completion, renewals, plan changes, refunds.

Every operation runs under the store lock, mutates objects in place and emits its events into a
`Batch` in the order Stripe sends them. Hosted pages, REST routes and control endpoints all call
into this module, so a subscription behaves the same whichever way it is driven.

Time: each subscription has its own clock (like a Stripe test clock), `sub_now`. It starts at
real time; `advance` moves it to the end of the period (the renewal) and `move_clock` moves it
forward inside the period, so a plan change can happen "mid-period" and be prorated.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import billing_objects, objects
from .cards import DECLINE_MESSAGES, CardOutcome, card_details, classify, decline_code, normalise
from .errors import StripeError, card_declined
from .events import Batch, changed
from .ids import now
from .invoicing import Charge, Invoicer, discount_amounts, round_half_up
from .periods import add_intervals
from .settings import SandboxSettings
from .store import Store

# Subscription statuses that have ended: nothing left to cancel.
_ENDED = ("canceled", "incomplete_expired")


class PaymentDeclined(Exception):
    """A hosted page must show `message` and change nothing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_card(number: str) -> None:
    """Refuse unusable cards the way Checkout's form does, before anything is created."""
    outcome = classify(number)
    if outcome is CardOutcome.INVALID:
        raise PaymentDeclined("Your card number is invalid.")
    if outcome in (CardOutcome.DECLINED, CardOutcome.INSUFFICIENT_FUNDS):
        raise PaymentDeclined(DECLINE_MESSAGES[decline_code(outcome)])


def money(amount: int, currency: str) -> str:
    symbols = {"usd": "$", "eur": "€", "gbp": "£"}
    sign = "-" if amount < 0 else ""
    if currency in symbols:
        return f"{sign}{symbols[currency]}{abs(amount) / 100:,.2f}"
    return f"{sign}{abs(amount) / 100:,.2f} {currency.upper()}"


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d %b %Y")


def interval_of(p: dict[str, Any]) -> tuple[str, int]:
    rec = p["recurring"]
    return rec["interval"], rec["interval_count"]


@dataclass
class Change:
    """What a price change does, decided before anything is touched (also the preview)."""

    prorations: list[dict[str, Any]]  # new pending invoice items, credit first
    reset_anchor: bool  # an interval change starts a new period now
    invoice_now: bool


class Billing:
    def __init__(self, store: Store, settings: SandboxSettings) -> None:
        self.store = store
        self.settings = settings
        self.invoicer = Invoicer(store, settings)

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

    def new_card(
        self, number: str, cust: dict[str, Any] | None, email: str | None
    ) -> dict[str, Any]:
        """A card payment method for `number`, attached to `cust` when given. The number
        stays private to the sandbox (as Stripe keeps it) and decides how later charges go."""
        check_card(number)
        pm = self.store.put(
            objects.payment_method(cust["id"] if cust else None, card_details(number), email)
        )
        self.store.private_of(pm["id"])["number"] = normalise(number)
        return pm

    def attach_card(self, batch: Batch | None, cust: dict[str, Any], number: str) -> dict[str, Any]:
        """A payment method for `number`, attached and made the customer's default."""
        pm = self.new_card(number, cust, cust["email"])
        before = Store.snapshot(cust)
        cust["invoice_settings"]["default_payment_method"] = pm["id"]
        if batch is not None:
            batch.emit("payment_method.attached", pm)
            batch.emit("customer.updated", cust, changed(before, cust))
        return pm

    def payment_method_for(self, sub: dict[str, Any]) -> dict[str, Any] | None:
        cust = self.store.get("customer", sub["customer"])
        pm_id = sub["default_payment_method"] or cust["invoice_settings"]["default_payment_method"]
        return self.store.maybe("payment_method", pm_id)

    def product_name(self, p: dict[str, Any]) -> str:
        prod = self.store.maybe("product", p["product"])
        return prod["name"] if prod else p["product"]

    # -- coupons -------------------------------------------------------------------------

    def new_discount(
        self,
        cpn: dict[str, Any],
        *,
        customer_id: str | None,
        sub_id: str | None = None,
        session_id: str | None = None,
        invoice_id: str | None = None,
        start: int | None = None,
    ) -> dict[str, Any]:
        start = now() if start is None else start
        end = None
        if cpn["duration"] == "repeating":
            end = add_intervals(start, "month", cpn["duration_in_months"] or 1)
        cpn["times_redeemed"] += 1
        return self.store.put(
            billing_objects.discount(
                cpn=cpn,
                customer_id=customer_id,
                sub_id=sub_id,
                session_id=session_id,
                invoice_id=invoice_id,
                start=start,
                end=end,
            )
        )

    def active_discounts(self, sub: dict[str, Any]) -> list[dict[str, Any]]:
        """The subscription's discounts that still apply to its next invoice: a `once`
        coupon only to the first, a `repeating` one until its end."""
        at = self.sub_now(sub)
        result = []
        for di_id in sub["discounts"]:
            d = self.store.get("discount", di_id)
            cpn = self.store.get("coupon", d["source"]["coupon"])
            if cpn["duration"] == "once" and self.store.private_of(di_id).get("used"):
                continue
            if d["end"] is not None and at >= d["end"]:
                continue
            result.append(d)
        return result

    @staticmethod
    def itemizes_proration_discounts(sub: dict[str, Any]) -> bool:
        mode = sub["billing_mode"]
        return (
            mode["type"] == "flexible"
            and (mode.get("flexible") or {}).get("proration_discounts") == "itemized"
        )

    def _proration_factor(self, sub: dict[str, Any]) -> Decimal:
        """Under `billing_mode.flexible.proration_discounts = included` (the default)
        proration amounts are net of percent-off coupons (amount-off ones are not spread
        over prorations in the sandbox). Under `itemized` they are gross: the coupon's
        share is listed in `discount_amounts` (`_proration_discounts`)."""
        factor = Decimal(1)
        if self.itemizes_proration_discounts(sub):
            return factor
        for d in self.active_discounts(sub):
            cpn = self.store.get("coupon", d["source"]["coupon"])
            if cpn["percent_off"]:
                factor *= 1 - Decimal(str(cpn["percent_off"])) / 100
        return factor

    def _proration_discounts(self, sub: dict[str, Any], amount: int) -> list[dict[str, Any]]:
        """`itemized` proration discounts: each active percent-off discount's share of a
        gross proration amount, signed like it (a credit proration gives back the share
        of the discount its debit had). Empty under `included`."""
        if not self.itemizes_proration_discounts(sub):
            return []
        result = []
        remaining = amount
        for d in self.active_discounts(sub):
            cpn = self.store.get("coupon", d["source"]["coupon"])
            taken = 0
            if cpn["percent_off"]:
                taken = round_half_up(remaining * Decimal(str(cpn["percent_off"])) / 100)
            result.append({"amount": taken, "discount": d["id"]})
            remaining -= taken
        return result

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
        coupons = [self.store.get("coupon", c) for c in private.get("coupons", [])]
        later: list[dict[str, Any]] = []
        if session["mode"] == "subscription":
            if cust is None:
                cust = self.create_customer(batch, email)
            pm = self.attach_card(None, cust, number)
            sub, inv = self._start_subscription(
                batch,
                cust,
                pm,
                p,
                quantity,
                private["subscription_metadata"],
                coupons,
                session["automatic_tax"]["enabled"],
                private.get("billing_mode"),
            )
            session.update(customer=cust["id"], subscription=sub["id"], invoice=inv["id"])
        else:
            invoice_creation = (session["invoice_creation"] or {}).get("enabled")
            if cust is None and invoice_creation:
                # An invoice needs a customer: Checkout creates one "if required".
                cust = self.create_customer(batch, email)
                session["customer"] = cust["id"]
            saving = private.get("setup_future_usage")
            # Checkout attaches the card to the customer only when the session saves it for
            # later (`payment_intent_data[setup_future_usage]`), and leaves the customer's
            # default payment method as it was.
            pm = self.new_card(number, cust if saving else None, cust["email"] if cust else email)
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
            pi["setup_future_usage"] = saving
            ch = self.store.put(objects.charge(pi=pi, pm=pm, succeeded=True, email=email))
            pi.update(status="succeeded", amount_received=pi["amount"], latest_charge=ch["id"])
            session["payment_intent"] = pi["id"]
            batch.emit("payment_intent.succeeded", pi)
            batch.emit("charge.succeeded", ch)
            if invoice_creation and cust is not None:
                later = self._checkout_invoice(session, cust, p, quantity, coupons, pi)
        session.update(
            status="complete",
            payment_status="paid",
            customer_details=objects.customer_details(
                cust["email"] if cust else email, cust["name"] if cust else None
            ),
        )
        batch.emit("checkout.session.completed", session)
        for inv in later:
            assert cust is not None
            self._emit_paid_one_off(batch, inv, cust)
        return session

    def _checkout_invoice(
        self,
        session: dict[str, Any],
        cust: dict[str, Any],
        p: dict[str, Any],
        quantity: int,
        coupons: list[dict[str, Any]],
        pi: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """`invoice_creation[enabled]`: a paid one-off invoice (no subscription parent)
        for a payment-mode session, linked to its payment intent."""
        at = now()
        inv = self.invoicer.new_invoice(cust, None, "manual", at, at, p["currency"])
        data = (session["invoice_creation"] or {}).get("invoice_data") or {}
        inv.update(
            description=data.get("description"),
            footer=data.get("footer"),
            metadata=dict(data.get("metadata") or {}),
        )
        if session["automatic_tax"]["enabled"]:
            inv["automatic_tax"].update(enabled=True, liability={"type": "self"}, status="complete")
        ii = self.store.put(
            billing_objects.invoice_item(
                customer_id=cust["id"],
                sub_id=None,
                item_id=None,
                p=p,
                quantity=quantity,
                amount=p["unit_amount"] * quantity,
                description=self.product_name(p),
                period={"start": at, "end": at},
                proration=False,
                credited=None,
            )
        )
        ii["invoice"] = inv["id"]
        self.invoicer.add_line(
            inv,
            p=p,
            quantity=quantity,
            amount=ii["amount"],
            description=ii["description"],
            period=ii["period"],
            proration=False,
            sub_id=None,
            item_id=None,
            invoice_item_id=ii["id"],
            credited=None,
        )
        discounts = [
            self.new_discount(c, customer_id=cust["id"], session_id=session["id"]) for c in coupons
        ]
        for d in discounts:
            d["invoice"] = inv["id"]
        self.invoicer.apply_discounts(inv, discounts)
        self.store.private_of(inv["id"]).update(
            payment_intent=pi["id"],
            invoice_payment=self.store.put(objects.invoice_payment(inv, pi, False))["id"],
        )
        session["invoice"] = inv["id"]
        return [inv]

    def _emit_paid_one_off(self, batch: Batch, inv: dict[str, Any], cust: dict[str, Any]) -> None:
        self.invoicer.finalize(batch, inv, cust, apply_balance=False)
        inpay = self.store.get(
            "invoice_payment", self.store.private_of(inv["id"])["invoice_payment"]
        )
        inv["attempt_count"] = 1
        inv["attempted"] = True
        self.invoicer.mark_paid(batch, inv, cust, inpay)

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

    # -- subscription clock and periods --------------------------------------------------

    def sub_now(self, sub: dict[str, Any]) -> int:
        return now() + self.store.private_of(sub["id"]).get("offset", 0)

    def move_clock(self, sub: dict[str, Any], seconds: int) -> dict[str, Any]:
        """Let `seconds` pass for this subscription, staying inside its current period
        (the renewal itself is `advance`)."""
        if seconds < 0:
            raise StripeError(400, "seconds must not be negative.", param="seconds")
        end = sub["items"]["data"][0]["current_period_end"]
        target = self.sub_now(sub) + seconds
        if target >= end:
            raise StripeError(
                400,
                "That is at or after the end of the current period; renew with advance.",
                param="seconds",
            )
        self.store.private_of(sub["id"])["offset"] = target - now()
        return {"subscription": sub["id"], "now": target}

    def _period(self, sub_id: str) -> tuple[int, int]:
        private = self.store.private_of(sub_id)
        interval, count, index = private["interval"], private["interval_count"], private["index"]
        start = add_intervals(private["anchor"], interval, count * index)
        return start, add_intervals(private["anchor"], interval, count * (index + 1))

    def _set_anchor(self, sub: dict[str, Any], p: dict[str, Any], anchor: int) -> None:
        interval, count = interval_of(p)
        self.store.private_of(sub["id"]).update(
            anchor=anchor, interval=interval, interval_count=count, index=0
        )
        sub["billing_cycle_anchor"] = anchor

    def _sync_item_period(self, sub: dict[str, Any]) -> None:
        start, end = self._period(sub["id"])
        item = sub["items"]["data"][0]
        item.update(current_period_start=start, current_period_end=end)
        if sub["cancel_at_period_end"]:
            sub["cancel_at"] = end

    def _switch_item(self, sub: dict[str, Any], p: dict[str, Any], quantity: int) -> None:
        item = sub["items"]["data"][0]
        item["price"] = Store.snapshot(p)
        item["plan"] = objects.plan_from_price(p)
        item["quantity"] = quantity
        interval, count = interval_of(p)
        self.store.private_of(sub["id"]).update(interval=interval, interval_count=count)
        self._sync_item_period(sub)

    # -- subscription invoices -----------------------------------------------------------

    def _item_description(self, p: dict[str, Any], quantity: int) -> str:
        interval, count = interval_of(p)
        every = interval if count == 1 else f"{count} {interval}s"
        label = f"{money(p['unit_amount'], p['currency'])} / {every}"
        return f"{quantity} × {self.product_name(p)} (at {label})"  # noqa: RUF001 (Stripe writes a multiplication sign)

    def _bill_item(self, inv: dict[str, Any], sub: dict[str, Any]) -> None:
        """The line for the subscription item's whole current period (billed in advance)."""
        item = sub["items"]["data"][0]
        p = item["price"]
        line = self.invoicer.add_line(
            inv,
            p=p,
            quantity=item["quantity"],
            amount=p["unit_amount"] * item["quantity"],
            description=self._item_description(p, item["quantity"]),
            period={"start": item["current_period_start"], "end": item["current_period_end"]},
            proration=False,
            sub_id=sub["id"],
            item_id=item["id"],
            invoice_item_id=None,
            credited=None,
        )
        self.store.private_of(sub["id"])["debit"] = {"invoice": inv["id"], "lines": [line["id"]]}

    def _sweep(self, inv: dict[str, Any], sub: dict[str, Any]) -> None:
        self.invoicer.sweep_pending(inv, sub["id"])
        for line in inv["lines"]["data"]:
            details = line["parent"]["subscription_item_details"] or {}
            if details.get("proration") and line["amount"] > 0:
                self.store.private_of(sub["id"])["debit"] = {
                    "invoice": inv["id"],
                    "lines": [line["id"]],
                }

    def _close_invoice(
        self,
        batch: Batch,
        inv: dict[str, Any],
        sub: dict[str, Any],
        cust: dict[str, Any],
        off_session: bool,
    ) -> Charge:
        discounts = self.active_discounts(sub)
        self.invoicer.apply_discounts(inv, discounts)
        for d in discounts:
            self.store.private_of(d["id"])["used"] = True
        self.invoicer.finalize(batch, inv, cust)
        return self.invoicer.collect(batch, inv, cust, self.payment_method_for(sub), off_session)

    def _start_subscription(
        self,
        batch: Batch,
        cust: dict[str, Any],
        pm: dict[str, Any],
        p: dict[str, Any],
        quantity: int,
        metadata: dict[str, str],
        coupons: list[dict[str, Any]],
        automatic_tax: bool,
        billing_mode: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        started = now()
        sub = objects.subscription(
            customer_id=cust["id"],
            currency=p["currency"],
            metadata=dict(metadata),
            default_payment_method=pm["id"],
            anchor=started,
            billing_mode=billing_mode,
        )
        sub["automatic_tax"]["enabled"] = automatic_tax
        if automatic_tax:
            sub["automatic_tax"]["liability"] = {"type": "self"}
        self.store.put(sub)
        self._set_anchor(sub, p, started)
        start, end = self._period(sub["id"])
        item = objects.subscription_item(sub["id"], Store.snapshot(p), quantity, start, end)
        sub["items"]["data"] = [item]
        sub["discounts"] = [
            self.new_discount(c, customer_id=cust["id"], sub_id=sub["id"], start=started)["id"]
            for c in coupons
        ]
        inv = self.invoicer.new_invoice(
            cust, sub, "subscription_create", started, started, p["currency"]
        )
        self._bill_item(inv, sub)
        sub["latest_invoice"] = inv["id"]
        batch.emit("customer.subscription.created", sub)
        self._close_invoice(batch, inv, sub, cust, off_session=False)
        return sub, inv

    # -- plan changes --------------------------------------------------------------------

    def plan_change(
        self,
        sub: dict[str, Any],
        new_price: dict[str, Any],
        quantity: int,
        behavior: str,
        at: int | None = None,
    ) -> Change:
        """Stripe's prorations, by the second: the unused time of the old price as a credit,
        the remaining time of the new one as a debit, both over [at, period end). An
        interval change restarts the period now and bills it in full (minus the credit)."""
        item = sub["items"]["data"][0]
        old, old_qty = item["price"], item["quantity"]
        start, end = item["current_period_start"], item["current_period_end"]
        at = min(max(self.sub_now(sub) if at is None else at, start), end)
        reset = interval_of(old) != interval_of(new_price)
        prorations: list[dict[str, Any]] = []
        if behavior != "none" and end > start:
            factor = self._proration_factor(sub) * Decimal(end - at) / Decimal(end - start)
            debit = self.store.private_of(sub["id"]).get("debit") or {}
            credit = -round_half_up(old["unit_amount"] * old_qty * factor)
            prorations.append(
                self._proration_spec(
                    old,
                    old_qty,
                    credit,
                    f"Unused time on {self._qty(old_qty)}{self.product_name(old)} after {_day(at)}",
                    {"start": at, "end": end},
                    billing_objects.credited_items(debit.get("invoice"), debit.get("lines", [])),
                    self._proration_discounts(sub, credit),
                )
            )
            if not reset:
                remaining = round_half_up(new_price["unit_amount"] * quantity * factor)
                prorations.append(
                    self._proration_spec(
                        new_price,
                        quantity,
                        remaining,
                        f"Remaining time on {self._qty(quantity)}{self.product_name(new_price)} "
                        f"after {_day(at)}",
                        {"start": at, "end": end},
                        None,
                        self._proration_discounts(sub, remaining),
                    )
                )
        return Change(prorations, reset, reset or behavior == "always_invoice")

    @staticmethod
    def _qty(quantity: int) -> str:
        return "" if quantity == 1 else f"{quantity} × "  # noqa: RUF001 (Stripe writes a multiplication sign)

    @staticmethod
    def _proration_spec(
        p: dict[str, Any],
        quantity: int,
        amount: int,
        description: str,
        period: dict[str, int],
        credited: dict[str, Any] | None,
        discounts: list[dict[str, Any]],
    ) -> dict[str, Any]:
        return {
            "p": p,
            "quantity": quantity,
            "amount": amount,
            "description": description,
            "period": period,
            "credited": credited,
            "discount_amounts": discounts,
        }

    def preview_due(
        self, sub: dict[str, Any], change: Change, new_price: dict[str, Any], quantity: int
    ) -> int | None:
        """What the customer would pay now for `change` (None: nothing is invoiced now)."""
        if not change.invoice_now:
            return None
        amounts = [ii["net_amount"] for ii in self.invoicer.pending_items(sub["id"])]
        amounts += [
            spec["amount"] - sum(d["amount"] for d in spec["discount_amounts"])
            for spec in change.prorations
        ]
        discountable = [False] * len(amounts)
        if change.reset_anchor:
            amounts.append(new_price["unit_amount"] * quantity)
            discountable.append(True)
        coupons = [
            self.store.get("coupon", d["source"]["coupon"]) for d in self.active_discounts(sub)
        ]
        taken = sum(sum(t) for t in discount_amounts(amounts, discountable, coupons))
        cust = self.store.get("customer", sub["customer"])
        return max(0, sum(amounts) - taken + cust["balance"])

    def _apply_change(
        self,
        batch: Batch,
        sub: dict[str, Any],
        new_price: dict[str, Any],
        quantity: int,
        behavior: str,
        at: int | None,
        payment_behavior: str,
    ) -> tuple[Change, list[dict[str, Any]]]:
        change = self.plan_change(sub, new_price, quantity, behavior, at)
        due = self.preview_due(sub, change, new_price, quantity)
        if due and payment_behavior == "error_if_incomplete":
            pm = self.payment_method_for(sub)
            result = self.invoicer.card_result(pm, off_session=True)
            if result is Charge.DECLINED:
                raise card_declined(
                    decline_code(self.invoicer.card_outcome(pm)) if pm else "generic_decline"
                )
            if result is Charge.ACTION:
                raise card_declined("authentication_required")
        item = sub["items"]["data"][0]
        items = [
            self.store.put(
                billing_objects.invoice_item(
                    customer_id=sub["customer"],
                    sub_id=sub["id"],
                    item_id=item["id"],
                    p=spec["p"],
                    quantity=spec["quantity"],
                    amount=spec["amount"],
                    description=spec["description"],
                    period=spec["period"],
                    proration=True,
                    credited=spec["credited"],
                    discount_amounts=spec["discount_amounts"],
                )
            )
            for spec in change.prorations
        ]
        self._switch_item(sub, new_price, quantity)
        if change.reset_anchor:
            self._set_anchor(sub, new_price, self.sub_now(sub))
            self._sync_item_period(sub)
        return change, items

    def update_subscription(
        self,
        batch: Batch,
        sub: dict[str, Any],
        *,
        cancel_at_period_end: bool | None = None,
        new_price: dict[str, Any] | None = None,
        quantity: int | None = None,
        proration_behavior: str = "create_prorations",
        proration_date: int | None = None,
        payment_behavior: str = "allow_incomplete",
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Apply a subscription update and emit `customer.subscription.updated`.

        A price or quantity change takes effect now. `create_prorations` (the default) leaves
        the prorations as pending invoice items for the next invoice; `always_invoice`
        invoices them at once; `none` creates none. Changing the interval always invoices
        now (a new period starts). A failed payment under `allow_incomplete` keeps the change
        and leaves the invoice open (subscription `past_due`); `error_if_incomplete`
        answers 402 and changes nothing.
        """
        if sub["status"] in _ENDED:
            raise StripeError(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        if cancel_at_period_end is not None and sub["schedule"]:
            raise StripeError(
                400,
                f"The subscription is managed by the subscription schedule `{sub['schedule']}`, "
                "and updating any cancelation behavior directly is not allowed. Please update "
                "the schedule instead.",
            )
        before = Store.snapshot(sub)
        item = sub["items"]["data"][0]
        change: Change | None = None
        new_items: list[dict[str, Any]] = []
        target_price = new_price or item["price"]
        target_qty = item["quantity"] if quantity is None else quantity
        if target_price["id"] != item["price"]["id"] or target_qty != item["quantity"]:
            change, new_items = self._apply_change(
                batch,
                sub,
                self.store.get("price", target_price["id"]),
                target_qty,
                proration_behavior,
                proration_date,
                payment_behavior,
            )
        if metadata is not None:
            sub["metadata"] = metadata
        if cancel_at_period_end is not None:
            item = sub["items"]["data"][0]
            sub["cancel_at_period_end"] = cancel_at_period_end
            if cancel_at_period_end:
                sub.update(cancel_at=item["current_period_end"], canceled_at=now())
                sub["cancellation_details"]["reason"] = "cancellation_requested"
            else:
                sub.update(cancel_at=None, canceled_at=None)
                sub["cancellation_details"]["reason"] = None
        later = Batch(batch.store, batch.cause, batch.pending_webhooks)
        if change is not None and change.invoice_now:
            cust = self.store.get("customer", sub["customer"])
            at = self.sub_now(sub)
            inv = self.invoicer.new_invoice(
                cust, sub, "subscription_update", at, at, sub["currency"]
            )
            self._sweep(inv, sub)
            if change.reset_anchor:
                self._bill_item(inv, sub)
            sub["latest_invoice"] = inv["id"]
            if self._close_invoice(later, inv, sub, cust, off_session=True) is not Charge.OK:
                sub["status"] = "past_due"
        previous = changed(before, sub)
        if previous:
            batch.emit("customer.subscription.updated", sub, previous)
        for ii in new_items:
            batch.emit("invoiceitem.created", ii)
        batch.events.extend(later.events)
        return sub

    # -- schedules (changes at the end of the period) ------------------------------------

    def schedule_change(
        self,
        batch: Batch,
        sub: dict[str, Any],
        new_price: dict[str, Any],
        quantity: int,
        proration_behavior: str,
    ) -> dict[str, Any]:
        """What the portal does for a change under `schedule_at_period_end`: a subscription
        schedule whose first phase is the current price until the period ends and whose
        second phase is the new price (released after that phase, as the portal does)."""
        before = Store.snapshot(sub)
        item = sub["items"]["data"][0]
        start, end = item["current_period_start"], item["current_period_end"]
        interval, count = interval_of(new_price)
        phases = [
            billing_objects.schedule_phase(
                item["price"], item["quantity"], start, end, proration_behavior
            ),
            billing_objects.schedule_phase(
                new_price,
                quantity,
                end,
                add_intervals(end, interval, count),
                proration_behavior,
            ),
        ]
        existing = self.store.maybe("subscription_schedule", sub["schedule"])
        if existing is not None:
            previous_phases = Store.snapshot(existing)
            existing.update(phases=phases)
            batch.emit(
                "subscription_schedule.updated", existing, changed(previous_phases, existing)
            )
            return existing
        sched = self.store.put(billing_objects.subscription_schedule(sub, phases, phases[0]))
        sub["schedule"] = sched["id"]
        batch.emit("subscription_schedule.created", sched)
        batch.emit("customer.subscription.updated", sub, changed(before, sub))
        return sched

    def release_schedule(self, batch: Batch, sched: dict[str, Any]) -> dict[str, Any]:
        if sched["status"] not in ("active", "not_started"):
            raise StripeError(
                400,
                f"You cannot release a subscription schedule that is currently in the "
                f"`{sched['status']}` status. It must be in one of the following statuses: "
                "`not_started`, `active`.",
            )
        sub = self.store.get("subscription", sched["subscription"])
        before = Store.snapshot(sub)
        sched.update(status="released", released_at=now(), released_subscription=sub["id"])
        sub["schedule"] = None
        batch.emit("subscription_schedule.released", sched)
        batch.emit("customer.subscription.updated", sub, changed(before, sub))
        return sched

    def _run_schedule(self, batch: Batch, sub: dict[str, Any], renewal: int) -> None:
        """At a renewal: start the schedule's next phase, or release a finished schedule."""
        sched = self.store.maybe("subscription_schedule", sub["schedule"])
        if sched is None or sched["status"] != "active":
            return
        upcoming = [ph for ph in sched["phases"] if ph["start_date"] == renewal]
        if upcoming:
            phase = upcoming[0]
            before = Store.snapshot(sched)
            new_price = self.store.get("price", phase["items"][0]["price"])
            if interval_of(new_price) != interval_of(sub["items"]["data"][0]["price"]):
                self._set_anchor(sub, new_price, renewal)
            self._switch_item(sub, new_price, phase["items"][0]["quantity"])
            sched["current_phase"] = {"end_date": phase["end_date"], "start_date": renewal}
            batch.emit("subscription_schedule.updated", sched, changed(before, sched))
        elif sched["phases"][-1]["end_date"] <= renewal:
            sched.update(status="released", released_at=now(), released_subscription=sub["id"])
            sub["schedule"] = None
            batch.emit("subscription_schedule.released", sched)

    # -- renewals, cancellation, cards ---------------------------------------------------

    def cancel_now(self, batch: Batch, sub: dict[str, Any]) -> dict[str, Any]:
        if sub["status"] == "canceled":
            raise StripeError(
                404, f"No such subscription: '{sub['id']}'", param="id", code="resource_missing"
            )
        ended = now()
        sched = self.store.maybe("subscription_schedule", sub["schedule"])
        if sched is not None and sched["status"] == "active":
            sched.update(status="canceled", canceled_at=ended)
        sub.update(status="canceled", canceled_at=sub["canceled_at"] or ended, ended_at=ended)
        sub["cancellation_details"]["reason"] = "cancellation_requested"
        batch.emit("customer.subscription.deleted", sub)
        return sub

    def advance(self, batch: Batch, sub: dict[str, Any]) -> dict[str, Any]:
        """Move a subscription to the end of its period and renew it, as Stripe would:
        a scheduled change starts, pending prorations are swept into the renewal invoice
        (first), then the item's new period.

        Returns the renewal invoice, or the subscription when it ended instead.
        """
        if sub["status"] == "canceled":
            raise StripeError(400, f"Subscription {sub['id']} is canceled.")
        item = sub["items"]["data"][0]
        previous_start, previous_end = item["current_period_start"], item["current_period_end"]
        self.store.private_of(sub["id"])["offset"] = previous_end - now()
        if sub["cancel_at_period_end"]:
            sub.update(status="canceled", ended_at=previous_end)
            batch.emit("customer.subscription.deleted", sub)
            return sub
        before = Store.snapshot(sub)
        self.store.private_of(sub["id"])["index"] += 1
        self._sync_item_period(sub)
        self._run_schedule(batch, sub, previous_end)
        cust = self.store.get("customer", sub["customer"])
        inv = self.invoicer.new_invoice(
            cust, sub, "subscription_cycle", previous_start, previous_end, sub["currency"]
        )
        self._sweep(inv, sub)
        self._bill_item(inv, sub)
        sub["latest_invoice"] = inv["id"]
        ok = self._close_invoice(batch, inv, sub, cust, off_session=True) is Charge.OK
        sub["status"] = "active" if ok else "past_due"
        batch.emit("customer.subscription.updated", sub, changed(before, sub))
        return inv

    def update_card(self, batch: Batch, cust: dict[str, Any], number: str) -> dict[str, Any]:
        """Portal "Update card": new default card; past-due invoices are retried at once,
        on-session (the customer is there to authenticate)."""
        pm = self.attach_card(batch, cust, number)
        for sub in self.store.newest_first("subscription"):
            if sub["customer"] != cust["id"] or sub["status"] == "canceled":
                continue
            before = Store.snapshot(sub)
            sub["default_payment_method"] = pm["id"]
            if sub["status"] == "past_due":
                inv = self.store.get("invoice", sub["latest_invoice"])
                if (
                    inv["status"] == "open"
                    and self.invoicer.collect(batch, inv, cust, pm, off_session=False) is Charge.OK
                ):
                    sub["status"] = "active"
            previous = changed(before, sub)
            if previous:
                batch.emit("customer.subscription.updated", sub, previous)
        return pm

    def pay_invoice(
        self,
        batch: Batch,
        inv: dict[str, Any],
        number: str | None,
        off_session: bool,
    ) -> dict[str, Any]:
        """Pay an open invoice: on its hosted page (on-session: the customer is there to
        authenticate, with the saved card or a new one) or `POST /v1/invoices/{id}/pay`."""
        if inv["status"] != "open":
            raise StripeError(400, "Invoice is already paid.", code="invoice_not_open")
        cust = self.store.get("customer", inv["customer"])
        sub_id = ((inv["parent"] or {}).get("subscription_details") or {}).get("subscription")
        sub = self.store.maybe("subscription", sub_id)
        pm: dict[str, Any] | None
        if number:
            pm = self.attach_card(batch, cust, number)
        else:
            pi = self.store.maybe(
                "payment_intent", self.store.private_of(inv["id"]).get("payment_intent")
            )
            pm_id = (pi or {}).get("payment_method") or cust["invoice_settings"][
                "default_payment_method"
            ]
            pm = self.store.maybe("payment_method", pm_id)
        if pm is None:
            raise PaymentDeclined("Add a card to pay this invoice.")
        before = Store.snapshot(sub) if sub else None
        result = self.invoicer.collect(batch, inv, cust, pm, off_session=off_session)
        if result is Charge.DECLINED:
            raise PaymentDeclined("Your card was declined.")
        if sub is not None and before is not None and result is Charge.OK:
            if number:
                sub["default_payment_method"] = pm["id"]
            if sub["status"] == "past_due" and sub["latest_invoice"] == inv["id"]:
                sub["status"] = "active"
            previous = changed(before, sub)
            if previous:
                batch.emit("customer.subscription.updated", sub, previous)
        return inv

    # -- refunds -------------------------------------------------------------------------

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
                f"Refund amount ({money(amount, ch['currency'])}) is greater than unrefunded "
                f"amount on charge ({money(remaining, ch['currency'])})",
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
