"""In-memory state of one sandbox: Stripe objects by kind, private bookkeeping, idempotency."""

import copy
import threading
from typing import Any

from .errors import missing

# Human names used in Stripe's "No such ..." messages.
KIND_NAMES = {
    "customer": "customer",
    "product": "product",
    "price": "price",
    "checkout.session": "checkout.session",
    "subscription": "subscription",
    "invoice": "invoice",
    "invoice_payment": "invoice_payment",
    "payment_intent": "payment_intent",
    "charge": "charge",
    "refund": "refund",
    "dispute": "dispute",
    "billing_portal.session": "billing_portal.session",
    "payment_method": "PaymentMethod",
    "event": "event",
    "invoiceitem": "invoiceitem",
    "coupon": "coupon",
    "discount": "discount",
    "customer_balance_transaction": "customer_balance_transaction",
    "subscription_schedule": "subscription_schedule",
    "billing_portal.configuration": "billing_portal.configuration",
}

# Which kind an id belongs to, for `expand[]` of fields that hold bare ids.
PREFIXES = {
    "cus_": "customer",
    "prod_": "product",
    "price_": "price",
    "cs_": "checkout.session",
    "sub_sched_": "subscription_schedule",
    "sub_": "subscription",
    "in_": "invoice",
    "inpay_": "invoice_payment",
    "pi_": "payment_intent",
    "ch_": "charge",
    "re_": "refund",
    "dp_": "dispute",
    "bps_": "billing_portal.session",
    "pm_": "payment_method",
    "evt_": "event",
    "ii_": "invoiceitem",
    "di_": "discount",
    "cbtxn_": "customer_balance_transaction",
    "bpc_": "billing_portal.configuration",
}


class Store:
    """All objects live here. Mutations happen under `lock` and never await while holding it,
    so one action (e.g. completing a checkout) is atomic even when the sandbox is mounted
    into a multi-threaded host."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KIND_NAMES}
            # Sandbox-only facts that are not part of any Stripe object (card behaviour,
            # scheduled price changes, billing anchors), keyed by object id.
            self.private: dict[str, dict[str, Any]] = {}
            # (api key, method, path, idempotency key) -> (params, status, response body)
            self.idempotency: dict[tuple[str, str, str, str], tuple[Any, int, dict[str, Any]]] = {}

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[obj["object"]][obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        obj = self.objects[kind].get(object_id)
        if obj is None:
            raise missing(KIND_NAMES[kind], object_id, param)
        return obj

    def maybe(self, kind: str, object_id: str | None) -> dict[str, Any] | None:
        if not object_id:
            return None
        return self.objects[kind].get(object_id)

    def newest_first(self, kind: str) -> list[dict[str, Any]]:
        # Dicts keep insertion order, which is creation order; Stripe lists newest first.
        return list(reversed(self.objects[kind].values()))

    def by_id(self, object_id: str) -> dict[str, Any] | None:
        for prefix, kind in PREFIXES.items():
            if object_id.startswith(prefix):
                return self.objects[kind].get(object_id)
        # Coupon ids are chosen by the caller, without a prefix.
        return self.objects["coupon"].get(object_id)

    def private_of(self, object_id: str) -> dict[str, Any]:
        return self.private.setdefault(object_id, {})

    @staticmethod
    def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
        """A deep copy, so responses and event payloads never change after the fact."""
        return copy.deepcopy(obj)
