"""The one module that talks to Stripe (DESIGN.md section 2: only billing/ imports stripe).

Every call is async (StripeClient's *_async methods over httpx), so a Reflex event handler
or the webhook route never blocks the event loop on the network. Results are returned as
plain dicts, so the rest of the app does not depend on the SDK's object types.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import stripe
from stripe.params import PriceCreateParams, PriceUpdateParams
from stripe.params.billing_portal import (
    ConfigurationCreateParams as PortalConfigurationCreateParams,
)
from stripe.params.billing_portal import (
    ConfigurationUpdateParams as PortalConfigurationUpdateParams,
)
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams
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


class CustomerMissing(StripeObjectMissing):
    """A create call named a customer Stripe does not have in this mode (deleted, or made
    with the other mode's key): the caller replaces it with a new customer."""


@contextmanager
def _customer_missing(customer_id: str) -> Iterator[None]:
    try:
        yield
    except stripe.InvalidRequestError as exc:
        about_customer = exc.param == "customer" or "No such customer" in str(exc.user_message)
        if exc.code == "resource_missing" and about_customer:
            raise CustomerMissing("customer", customer_id) from exc
        raise


def check_event_shape(event: Any) -> None:
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


def _metadata(obj: Any) -> dict[str, Any]:
    """A Stripe object's metadata as a plain dict (empty when it has none)."""
    metadata: Any = getattr(obj, "metadata", None)
    if metadata is None:
        return {}
    return metadata.to_dict() if hasattr(metadata, "to_dict") else dict(metadata)


class PlanNotInStripe(Exception):
    def __init__(self, lookup_key: str) -> None:
        super().__init__(f"no active Stripe price with lookup key {lookup_key!r}; run seed-plans")
        self.lookup_key = lookup_key


@dataclass(frozen=True)
class StripeConfig:
    secret_key: str
    webhook_secret: str
    api_base: str | None = None  # another Stripe-compatible server, e.g. the sandbox
    # Our prices' lookup keys are this prefix + the plan id (a shared Stripe account may
    # have another product's `pro_monthly`); prices made under the bare plan id before the
    # prefix existed are still recognised (their `plan_id` metadata, the plan's stored
    # lookup key or price id) and adopted by seed-plans.
    lookup_key_prefix: str = "credit_app_"
    tax_behavior: str = "exclusive"  # given to new prices; Stripe never lets it change
    # Stripe Tax computes tax at Checkout (and on the subscriptions it creates): needs
    # Stripe Tax set up in the Dashboard, and the buyer's address, collected at checkout.
    automatic_tax: bool = False

    @property
    def livemode(self) -> bool:
        return self.secret_key.startswith(("sk_live_", "rk_live_"))


# Metadata that marks the portal configuration this app manages (found again by it).
PORTAL_METADATA_KEY = "credit_app_portal"


@dataclass(frozen=True)
class PortalPlan:
    """One plan offered in the portal: its Stripe product and current price."""

    product_id: str
    price_id: str


@dataclass(frozen=True)
class SavedCard:
    """A card Stripe keeps for the customer (saved by a Checkout), newest first."""

    payment_method_id: str
    brand: str
    last4: str


@dataclass(frozen=True)
class OffSessionCharge:
    """How a charge of a saved card went: `payment_intent_id` always (Stripe records
    failed attempts too); `failure` the customer-facing reason, None when it succeeded;
    `code` Stripe's (`card_declined`, `authentication_required`, ...)."""

    payment_intent_id: str | None
    failure: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class CustomerCheck:
    """What Stripe says of a stored customer id: there (with its mode), or gone."""

    exists: bool
    livemode: bool | None = None


class StripeGateway:
    def __init__(self, config: StripeConfig) -> None:
        self.config = config
        # The managed portal configuration's id, once found or created (per process).
        self._portal_configuration: str | None = None
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
        check_event_shape(event)
        return event

    # --- customers, checkout, portal ------------------------------------------------------

    async def create_customer(
        self, *, email: str, name: str | None, user_id: str, replacing: str | None = None
    ) -> tuple[str, bool]:
        """A new customer for the user; returns its id and livemode. `replacing`: the
        customer it replaces (deleted, or of the other mode), part of the idempotency key
        so the replacement is not Stripe's cached answer of the first creation."""
        key = f"customer-{user_id}" + (f"-after-{replacing}" if replacing else "")
        customer = await self._client.v1.customers.create_async(
            params={"email": email, "name": name or email, "metadata": {"user_id": user_id}},
            options={"idempotency_key": key},
        )
        return customer.id, bool(customer.livemode)

    async def check_customer(self, customer_id: str) -> CustomerCheck:
        """Whether Stripe (with this key, so in this mode) still has the customer: a
        deleted one comes back as a stub with `deleted: true`, another mode's as
        `resource_missing`."""
        try:
            with _missing_as("customer", customer_id):
                customer = await self._client.v1.customers.retrieve_async(customer_id)
        except StripeObjectMissing:
            return CustomerCheck(False)
        if getattr(customer, "deleted", False):
            return CustomerCheck(False)
        return CustomerCheck(True, bool(getattr(customer, "livemode", False)))

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

    def lookup_key(self, plan: PlanSpec) -> str:
        """The plan's price lookup key in Stripe: namespaced by the configured prefix."""
        if plan.lookup_key is None:  # the Free plan: nothing to buy
            raise PlanNotInStripe(plan.id)
        return self.config.lookup_key_prefix + plan.lookup_key

    async def price_for(self, plan: PlanSpec) -> str:
        key = self.lookup_key(plan)
        prices = await self._client.v1.prices.list_async(
            params={"lookup_keys": [key], "active": True}
        )
        if not prices.data:
            raise PlanNotInStripe(key)
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
            # A subscription made by Checkout inherits `automatic_tax` from the session.
            # Itemized proration discounts: a coupon's share of a proration is listed in
            # `discount_amounts`, so proration lines' `subtotal` is before the discount and
            # an upgrade grants by it, as every other line does (credits follow the
            # pre-discount amount). Stripe's default (`included`) nets it into the amount.
            params["subscription_data"] = {
                "metadata": metadata,
                "billing_mode": {
                    "type": "flexible",
                    "flexible": {"proration_discounts": "itemized"},
                },
            }
        else:
            # The card is saved for charges made while the person is away (auto top-up,
            # which they turn on separately; Checkout tells them the card is kept).
            params["payment_intent_data"] = {
                "metadata": metadata,
                "setup_future_usage": "off_session",
            }
            # A receipt: a paid invoice for the pack (emailed by Stripe, listed in the
            # portal's invoice history). It has no subscription parent, so its invoice.paid
            # grants nothing; the pack is granted once, by checkout.session.completed.
            params["invoice_creation"] = {
                "enabled": True,
                "invoice_data": {"description": plan.name, "metadata": metadata},
            }
        if self.config.automatic_tax:
            # Stripe Tax needs the buyer's address: collected by Checkout and saved on the
            # customer (`customer_update[address]=auto`, which Stripe requires with an
            # existing customer that may have no address yet).
            params["automatic_tax"] = {"enabled": True}
            params["billing_address_collection"] = "required"
            params["customer_update"] = {"address": "auto"}
        with _customer_missing(customer_id):
            session = await self._client.v1.checkout.sessions.create_async(params=params)
        if session.url is None:  # only embedded sessions have none; we create hosted ones
            raise RuntimeError(f"Stripe returned checkout session {session.id} without a URL")
        return session.id, session.url

    async def create_portal_session(
        self,
        *,
        customer_id: str,
        return_url: str,
        configuration: str | None = None,
        change_to: tuple[str, str, str] | None = None,
    ) -> str:
        """A customer-portal session under `configuration`. `change_to` = (subscription,
        subscription item, new price) opens straight on the confirmation of that plan
        change (`flow_data` subscription_update_confirm), then comes back to `return_url`."""
        params: PortalSessionCreateParams = {"customer": customer_id, "return_url": return_url}
        if configuration:
            params["configuration"] = configuration
        if change_to is not None:
            subscription_id, item_id, price_id = change_to
            params["flow_data"] = {
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {
                    "subscription": subscription_id,
                    "items": [{"id": item_id, "price": price_id, "quantity": 1}],
                },
                "after_completion": {"type": "redirect", "redirect": {"return_url": return_url}},
            }
        with _customer_missing(customer_id):
            portal = await self._client.v1.billing_portal.sessions.create_async(params=params)
        return portal.url

    async def find_portal_configuration(self) -> str | None:
        """The active portal configuration this app manages (by its metadata), if any."""
        if self._portal_configuration is not None:
            return self._portal_configuration
        page = await self._client.v1.billing_portal.configurations.list_async(
            params={"active": True, "limit": 100}
        )
        async for config in page.auto_paging_iter():
            if _metadata(config).get(PORTAL_METADATA_KEY) == self.config.lookup_key_prefix:
                self._portal_configuration = config.id
                return config.id
        return None

    async def ensure_portal_configuration(
        self, plans: list[PortalPlan], *, headline: str, return_url: str
    ) -> tuple[str, bool]:
        """Create, or update to these settings, the portal configuration the app manages
        (found by its metadata): switching between `plans` only, upgrades at once and
        invoiced with proration, downgrades and shorter intervals at the period end,
        cancellation at the period end, card update and invoice history. Returns its id
        and whether it was created. Running it again creates nothing new."""
        products: dict[str, list[str]] = {}
        for plan in plans:
            products.setdefault(plan.product_id, []).append(plan.price_id)
        params: PortalConfigurationCreateParams = {
            "business_profile": {"headline": headline},
            "default_return_url": return_url,
            "features": {
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "products": [
                        {"product": product, "prices": prices}
                        for product, prices in products.items()
                    ],
                    "proration_behavior": "always_invoice",
                    "schedule_at_period_end": {
                        "conditions": [
                            {"type": "decreasing_item_amount"},
                            {"type": "shortening_interval"},
                        ]
                    },
                },
                "subscription_cancel": {
                    "enabled": True,
                    "mode": "at_period_end",
                    "proration_behavior": "none",
                },
                "payment_method_update": {"enabled": True},
                "invoice_history": {"enabled": True},
            },
            "metadata": {PORTAL_METADATA_KEY: self.config.lookup_key_prefix},
        }
        found = await self.find_portal_configuration()
        if found is not None:
            try:
                await self._client.v1.billing_portal.configurations.update_async(
                    found, params=cast(PortalConfigurationUpdateParams, params)
                )
                return found, False
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise
        created = await self._client.v1.billing_portal.configurations.create_async(params=params)
        self._portal_configuration = created.id
        return created.id, True

    def forget_portal_configuration(self) -> None:
        self._portal_configuration = None

    async def subscription_item(self, subscription_id: str) -> tuple[str, str]:
        """The subscription's one item: its id and its price's id."""
        with _missing_as("subscription", subscription_id):
            subscription = await self._client.v1.subscriptions.retrieve_async(subscription_id)
        item = subscription["items"].data[0]
        return item.id, item.price.id

    async def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        checkout = await self._client.v1.checkout.sessions.retrieve_async(session_id)
        return checkout.to_dict()

    # --- reads used by webhook processing ---------------------------------------------

    # Each raises StripeObjectMissing when Stripe has no such object.

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription with its schedule expanded (a plan change waiting for the period
        end, as the portal makes them), and the schedule phases' prices fetched too."""
        with _missing_as("subscription", subscription_id):
            subscription = await self._client.v1.subscriptions.retrieve_async(
                subscription_id, params={"expand": ["schedule"]}
            )
        found = subscription.to_dict()
        schedule = found.get("schedule")
        if isinstance(schedule, dict):
            prices: dict[str, dict[str, Any]] = {}
            for phase in schedule.get("phases") or []:
                for item in phase.get("items") or []:
                    price = item.get("price")
                    if isinstance(price, str):
                        if price not in prices:
                            prices[price] = await self.retrieve_price(price)
                        item["price"] = prices[price]
        return found

    async def retrieve_price(self, price_id: str) -> dict[str, Any]:
        with _missing_as("price", price_id):
            price = await self._client.v1.prices.retrieve_async(price_id)
        return price.to_dict()

    async def saved_cards(self, customer_id: str) -> list[SavedCard]:
        """The customer's saved cards, newest first."""
        with _customer_missing(customer_id):
            methods = await self._client.v1.customers.payment_methods.list_async(
                customer_id, params={"type": "card", "limit": 10}
            )
        cards = sorted(methods.data, key=lambda m: m.created, reverse=True)
        return [
            SavedCard(
                m.id, (m.card.brand if m.card else "") or "", (m.card.last4 if m.card else "")
            )
            for m in cards
        ]

    async def charge_saved_card(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        description: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> OffSessionCharge:
        """Charge a saved card while the person is away (auto top-up). The idempotency key
        makes a retry of the same charge Stripe's first answer, never a second charge."""
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params={
                    "amount": amount,
                    "currency": currency,
                    "customer": customer_id,
                    "payment_method": payment_method_id,
                    "off_session": True,
                    "confirm": True,
                    "description": description,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            error = exc.error
            intent_id = error.payment_intent.id if error and error.payment_intent else None
            code = (error.code if error else None) or exc.code
            return OffSessionCharge(intent_id, exc.user_message or str(exc), code)
        except stripe.InvalidRequestError as exc:
            # The card was removed (detached) or belongs to no one any more: a refusal of
            # this charge, not an outage to retry.
            return OffSessionCharge(None, "your saved card can no longer be charged", exc.code)
        if intent.status != "succeeded":
            return OffSessionCharge(intent.id, f"the payment is {intent.status}", intent.status)
        return OffSessionCharge(intent.id)

    async def retrieve_dispute(self, dispute_id: str) -> dict[str, Any]:
        with _missing_as("dispute", dispute_id):
            dispute = await self._client.v1.disputes.retrieve_async(dispute_id)
        return dispute.to_dict()

    async def list_invoice_lines(self, invoice_id: str) -> list[dict[str, Any]]:
        """Every line of an invoice, in Stripe's order (an event's invoice embeds only the
        first handful: `lines.has_more`)."""
        with _missing_as("invoice", invoice_id):
            page = await self._client.v1.invoices.line_items.list_async(
                invoice_id, params={"limit": 100}
            )
            return [line.to_dict() async for line in page.auto_paging_iter()]

    async def invoice_for_payment_intent(self, payment_intent_id: str) -> str | None:
        """The subscription invoice this payment paid, if any (since API 2025-03, invoices
        link to payments through invoice_payment objects). A pack's receipt (Checkout
        `invoice_creation`) is left out: it granted nothing, the pack is found by its
        payment intent, and its ignored `invoice.paid` must not read as the payment's
        refusal."""
        with _missing_as("payment intent", payment_intent_id):
            payments = await self._client.v1.invoice_payments.list_async(
                params={
                    "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
                    "expand": ["data.invoice"],
                }
            )
        for payment in payments.data:
            invoice: Any = payment.invoice  # expanded; an id if Stripe did not expand it
            if isinstance(invoice, str):
                return invoice
            if invoice is None:
                continue
            parent = getattr(invoice, "parent", None)
            if getattr(parent, "type", None) == "subscription_details":
                return invoice.id
        return None

    async def list_events(self, *, since: int, types: list[str]) -> list[dict[str, Any]]:
        """Every event created at or after `since` (a Unix time; Stripe keeps 30 days) of
        these types, oldest first. Stripe lists newest first, 100 a page at most, and takes
        up to 20 types per call."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(types), 20):
            page = await self._client.v1.events.list_async(
                params={
                    "created": {"gte": since},
                    "types": types[start : start + 20],
                    "limit": 100,
                }
            )
            async for event in page.auto_paging_iter():
                # As Stripe sent it (the SDK parses `*_decimal` strings into Decimal).
                found[event.id] = json.loads(json.dumps(event.to_dict(), default=str))
        return sorted(found.values(), key=lambda e: (e.get("created") or 0, e["id"]))

    async def paid_invoices(self, subscription_id: str) -> list[dict[str, Any]]:
        """The subscription's paid invoices, newest first, each with all of its lines."""
        with _missing_as("subscription", subscription_id):
            page = await self._client.v1.invoices.list_async(
                params={"subscription": subscription_id, "status": "paid", "limit": 100}
            )
            invoices = [invoice.to_dict() async for invoice in page.auto_paging_iter()]
        for invoice in invoices:
            lines = invoice.get("lines") or {}
            if lines.get("has_more") or not isinstance(lines.get("data"), list):
                invoice["lines"] = {
                    "data": await self.list_invoice_lines(invoice["id"]),
                    "has_more": False,
                }
        return invoices

    # --- catalog ------------------------------------------------------------------------

    def product_id(self, plan: PlanSpec) -> str:
        return f"credit_app_{plan.tier or plan.id}"

    async def ensure_price(self, plan: PlanSpec) -> str:
        """Create or update the plan's product and price, found by its (prefixed) lookup
        key. Idempotent: running it again creates and changes nothing. When the amount or
        interval changed, a new price takes over the lookup key (Stripe prices are
        immutable); a price of ours made under the bare plan id (before the prefix) with
        the right amount is adopted instead of duplicated. The plan's other active prices
        of our product are archived (`active=false`): subscriptions on them go on and still
        map to the plan (their `plan_id` metadata), but nobody new can buy them. New prices
        get the configured `tax_behavior`, and an adopted one still `unspecified` too."""
        key = self.lookup_key(plan)
        product_id = self.product_id(plan)
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
        page = await self._client.v1.prices.list_async(
            params={"product": product_id, "active": True, "limit": 100}
        )
        ours = [
            price
            async for price in page.auto_paging_iter()
            if _metadata(price).get("plan_id") == plan.id or price.lookup_key == key
        ]

        def fits(price: Any) -> bool:
            recurring = price.recurring
            interval = recurring.interval if recurring else None
            return (price.unit_amount, price.currency, interval) == (
                plan.price,
                plan.currency,
                plan.interval,
            )

        chosen = next((p for p in ours if p.lookup_key == key and fits(p)), None)
        if chosen is None:
            chosen = next(
                (p for p in ours if p.lookup_key in (None, plan.lookup_key) and fits(p)), None
            )
        if chosen is not None:
            changes: PriceUpdateParams = {}
            if chosen.lookup_key != key:
                changes["lookup_key"] = key
                changes["transfer_lookup_key"] = True
            if getattr(chosen, "tax_behavior", None) in (None, "unspecified"):
                changes["tax_behavior"] = cast(Any, self.config.tax_behavior)
            if changes:
                await self._client.v1.prices.update_async(chosen.id, params=changes)
            price_id = chosen.id
        else:
            params: PriceCreateParams = {
                "product": product_id,
                "unit_amount": plan.price,
                "currency": plan.currency,
                "lookup_key": key,
                "transfer_lookup_key": True,
                "tax_behavior": cast(Any, self.config.tax_behavior),
                "metadata": {"plan_id": plan.id},
            }
            if plan.interval == PlanInterval.MONTH:
                params["recurring"] = {"interval": "month"}
            elif plan.interval == PlanInterval.YEAR:
                params["recurring"] = {"interval": "year"}
            elif plan.interval:
                raise ValueError(f"plan {plan.id}: unknown interval {plan.interval!r}")
            price_id = (await self._client.v1.prices.create_async(params=params)).id
        for superseded in ours:
            if superseded.id != price_id:
                await self._client.v1.prices.update_async(superseded.id, params={"active": False})
        return price_id
