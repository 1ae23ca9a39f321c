"""Invoices: lines, pending invoice items, coupons, customer balance, finalization and payment.

An invoice is built as a draft (lines first, then totals), finalized (number, hosted page,
customer balance applied) and collected: a $0 amount due is paid at once without a payment;
anything else is charged to the card, which can succeed, be declined, or need the
customer's authentication (3-D Secure), as with Stripe.
"""

import enum
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from . import billing_objects, objects
from .cards import DECLINE_MESSAGES, CardOutcome, classify, decline_code
from .events import Batch, changed
from .ids import new_id, now
from .settings import SandboxSettings
from .store import Store


class Charge(enum.Enum):
    OK = "ok"
    DECLINED = "declined"
    ACTION = "action"  # the card needs the customer's authentication (3-D Secure)


def round_half_up(value: Decimal | float) -> int:
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def discount_amounts(
    amounts: list[int], discountable: list[bool], coupons: list[dict[str, Any]]
) -> list[list[int]]:
    """For each coupon, the amount it takes off each line: percent_off per discountable
    line; amount_off spread over discountable lines in proportion (never below zero)."""
    remaining = [a if d and a > 0 else 0 for a, d in zip(amounts, discountable, strict=True)]
    result = []
    for cpn in coupons:
        taken = [0] * len(amounts)
        if cpn.get("percent_off"):
            pct = Decimal(str(cpn["percent_off"])) / 100
            taken = [min(r, round_half_up(r * pct)) for r in remaining]
        elif cpn.get("amount_off"):
            base = sum(remaining)
            budget = min(base, cpn["amount_off"])
            if base > 0:
                taken = [budget * r // base for r in remaining]
                # Give the rounding remainder to the first lines that can take it.
                for i, r in enumerate(remaining):
                    extra = min(r - taken[i], budget - sum(taken))
                    if extra > 0:
                        taken[i] += extra
        remaining = [r - t for r, t in zip(remaining, taken, strict=True)]
        result.append(taken)
    return result


class Invoicer:
    def __init__(self, store: Store, settings: SandboxSettings) -> None:
        self.store = store
        self.settings = settings

    # -- cards -----------------------------------------------------------------------------

    def card_outcome(self, pm: dict[str, Any]) -> CardOutcome:
        """How the saved card behaves: by the test card number it was saved with (kept
        privately, as Stripe keeps the number; a control can change it)."""
        return classify(self.store.private_of(pm["id"])["number"])

    def card_result(self, pm: dict[str, Any] | None, off_session: bool) -> Charge:
        if pm is None:
            return Charge.DECLINED
        outcome = self.card_outcome(pm)
        if outcome is CardOutcome.ATTACH_THEN_FAIL:
            return Charge.DECLINED if off_session else Charge.OK
        if outcome is CardOutcome.AUTHENTICATE:
            return Charge.ACTION if off_session else Charge.OK
        return Charge.OK if outcome is CardOutcome.OK else Charge.DECLINED

    # -- drafts ----------------------------------------------------------------------------

    def new_invoice(
        self,
        cust: dict[str, Any],
        sub: dict[str, Any] | None,
        reason: str,
        period_start: int,
        period_end: int,
        currency: str,
    ) -> dict[str, Any]:
        inv = objects.invoice(
            cust=cust,
            sub=sub,
            currency=currency,
            billing_reason=reason,
            period_start=period_start,
            period_end=period_end,
            account_name=self.settings.business_name,
        )
        if sub is not None and sub["automatic_tax"]["enabled"]:
            inv["automatic_tax"].update(enabled=True, liability={"type": "self"}, status="complete")
        return self.store.put(inv)

    def add_line(
        self,
        inv: dict[str, Any],
        discount_amounts: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """`discount_amounts`: an itemized proration's own discounts, kept by
        `apply_discounts` (prorations are not `discountable`)."""
        line = billing_objects.invoice_line(invoice_id=inv["id"], **fields)
        inv["lines"]["data"].append(line)
        if discount_amounts:
            self.store.private_of(line["id"])["discount_amounts"] = [
                dict(d) for d in discount_amounts
            ]
        return line

    def pending_items(self, sub_id: str) -> list[dict[str, Any]]:
        """The subscription's invoice items not yet on an invoice, oldest first."""
        return [
            ii
            for ii in self.store.objects["invoiceitem"].values()
            if ii["invoice"] is None
            and (ii["parent"] or {}).get("subscription_details", {}).get("subscription") == sub_id
        ]

    def sweep_pending(self, inv: dict[str, Any], sub_id: str) -> None:
        """Pending items (prorations) become the invoice's first lines, as on Stripe."""
        for ii in self.pending_items(sub_id):
            p = self.store.get("price", ii["pricing"]["price_details"]["price"])
            details = ii["parent"]["subscription_details"]
            self.add_line(
                inv,
                p=p,
                quantity=ii["quantity"],
                amount=ii["amount"],
                description=ii["description"],
                period=ii["period"],
                proration=ii["proration"],
                sub_id=details["subscription"],
                item_id=details["subscription_item"],
                invoice_item_id=ii["id"],
                credited=ii["proration_details"]["credited_items"],
                discount_amounts=ii["proration_details"].get("discount_amounts"),
            )
            ii["invoice"] = inv["id"]

    def apply_discounts(self, inv: dict[str, Any], discounts: list[dict[str, Any]]) -> None:
        """Fill in discount amounts and every total of a draft. Discountable lines share
        the invoice's `discounts`; an itemized proration line keeps the amounts it was
        created with (signed: a credit proration's is negative), and those count in
        the invoice's totals too."""
        lines = inv["lines"]["data"]
        amounts = [line["amount"] for line in lines]
        coupons = [self.store.get("coupon", d["source"]["coupon"]) for d in discounts]
        split = discount_amounts(amounts, [line["discountable"] for line in lines], coupons)
        fixed = [
            {
                d["discount"]: d["amount"]
                for d in self.store.private_of(line["id"]).get("discount_amounts", [])
            }
            for line in lines
        ]
        order = [d["id"] for d in discounts]
        for own in fixed:
            order += [di_id for di_id in own if di_id not in order]
        for line in lines:
            line["discount_amounts"] = []
            line["discounts"] = []
        by_id = {d["id"]: taken for d, taken in zip(discounts, split, strict=True)}
        totals = []
        for di_id in order:
            taken = by_id.get(di_id, [0] * len(lines))
            amounts_here = [own.get(di_id, 0) + t for own, t in zip(fixed, taken, strict=True)]
            for line, own, amount in zip(lines, fixed, amounts_here, strict=True):
                if di_id in by_id or di_id in own:
                    line["discount_amounts"].append({"amount": amount, "discount": di_id})
                    line["discounts"].append(di_id)
            totals.append({"amount": sum(amounts_here), "discount": di_id})
        subtotal = sum(amounts)
        total = subtotal - sum(t["amount"] for t in totals)
        inv.update(
            discounts=order,
            total_discount_amounts=totals,
            subtotal=subtotal,
            subtotal_excluding_tax=subtotal,
            total=total,
            total_excluding_tax=total,
            amount_due=max(0, total),
            amount_remaining=max(0, total),
        )
        if len(lines) > 10:
            inv["lines"]["has_more"] = True

    # -- finalize and collect --------------------------------------------------------------

    def finalize(
        self, batch: Batch, inv: dict[str, Any], cust: dict[str, Any], apply_balance: bool = True
    ) -> None:
        """Number the invoice, give it a hosted page and apply the customer balance: a
        credit (negative balance) lowers the amount due, a negative total adds to it.
        (Checkout's post-purchase invoice was paid in full already: no balance applied.)"""
        batch.emit("invoice.created", self.shown(inv))
        finalized = now()
        sequence = cust["next_invoice_sequence"]
        cust["next_invoice_sequence"] = sequence + 1
        token = new_id("test_", 40)
        self.store.private_of("hosted:" + token)["invoice"] = inv["id"]
        self.store.private_of(inv["id"])["token"] = token
        starting = cust["balance"] if apply_balance else 0
        combined = inv["total"] + starting
        inv.update(
            status="open",
            number=f"{cust['invoice_prefix']}-{sequence:04d}",
            effective_at=finalized,
            webhooks_delivered_at=finalized,
            hosted_invoice_url=self.settings.link(f"/invoice/{token}"),
            starting_balance=starting,
            ending_balance=min(0, combined),
            amount_due=max(0, combined),
            amount_remaining=max(0, combined),
        )
        inv["status_transitions"]["finalized_at"] = finalized
        batch.emit("invoice.finalized", self.shown(inv))
        ending = inv["ending_balance"]
        if apply_balance and ending != starting:
            before = Store.snapshot(cust)
            cust["balance"] = ending
            self.store.put(
                billing_objects.balance_transaction(
                    customer_id=cust["id"],
                    amount=ending - starting,
                    ending=ending,
                    currency=inv["currency"],
                    invoice_id=inv["id"],
                    kind="applied_to_invoice",
                )
            )
            batch.emit("customer.updated", cust, changed(before, cust))

    def shown(self, inv: dict[str, Any]) -> dict[str, Any]:
        """The invoice as the API shows it: at most 10 embedded lines (`has_more` beyond)."""
        if len(inv["lines"]["data"]) <= 10:
            return inv
        return {**inv, "lines": {**inv["lines"], "data": inv["lines"]["data"][:10]}}

    def collect(
        self,
        batch: Batch,
        inv: dict[str, Any],
        cust: dict[str, Any],
        pm: dict[str, Any] | None,
        off_session: bool,
        description: str | None = None,
    ) -> Charge:
        """Pay an open invoice: nothing to charge marks it paid; otherwise a payment
        intent, a charge and the invoice_payment linking them (reused across retries)."""
        if inv["amount_due"] == 0:
            self.mark_paid(batch, inv, cust)
            return Charge.OK
        private = self.store.private_of(inv["id"])
        pi = self.store.maybe("payment_intent", private.get("payment_intent"))
        if pi is None:
            pi = self.store.put(
                objects.payment_intent(
                    amount=inv["amount_due"],
                    currency=inv["currency"],
                    customer_id=cust["id"],
                    payment_method_id=pm["id"] if pm else None,
                    description=description or _PI_DESCRIPTIONS.get(inv["billing_reason"]),
                    metadata={},
                )
            )
            if inv["billing_reason"] == "subscription_create":
                # Checkout saves a subscription's card for its renewals.
                pi["setup_future_usage"] = "off_session"
            private["payment_intent"] = pi["id"]
            inpay = objects.invoice_payment(inv, pi, False)
            private["invoice_payment"] = self.store.put(inpay)["id"]
        result = self.card_result(pm, off_session)
        declined_for = decline_code(self.card_outcome(pm)) if pm else "generic_decline"
        inv["attempt_count"] += 1
        inv["attempted"] = True
        if pm is not None and result is not Charge.ACTION:
            ch = self.store.put(
                objects.charge(
                    pi=pi,
                    pm=pm,
                    succeeded=result is Charge.OK,
                    email=cust["email"],
                    decline_code=declined_for,
                )
            )
            pi.update(latest_charge=ch["id"], payment_method=pm["id"])
        if result is Charge.OK:
            pi.update(
                status="succeeded",
                amount_received=pi["amount"],
                last_payment_error=None,
                next_action=None,
            )
            inpay = self.store.get("invoice_payment", private["invoice_payment"])
            self.mark_paid(batch, inv, cust, inpay)
            return result
        inv["next_payment_attempt"] = now() + 3 * 24 * 3600
        cust["delinquent"] = True
        if result is Charge.ACTION:
            assert pm is not None
            pi.update(
                status="requires_action",
                payment_method=pm["id"],
                next_action={
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": ""},
                },
                last_payment_error={
                    "type": "card_error",
                    "code": "authentication_required",
                    "decline_code": "authentication_required",
                    "message": DECLINE_MESSAGES["authentication_required"],
                    "payment_method": pm,
                },
            )
            batch.emit("invoice.payment_failed", inv)
            batch.emit("invoice.payment_action_required", inv)
            return result
        pi.update(
            status="requires_payment_method",
            last_payment_error={
                "type": "card_error",
                "code": "card_declined",
                "decline_code": declined_for,
                "message": DECLINE_MESSAGES[declined_for],
                "payment_method": pm,
            },
        )
        batch.emit("invoice.payment_failed", inv)
        return result

    def mark_paid(
        self,
        batch: Batch,
        inv: dict[str, Any],
        cust: dict[str, Any],
        inpay: dict[str, Any] | None = None,
    ) -> None:
        paid_at = now()
        inv.update(
            status="paid",
            amount_paid=inv["amount_due"],
            amount_remaining=0,
            next_payment_attempt=None,
        )
        inv["status_transitions"]["paid_at"] = paid_at
        if inpay is not None:
            inpay.update(status="paid", amount_paid=inpay["amount_requested"])
            inpay["status_transitions"]["paid_at"] = paid_at
        cust["delinquent"] = False
        batch.emit("invoice.paid", self.shown(inv))
        batch.emit("invoice.payment_succeeded", self.shown(inv))


_PI_DESCRIPTIONS = {
    "subscription_create": "Subscription creation",
    "subscription_update": "Subscription update",
    "subscription_cycle": "Subscription cycle",
}
