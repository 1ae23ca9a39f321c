"""REST routes for Checkout Sessions and customer-portal sessions."""

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from . import objects
from .core import Sandbox
from .endpoint import paginate, route
from .errors import StripeError, required
from .events import Batch
from .formdata import as_bool, as_int, as_metadata, as_str_list
from .invoicing import discount_amounts
from .urls import return_url


def _line_item(sb: Sandbox, params: dict[str, Any], mode: str) -> tuple[dict[str, Any], int]:
    items = params.get("line_items")
    if not items:
        raise required("line_items")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise StripeError(400, "Invalid array", param="line_items")
    if len(items) != 1:
        raise StripeError(
            400, "The sandbox supports exactly one line item per session.", param="line_items"
        )
    item = items[0]
    if "price_data" in item:
        raise StripeError(
            400,
            "line_items[0][price_data] is not supported by the sandbox; pass a price.",
            param="line_items[0][price_data]",
        )
    price_id = item.get("price")
    if not price_id:
        raise required("line_items[0][price]")
    p = sb.store.maybe("price", price_id)
    if p is None:
        raise StripeError(
            400,
            f"No such price: '{price_id}'",
            param="line_items[0][price]",
            code="resource_missing",
        )
    if not p["active"]:
        raise StripeError(
            400,
            "The price specified is inactive. This field only accepts active prices.",
            param="line_items[0][price]",
        )
    if mode == "subscription" and p["type"] != "recurring":
        raise StripeError(
            400,
            "You must provide at least one recurring price in `subscription` mode when using "
            "prices.",
            param="line_items[0][price]",
        )
    if mode == "payment" and p["type"] == "recurring":
        raise StripeError(
            400,
            "You specified `payment` mode but passed a recurring price. Either switch to "
            "`subscription` mode or use only one-time prices.",
            param="line_items[0][price]",
        )
    quantity = as_int(item, "quantity", "line_items[0][quantity]")
    quantity = 1 if quantity is None else quantity
    if quantity < 1:
        raise StripeError(
            400,
            "Quantity must be at least 1.",
            param="line_items[0][quantity]",
            code="parameter_invalid_integer",
        )
    return p, quantity


def _nested_metadata(params: dict[str, Any], parent: str) -> dict[str, str]:
    section = params.get(parent)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise StripeError(400, "Invalid hash", param=parent, code="parameter_invalid_hash")
    try:
        return as_metadata(section) or {}
    except StripeError as exc:
        exc.param = f"{parent}[metadata]"
        raise


def create_session(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    mode = params.get("mode")
    if not mode:
        raise required("mode")
    if mode not in ("payment", "subscription"):
        raise StripeError(
            400,
            f"Invalid mode: {mode}. The sandbox supports `payment` and `subscription`.",
            param="mode",
            code="parameter_invalid_enum" if mode != "setup" else None,
        )
    customer_id = params.get("customer") or None
    customer_email = params.get("customer_email") or None
    if customer_id and customer_email:
        raise StripeError(
            400,
            "You may only specify one of these parameters: customer, customer_email.",
            param="customer_email",
        )
    if customer_id and sb.store.maybe("customer", customer_id) is None:
        # Stripe answers 400 (not 404) for a bad id inside a create call's body.
        raise StripeError(
            400, f"No such customer: '{customer_id}'", param="customer", code="resource_missing"
        )
    p, quantity = _line_item(sb, params, mode)
    coupons = _coupons(sb, params, p)
    invoice_creation = _invoice_creation(params, mode)
    automatic_tax = _automatic_tax(params)
    billing_mode = _billing_mode(params, mode)
    if params.get("customer_update") is not None and not customer_id:
        raise StripeError(
            400, "customer_update can only be used with customer.", param="customer_update"
        )
    subtotal = p["unit_amount"] * quantity
    discount = sum(sum(t) for t in discount_amounts([subtotal], [True], coupons))
    allowed = sb.settings.allowed_return_origins
    success_url = return_url(params.get("success_url"), "success_url", allowed)
    cancel_url = return_url(params.get("cancel_url"), "cancel_url", allowed)
    session = objects.checkout_session(
        mode=mode,
        url_for=sb.checkout_url,
        amount=subtotal,
        currency=p["currency"],
        customer_id=customer_id,
        customer_email=customer_email,
        client_reference_id=params.get("client_reference_id") or None,
        metadata=as_metadata(params) or {},
        success_url=success_url,
        cancel_url=cancel_url,
    )
    session.update(
        amount_total=subtotal - discount,
        discounts=[{"coupon": c["id"], "promotion_code": None} for c in coupons],
        invoice_creation=invoice_creation,
        billing_address_collection=params.get("billing_address_collection") or None,
    )
    session["total_details"]["amount_discount"] = discount
    if automatic_tax:
        session["automatic_tax"].update(
            enabled=True, liability={"type": "self"}, provider="stripe", status="complete"
        )
    line_item = objects.checkout_line_item(p, quantity, _product_name(sb, p))
    line_item.update(amount_discount=discount, amount_total=subtotal - discount)
    sb.store.put(session)
    sb.store.private_of(session["id"]).update(
        price=p["id"],
        quantity=quantity,
        coupons=[c["id"] for c in coupons],
        subscription_metadata=_nested_metadata(params, "subscription_data"),
        billing_mode=billing_mode,
        payment_intent_metadata=_nested_metadata(params, "payment_intent_data"),
        setup_future_usage=_setup_future_usage(params, mode),
        line_item=line_item,
    )
    return session


def _coupons(sb: Sandbox, params: dict[str, Any], p: dict[str, Any]) -> list[dict[str, Any]]:
    """`discounts=[{coupon}]` (Checkout takes one); promotion codes are not emulated."""
    value = params.get("discounts")
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise StripeError(400, "Invalid array", param="discounts")
    if len(value) > 1:
        raise StripeError(400, "You may only specify one discount.", param="discounts")
    if "promotion_code" in value[0]:
        raise StripeError(
            400,
            "discounts[0][promotion_code] is not supported by the sandbox; pass a coupon.",
            param="discounts[0][promotion_code]",
        )
    coupon_id = value[0].get("coupon")
    if not coupon_id:
        raise required("discounts[0][coupon]")
    cpn = sb.store.maybe("coupon", coupon_id)
    if cpn is None:
        raise StripeError(
            400,
            f"No such coupon: '{coupon_id}'",
            param="discounts[0][coupon]",
            code="resource_missing",
        )
    if cpn["amount_off"] is not None and cpn["currency"] != p["currency"]:
        raise StripeError(
            400,
            "The coupon's currency does not match the price's.",
            param="discounts[0][coupon]",
        )
    return [cpn]


def _setup_future_usage(params: dict[str, Any], mode: str) -> str | None:
    """`payment_intent_data[setup_future_usage]`: the card is saved to the customer for later
    payments (`off_session`: charged without the customer, e.g. automatic top-ups)."""
    data = params.get("payment_intent_data")
    value = data.get("setup_future_usage") if isinstance(data, dict) else None
    if value in (None, ""):
        return None
    param = "payment_intent_data[setup_future_usage]"
    if mode != "payment":
        raise StripeError(
            400, "payment_intent_data can only be used in `payment` mode.", param=param
        )
    if value not in ("on_session", "off_session"):
        raise StripeError(
            400,
            f"Invalid {param}: must be one of on_session, off_session",
            param=param,
            code="parameter_invalid_enum",
        )
    return value


def _invoice_creation(params: dict[str, Any], mode: str) -> dict[str, Any] | None:
    value = params.get("invoice_creation")
    if value is None:
        return {"enabled": False, "invoice_data": None} if mode == "payment" else None
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid hash", param="invoice_creation")
    if mode != "payment":
        raise StripeError(
            400,
            "invoice_creation can only be used in `payment` mode.",
            param="invoice_creation",
        )
    enabled = as_bool(value, "enabled")
    if enabled is None:
        raise required("invoice_creation[enabled]")
    data = value.get("invoice_data") or {}
    if not isinstance(data, dict):
        raise StripeError(400, "Invalid hash", param="invoice_creation[invoice_data]")
    return {
        "enabled": enabled,
        "invoice_data": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": data.get("description") or None,
            "footer": data.get("footer") or None,
            "issuer": {"type": "self"},
            "metadata": as_metadata(data) or {},
            "rendering_options": None,
        },
    }


_PRORATION_DISCOUNTS = ("included", "itemized")


def _billing_mode(params: dict[str, Any], mode: str) -> dict[str, Any]:
    """`subscription_data[billing_mode]`: `type` = `flexible` | `classic`, and for
    flexible `flexible[proration_discounts]` = `included` (the default) | `itemized`.
    The subscription shows it as Stripe does (`flexible: null` when classic); the
    sandbox prorates classic subscriptions as flexible ones."""
    default = {"flexible": {"proration_discounts": "included"}, "type": "flexible"}
    data = params.get("subscription_data")
    value = data.get("billing_mode") if isinstance(data, dict) else None
    if value is None:
        return default
    param = "subscription_data[billing_mode]"
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid hash", param=param, code="parameter_invalid_hash")
    if mode != "subscription":
        raise StripeError(
            400, "subscription_data can only be used in `subscription` mode.", param=param
        )
    kind = value.get("type")
    if not kind:
        raise required(f"{param}[type]")
    if kind not in ("classic", "flexible"):
        raise StripeError(
            400,
            f"Invalid {param}[type]: must be one of classic, flexible",
            param=f"{param}[type]",
            code="parameter_invalid_enum",
        )
    flexible = value.get("flexible")
    if flexible in (None, ""):
        flexible = {}
    if not isinstance(flexible, dict):
        raise StripeError(
            400, "Invalid hash", param=f"{param}[flexible]", code="parameter_invalid_hash"
        )
    if kind == "classic":
        if flexible:
            raise StripeError(
                400,
                f"{param}[flexible] can only be set when {param}[type] is `flexible`.",
                param=f"{param}[flexible]",
            )
        return {"flexible": None, "type": "classic"}
    discounts = flexible.get("proration_discounts") or "included"
    if discounts not in _PRORATION_DISCOUNTS:
        raise StripeError(
            400,
            f"Invalid {param}[flexible][proration_discounts]: must be one of "
            + ", ".join(_PRORATION_DISCOUNTS),
            param=f"{param}[flexible][proration_discounts]",
            code="parameter_invalid_enum",
        )
    return {"flexible": {"proration_discounts": discounts}, "type": "flexible"}


def _automatic_tax(params: dict[str, Any]) -> bool:
    """Recorded only: the sandbox computes no tax (amount_tax stays 0)."""
    value = params.get("automatic_tax")
    if value is None:
        return False
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid hash", param="automatic_tax")
    enabled = as_bool(value, "enabled")
    if enabled is None:
        raise required("automatic_tax[enabled]")
    return enabled


def _product_name(sb: Sandbox, p: dict[str, Any]) -> str:
    prod = sb.store.maybe("product", p["product"])
    return prod["name"] if prod else p["product"]


def _with_line_items(sb: Sandbox, session: dict[str, Any], params: dict[str, Any]) -> dict:
    """`line_items` is only present when expanded, as on Stripe."""
    if "line_items" not in as_str_list(params, "expand"):
        return session
    item = sb.store.private_of(session["id"])["line_item"]
    url = f"/v1/checkout/sessions/{session['id']}/line_items"
    return {**session, "line_items": objects.list_object([item], url)}


def get_session(sb: Sandbox, request: Request, params: dict[str, Any], batch: Batch) -> dict:
    session = sb.store.get("checkout.session", request.path_params["id"])
    sb.billing.expire_if_due(batch, session)
    return _with_line_items(sb, session, params)


def list_line_items(sb: Sandbox, request: Request, params: dict[str, Any], __: Batch) -> dict:
    session = sb.store.get("checkout.session", request.path_params["id"])
    item = sb.store.private_of(session["id"])["line_item"]
    return paginate([item], params, f"/v1/checkout/sessions/{session['id']}/line_items")


def list_sessions(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("checkout.session")
    for name in ("customer", "subscription", "payment_intent", "status"):
        if params.get(name):
            items = [s for s in items if s[name] == params[name]]
    return paginate(items, params, "/v1/checkout/sessions")


def expire_session(sb: Sandbox, request: Request, _: dict[str, Any], batch: Batch) -> dict:
    session = sb.store.get("checkout.session", request.path_params["id"])
    return sb.billing.expire_checkout(batch, session)


def routes(sb: Sandbox) -> list[Route]:
    return [
        Route("/v1/checkout/sessions", route(sb, create_session), methods=["POST"]),
        Route("/v1/checkout/sessions", route(sb, list_sessions), methods=["GET"]),
        Route("/v1/checkout/sessions/{id}", route(sb, get_session), methods=["GET"]),
        Route("/v1/checkout/sessions/{id}/line_items", route(sb, list_line_items), methods=["GET"]),
        Route("/v1/checkout/sessions/{id}/expire", route(sb, expire_session), methods=["POST"]),
    ]
