"""The one module that talks to Stripe (DESIGN.md section 2: only billing/ imports stripe).

Every call is async (StripeClient's *_async methods over httpx), so a Reflex event handler
or the webhook route never blocks the event loop on the network. Results are returned as
plain dicts, so the rest of the app does not depend on the SDK's object types.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import stripe
from stripe.params import PriceCreateParams
from stripe.params.checkout import SessionCreateParams

from credit_app.billing.catalog import PlanSpec
from credit_app.models import EVENT_TYPE_MAX, STRIPE_ID_MAX, PlanInterval, PlanKind

SIGNATURE_TOLERANCE_SECONDS = 300  # Stripe's default
# Event times the app can store and compare (`datetime` covers years 1 to 9999).
_CREATED_RANGE = range(0, 253_402_300_800)


class WebhookRejected(Exception):
    """The body or its signature is not a genuine Stripe event."""


class StripeObjectMissing(Exception):
    """Stripe has no such object (404, `resource_missing`): deleted, or never in this
    account and mode. Permanent, unlike a network or server error."""

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"No such {kind}: {object_id!r}")
        self.kind = kind
        self.object_id = object_id

    @property
    def what(self) -> str:
        return f"{self.kind} {self.object_id}"


@contextmanager
def _missing_as(kind: str, object_id: str) -> Iterator[None]:
    """Stripe's not-found answer for `object_id` as StripeObjectMissing; other errors pass."""
    try:
        yield
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404 or exc.code == "resource_missing":
            raise StripeObjectMissing(kind, object_id) from exc
        raise


def _check_event_shape(event: Any) -> None:
    """What the rest of the app relies on in an event (it is stored and handled without
    further checks): ids and type that fit their columns, an object, sane types."""
    if not isinstance(event, dict) or event.get("object") != "event":
        raise WebhookRejected("body is not a Stripe event")
    event_id, kind = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= STRIPE_ID_MAX:
        raise WebhookRejected(f"event id is not a string of 1 to {STRIPE_ID_MAX} characters")
    # Refused rather than truncated: the stored type is always the event's own.
    if not isinstance(kind, str) or not 0 < len(kind) <= EVENT_TYPE_MAX:
        raise WebhookRejected(f"event type is not a string of 1 to {EVENT_TYPE_MAX} characters")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise WebhookRejected("event data.object is not an object")
    created = event.get("created")
    if "created" in event and (
        not isinstance(created, int) or isinstance(created, bool) or created not in _CREATED_RANGE
    ):
        raise WebhookRejected("event created is not a Unix timestamp")
    if "livemode" in event and not isinstance(event["livemode"], bool):
        raise WebhookRejected("event livemode is not a boolean")


class PlanNotInStripe(Exception):
    def __init__(self, lookup_key: str) -> None:
        super().__init__(f"no active Stripe price with lookup key {lookup_key!r}; run seed-plans")
        self.lookup_key = lookup_key


@dataclass(frozen=True)
class StripeConfig:
    secret_key: str
    webhook_secret: str
    api_base: str | None = None  # another Stripe-compatible server, e.g. the sandbox


class StripeGateway:
    def __init__(self, config: StripeConfig) -> None:
        self.config = config
        self._client = stripe.StripeClient(
            config.secret_key,
            base_addresses={"api": config.api_base} if config.api_base else None,
            http_client=stripe.HTTPXClient(),
            max_network_retries=2,
        )

    # --- webhooks ---------------------------------------------------------------------

    def verify_event(self, payload: bytes, signature_header: str | None) -> dict[str, Any]:
        """Check Stripe's signature on the raw body, then parse it and check its shape."""
        if not signature_header:
            raise WebhookRejected("missing Stripe-Signature header")
        try:
            text = payload.decode("utf-8")
            stripe.WebhookSignature.verify_header(
                text, signature_header, self.config.webhook_secret, SIGNATURE_TOLERANCE_SECONDS
            )
            event = json.loads(text)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
            raise WebhookRejected(str(exc)) from exc
        _check_event_shape(event)
        return event

    # --- customers, checkout, portal ------------------------------------------------------

    async def create_customer(self, *, email: str, name: str | None, user_id: str) -> str:
        customer = await self._client.v1.customers.create_async(
            params={"email": email, "name": name or email, "metadata": {"user_id": user_id}},
            options={"idempotency_key": f"customer-{user_id}"},
        )
        return customer.id

    async def update_customer_email(self, customer_id: str, email: str) -> None:
        """Stripe sends receipts and invoices to the customer's email: keep it the account's."""
        with _missing_as("customer", customer_id):
            await self._client.v1.customers.update_async(customer_id, params={"email": email})

    async def delete_customer(self, customer_id: str) -> None:
        """Delete the customer for good: Stripe cancels its remaining subscriptions at once
        and forgets its payment methods. Raises StripeObjectMissing when it is already gone."""
        with _missing_as("customer", customer_id):
            await self._client.v1.customers.delete_async(customer_id)

    async def cancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        """End a subscription now, without proration (nothing refunded) and without a final
        invoice. Raises StripeObjectMissing when Stripe has no such subscription (deleted,
        or already canceled: Stripe answers a second cancel with resource_missing)."""
        with _missing_as("subscription", subscription_id):
            subscription = await self._client.v1.subscriptions.cancel_async(
                subscription_id, params={"invoice_now": False, "prorate": False}
            )
        return subscription.to_dict()

    async def live_subscription_ids(self, customer_id: str) -> list[str]:
        """The customer's subscriptions that have not ended (Stripe's default list leaves
        out canceled ones), including any whose webhook has not reached us yet."""
        with _missing_as("customer", customer_id):
            found = await self._client.v1.subscriptions.list_async(
                params={"customer": customer_id, "limit": 100}
            )
        return [subscription.id for subscription in found.data]

    async def price_for(self, plan: PlanSpec) -> str:
        if plan.lookup_key is None:  # the Free plan: nothing to buy
            raise PlanNotInStripe(plan.id)
        prices = await self._client.v1.prices.list_async(
            params={"lookup_keys": [plan.lookup_key], "active": True}
        )
        if not prices.data:
            raise PlanNotInStripe(plan.lookup_key)
        return prices.data[0].id

    async def create_checkout_session(
        self,
        *,
        plan: PlanSpec,
        price_id: str,
        customer_id: str,
        user_id: str,
        success_url: str,
        cancel_url: str,
    ) -> tuple[str, str]:
        """Returns the session's id and its hosted page's URL. The user id rides in
        client_reference_id and metadata, so every resulting webhook names its user."""
        metadata = {"user_id": user_id, "plan_id": plan.id}
        subscribing = plan.kind == PlanKind.SUBSCRIPTION
        params: SessionCreateParams = {
            "mode": "subscription" if subscribing else "payment",
            "customer": customer_id,
            "client_reference_id": user_id,
            "metadata": metadata,
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if subscribing:
            params["subscription_data"] = {"metadata": metadata}
        else:
            params["payment_intent_data"] = {"metadata": metadata}
        session = await self._client.v1.checkout.sessions.create_async(params=params)
        if session.url is None:  # only embedded sessions have none; we create hosted ones
            raise RuntimeError(f"Stripe returned checkout session {session.id} without a URL")
        return session.id, session.url

    async def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        portal = await self._client.v1.billing_portal.sessions.create_async(
            params={"customer": customer_id, "return_url": return_url}
        )
        return portal.url

    async def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        checkout = await self._client.v1.checkout.sessions.retrieve_async(session_id)
        return checkout.to_dict()

    # --- reads used by webhook processing ---------------------------------------------

    # Each raises StripeObjectMissing when Stripe has no such object.

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        with _missing_as("subscription", subscription_id):
            subscription = await self._client.v1.subscriptions.retrieve_async(subscription_id)
        return subscription.to_dict()

    async def retrieve_price(self, price_id: str) -> dict[str, Any]:
        with _missing_as("price", price_id):
            price = await self._client.v1.prices.retrieve_async(price_id)
        return price.to_dict()

    async def retrieve_dispute(self, dispute_id: str) -> dict[str, Any]:
        with _missing_as("dispute", dispute_id):
            dispute = await self._client.v1.disputes.retrieve_async(dispute_id)
        return dispute.to_dict()

    async def invoice_for_payment_intent(self, payment_intent_id: str) -> str | None:
        """Since API 2025-03, invoices link to payments through invoice_payment objects."""
        with _missing_as("payment intent", payment_intent_id):
            payments = await self._client.v1.invoice_payments.list_async(
                params={"payment": {"type": "payment_intent", "payment_intent": payment_intent_id}}
            )
        if not payments.data:
            return None
        invoice = payments.data[0].invoice  # an id, or the Invoice when expanded
        return invoice if isinstance(invoice, str) or invoice is None else invoice.id

    # --- catalog ------------------------------------------------------------------------

    async def ensure_price(self, plan: PlanSpec) -> str:
        """Create or update the plan's product and price, found by lookup key. Idempotent:
        running it again creates nothing new unless the amount or interval changed, in
        which case a new price takes over the lookup key (Stripe prices are immutable)."""
        if plan.lookup_key is None:
            raise ValueError(f"plan {plan.id} is not sold through Stripe")
        product_id = f"credit_app_{plan.tier or plan.id}"
        try:
            await self._client.v1.products.update_async(
                product_id, params={"name": plan.name, "description": plan.description}
            )
        except stripe.InvalidRequestError as exc:
            if exc.code != "resource_missing":
                raise
            await self._client.v1.products.create_async(
                params={"id": product_id, "name": plan.name, "description": plan.description}
            )
        found = await self._client.v1.prices.list_async(
            params={"lookup_keys": [plan.lookup_key], "active": True}
        )
        for price in found.data:
            recurring = price.recurring
            interval = recurring.interval if recurring else None
            if (price.unit_amount, price.currency, interval) == (
                plan.price,
                plan.currency,
                plan.interval,
            ):
                return price.id
        params: PriceCreateParams = {
            "product": product_id,
            "unit_amount": plan.price,
            "currency": plan.currency,
            "lookup_key": plan.lookup_key,
            "transfer_lookup_key": True,
            "metadata": {"plan_id": plan.id},
        }
        if plan.interval == PlanInterval.MONTH:
            params["recurring"] = {"interval": "month"}
        elif plan.interval == PlanInterval.YEAR:
            params["recurring"] = {"interval": "year"}
        elif plan.interval:
            raise ValueError(f"plan {plan.id}: unknown interval {plan.interval!r}")
        price = await self._client.v1.prices.create_async(params=params)
        return price.id
