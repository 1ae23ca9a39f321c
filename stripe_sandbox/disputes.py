"""Disputes: inquiries and chargebacks, their status changes and the money they move.

Statuses follow Stripe: an inquiry (`warning_needs_response` → `warning_under_review` →
`warning_closed`, or escalated to a chargeback) moves no money; a chargeback
(`needs_response` → `under_review` → `won` | `lost`) withdraws the disputed amount when it
opens (`charge.dispute.funds_withdrawn`) and reinstates it when won
(`charge.dispute.funds_reinstated`). `prevented` (Visa RDR: stopped before it became a
chargeback) closes a dispute without withdrawing anything. Every status change that does not
close the dispute sends `charge.dispute.updated`; closing sends `charge.dispute.closed`.
"""

from typing import Any

from . import objects
from .errors import StripeError
from .events import Batch, changed
from .ids import new_id, now
from .store import Store

OPEN = (
    "warning_needs_response",
    "warning_under_review",
    "needs_response",
    "under_review",
    "appeal_needs_response",
    "appeal_under_review",
)
CLOSED = ("warning_closed", "won", "lost", "prevented")
_INQUIRY = ("warning_needs_response", "warning_under_review")
_CHARGEBACK = ("needs_response", "under_review", "appeal_needs_response", "appeal_under_review")
# Which statuses each status can move to.
_MOVES = {
    "warning_needs_response": {
        "warning_under_review",
        "warning_closed",
        "needs_response",
        "prevented",
    },
    "warning_under_review": {"warning_closed", "needs_response", "prevented"},
    "needs_response": {"under_review", "won", "lost"},
    "under_review": {"won", "lost"},
    "lost": {"appeal_needs_response"},
    "appeal_needs_response": {"appeal_under_review", "won", "lost"},
    "appeal_under_review": {"won", "lost"},
}
START = ("needs_response", "warning_needs_response", "prevented")


def _balance_transaction(dp: dict[str, Any], amount: int, kind: str) -> dict[str, Any]:
    created = now()
    return {
        "id": new_id("txn_"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created,
        "balance_type": "payments",
        "created": created,
        "currency": dp["currency"],
        "description": f"Chargeback {kind} for {dp['charge']}",
        "exchange_rate": None,
        "fee": 1500 if amount < 0 else -1500,
        "fee_details": [],
        "net": amount - 1500 if amount < 0 else amount + 1500,
        "reporting_category": "dispute" if amount < 0 else "dispute_reversal",
        "source": dp["id"],
        "status": "available",
        "type": "adjustment",
    }


class Disputes:
    def __init__(self, store: Store) -> None:
        self.store = store

    def open(self, batch: Batch, ch: dict[str, Any], reason: str, status: str) -> dict[str, Any]:
        """A new dispute on a charge: a chargeback (`needs_response`, funds withdrawn), an
        inquiry (`warning_needs_response`) or one `prevented` at once."""
        if status not in START:
            raise StripeError(400, f"status must be one of {', '.join(START)}", param="status")
        if ch["status"] != "succeeded":
            raise StripeError(400, f"Charge {ch['id']} has not succeeded; it cannot be disputed.")
        dp = objects.dispute(ch, reason)
        if status == "warning_needs_response":
            dp.update(status=status, is_charge_refundable=True)
            dp["payment_method_details"]["card"]["case_type"] = "inquiry"
        else:
            dp["status"] = status
        self.store.put(dp)
        ch["disputed"] = True
        batch.emit("charge.dispute.created", dp)
        if status == "needs_response":
            self._withdraw(batch, dp)
        if status == "prevented":
            batch.emit("charge.dispute.closed", dp)
        return dp

    def _withdraw(self, batch: Batch, dp: dict[str, Any]) -> None:
        dp["balance_transactions"].append(_balance_transaction(dp, -dp["amount"], "withdrawal"))
        dp["is_charge_refundable"] = False
        batch.emit("charge.dispute.funds_withdrawn", dp)

    def move(self, batch: Batch, dp: dict[str, Any], status: str) -> dict[str, Any]:
        """Change a dispute's status as the card network and Stripe would."""
        allowed = _MOVES.get(dp["status"], set())
        if status not in allowed:
            raise StripeError(
                400,
                f"Dispute {dp['id']} is `{dp['status']}`; it can move to "
                f"{', '.join(sorted(allowed)) or 'nothing'}, not `{status}`.",
                param="status",
            )
        before = Store.snapshot(dp)
        escalated = dp["status"] in _INQUIRY and status == "needs_response"
        dp["status"] = status
        if status in ("under_review", "warning_under_review", "appeal_under_review"):
            dp["evidence_details"]["has_evidence"] = True
            dp["evidence_details"]["submission_count"] += 1
        if escalated:
            dp["payment_method_details"]["card"]["case_type"] = "chargeback"
        if status in CLOSED:
            batch.emit("charge.dispute.closed", dp, changed(before, dp))
        else:
            batch.emit("charge.dispute.updated", dp, changed(before, dp))
        if escalated:
            self._withdraw(batch, dp)
        if status == "won" and before["status"] in _CHARGEBACK:
            dp["balance_transactions"].append(_balance_transaction(dp, dp["amount"], "reversal"))
            batch.emit("charge.dispute.funds_reinstated", dp)
        return dp

    def update(
        self, batch: Batch, dp: dict[str, Any], evidence: dict[str, Any] | None, submit: bool
    ) -> dict[str, Any]:
        """`POST /v1/disputes/{id}`: store evidence; `submit=true` sends it (under review)."""
        if dp["status"] in CLOSED:
            raise StripeError(400, f"Dispute {dp['id']} is closed; it cannot be updated.")
        before = Store.snapshot(dp)
        for key, value in (evidence or {}).items():
            if key in dp["evidence"]:
                dp["evidence"][key] = value
        if submit:
            target = {
                "warning_needs_response": "warning_under_review",
                "needs_response": "under_review",
                "appeal_needs_response": "appeal_under_review",
            }.get(dp["status"])
            if target:
                return self.move(batch, dp, target)
        previous = changed(before, dp)
        if previous:
            batch.emit("charge.dispute.updated", dp, previous)
        return dp

    def accept(self, batch: Batch, dp: dict[str, Any]) -> dict[str, Any]:
        """`POST /v1/disputes/{id}/close`: the merchant accepts the chargeback (lost)."""
        if dp["status"] in _INQUIRY:
            before = Store.snapshot(dp)
            dp["status"] = "warning_closed"
            batch.emit("charge.dispute.closed", dp, changed(before, dp))
            return dp
        if dp["status"] not in ("needs_response", "under_review"):
            raise StripeError(400, f"Dispute {dp['id']} is already closed.")
        return self.move(batch, dp, "lost")
