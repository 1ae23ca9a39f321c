"""REST routes for customers, products and prices."""

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from . import billing_objects, objects
from .core import Sandbox
from .endpoint import paginate, route
from .errors import StripeError, required
from .events import Batch, changed
from .formdata import as_bool, as_int, as_metadata, as_str_list, merge_metadata
from .ids import now
from .store import Store

_INTERVALS = ("day", "week", "month", "year")


def _metadata_update(obj: dict[str, Any], params: dict[str, Any]) -> None:
    update = as_metadata(params)
    obj["metadata"] = merge_metadata(obj["metadata"], update, params.get("metadata") == "")


def _filter_active(items: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    active = as_bool(params, "active")
    return items if active is None else [i for i in items if i["active"] == active]


# -- customers ---------------------------------------------------------------------------


def create_customer(sb: Sandbox, _: Request, params: dict[str, Any], batch: Batch) -> dict:
    return sb.billing.create_customer(
        batch, params.get("email") or None, params.get("name") or None, as_metadata(params)
    )


def get_customer(sb: Sandbox, request: Request, _: dict[str, Any], __: Batch) -> dict:
    customer_id = request.path_params["id"]
    # Like Stripe, a deleted customer can still be retrieved: as its deletion stub.
    if sb.billing.customer_deleted(customer_id):
        return objects.deleted_customer(customer_id)
    return sb.store.get("customer", customer_id)


def delete_customer(sb: Sandbox, request: Request, _: dict[str, Any], batch: Batch) -> dict:
    return sb.billing.delete_customer(batch, sb.store.get("customer", request.path_params["id"]))


def update_customer(sb: Sandbox, request: Request, params: dict[str, Any], batch: Batch) -> dict:
    cust = sb.store.get("customer", request.path_params["id"])
    before = Store.snapshot(cust)
    for name in ("email", "name", "description", "phone"):
        if name in params:
            cust[name] = params[name] or None
    _metadata_update(cust, params)
    previous = changed(before, cust)
    if previous:
        batch.emit("customer.updated", cust, previous)
    return cust


def list_customers(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("customer")
    if params.get("email"):
        items = [c for c in items if c["email"] == params["email"]]
    return paginate(items, params, "/v1/customers")


# -- products ----------------------------------------------------------------------------


def create_product(sb: Sandbox, _: Request, params: dict[str, Any], batch: Batch) -> dict:
    name = params.get("name")
    if not name:
        raise required("name")
    product_id = params.get("id")
    if product_id and product_id in sb.store.objects["product"]:
        raise StripeError(
            400,
            f"Product already exists with id {product_id}",
            param="id",
            code="resource_already_exists",
        )
    prod = objects.product(product_id, name, params.get("description"), as_metadata(params) or {})
    active = as_bool(params, "active")
    if active is not None:
        prod["active"] = active
    sb.store.put(prod)
    batch.emit("product.created", prod)
    return prod


def get_product(sb: Sandbox, request: Request, _: dict[str, Any], __: Batch) -> dict:
    return sb.store.get("product", request.path_params["id"])


def update_product(sb: Sandbox, request: Request, params: dict[str, Any], batch: Batch) -> dict:
    prod = sb.store.get("product", request.path_params["id"])
    before = Store.snapshot(prod)
    for name in ("name", "description"):
        if name in params:
            prod[name] = params[name]
    active = as_bool(params, "active")
    if active is not None:
        prod["active"] = active
    if "default_price" in params:
        prod["default_price"] = params["default_price"] or None
    _metadata_update(prod, params)
    previous = changed(before, prod)
    if previous:
        prod["updated"] = now()
        batch.emit("product.updated", prod, previous)
    return prod


def list_products(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = _filter_active(sb.store.newest_first("product"), params)
    ids = as_str_list(params, "ids")
    if ids:
        items = [p for p in items if p["id"] in ids]
    return paginate(items, params, "/v1/products")


# -- prices ------------------------------------------------------------------------------


def _claim_lookup_key(
    sb: Sandbox, batch: Batch, lookup_key: str, transfer: bool, owner: str | None
) -> None:
    """Lookup keys are unique among prices; `transfer_lookup_key` moves one to a new price."""
    for other in sb.store.newest_first("price"):
        if other["lookup_key"] != lookup_key or other["id"] == owner:
            continue
        if not transfer:
            raise StripeError(
                400,
                f"A price ({other['id']}) already uses that lookup key.",
                param="lookup_key",
            )
        before = Store.snapshot(other)
        other["lookup_key"] = None
        batch.emit("price.updated", other, changed(before, other))


def create_price(sb: Sandbox, _: Request, params: dict[str, Any], batch: Batch) -> dict:
    product_id = params.get("product")
    if not product_id:
        if isinstance(params.get("product_data"), dict):
            raise StripeError(
                400,
                "product_data is not supported by the sandbox; create the product first.",
                param="product_data",
            )
        raise required("product")
    sb.store.get("product", product_id, param="product")
    currency = params.get("currency")
    if not currency:
        raise required("currency")
    unit_amount = as_int(params, "unit_amount")
    if unit_amount is None:
        raise required("unit_amount")
    if unit_amount < 0:
        raise StripeError(
            400,
            "Invalid non-negative integer",
            param="unit_amount",
            code="parameter_invalid_integer",
        )
    rec = params.get("recurring")
    recurring = None
    if rec is not None:
        if not isinstance(rec, dict) or not rec.get("interval"):
            raise required("recurring[interval]")
        if rec["interval"] not in _INTERVALS:
            raise StripeError(
                400,
                f"Invalid recurring[interval]: must be one of {', '.join(_INTERVALS)}",
                param="recurring[interval]",
                code="parameter_invalid_enum",
            )
        count = as_int(rec, "interval_count", "recurring[interval_count]") or 1
        recurring = objects.recurring(rec["interval"], count)
    tax_behavior = _tax_behavior(params)
    lookup_key = params.get("lookup_key") or None
    if lookup_key:
        transfer = as_bool(params, "transfer_lookup_key") or False
        _claim_lookup_key(sb, batch, lookup_key, transfer, None)
    p = objects.price(
        product_id,
        unit_amount,
        currency.lower(),
        recurring,
        lookup_key,
        params.get("nickname"),
        as_metadata(params) or {},
    )
    active = as_bool(params, "active")
    if active is not None:
        p["active"] = active
    if tax_behavior:
        p["tax_behavior"] = tax_behavior
    sb.store.put(p)
    batch.emit("price.created", p)
    return p


_TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")


def _tax_behavior(params: dict[str, Any]) -> str | None:
    value = params.get("tax_behavior")
    if value is None:
        return None
    if value not in _TAX_BEHAVIORS:
        raise StripeError(
            400,
            f"Invalid tax_behavior: must be one of {', '.join(_TAX_BEHAVIORS)}",
            param="tax_behavior",
            code="parameter_invalid_enum",
        )
    return value


def get_price(sb: Sandbox, request: Request, _: dict[str, Any], __: Batch) -> dict:
    return sb.store.get("price", request.path_params["id"])


def update_price(sb: Sandbox, request: Request, params: dict[str, Any], batch: Batch) -> dict:
    p = sb.store.get("price", request.path_params["id"])
    tax_behavior = _tax_behavior(params)
    if tax_behavior and p["tax_behavior"] not in (tax_behavior, "unspecified"):
        # Stripe: "Once specified as either inclusive or exclusive, it cannot be changed."
        raise StripeError(
            400,
            f"The price's tax_behavior is already `{p['tax_behavior']}`: once set to "
            "`inclusive` or `exclusive` it cannot be changed.",
            param="tax_behavior",
        )
    before = Store.snapshot(p)
    if tax_behavior:
        p["tax_behavior"] = tax_behavior
    active = as_bool(params, "active")
    if active is not None:
        p["active"] = active
    if "nickname" in params:
        p["nickname"] = params["nickname"] or None
    if "lookup_key" in params:
        lookup_key = params["lookup_key"] or None
        if lookup_key:
            transfer = as_bool(params, "transfer_lookup_key") or False
            _claim_lookup_key(sb, batch, lookup_key, transfer, p["id"])
        p["lookup_key"] = lookup_key
    _metadata_update(p, params)
    previous = changed(before, p)
    if previous:
        batch.emit("price.updated", p, previous)
    return p


def list_prices(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = _filter_active(sb.store.newest_first("price"), params)
    lookup_keys = as_str_list(params, "lookup_keys")
    if lookup_keys:
        items = [p for p in items if p["lookup_key"] in lookup_keys]
    for name in ("product", "currency", "type"):
        if params.get(name):
            items = [p for p in items if p[name] == params[name]]
    return paginate(items, params, "/v1/prices")


# -- coupons -----------------------------------------------------------------------------

_DURATIONS = ("once", "repeating", "forever")


def create_coupon(sb: Sandbox, _: Request, params: dict[str, Any], batch: Batch) -> dict:
    coupon_id = params.get("id") or None
    if coupon_id and coupon_id in sb.store.objects["coupon"]:
        raise StripeError(400, "Coupon already exists.", param="id", code="resource_already_exists")
    percent = params.get("percent_off")
    amount_off = as_int(params, "amount_off")
    if (percent is None) == (amount_off is None):
        raise StripeError(
            400, "You must pass exactly one of percent_off or amount_off.", param="percent_off"
        )
    percent_off = None
    if percent is not None:
        try:
            percent_off = float(percent)
        except (TypeError, ValueError):
            raise StripeError(400, f"Invalid decimal: {percent}", param="percent_off") from None
        if not 0 < percent_off <= 100:
            raise StripeError(
                400, "percent_off must be greater than 0 and at most 100.", param="percent_off"
            )
    currency = (params.get("currency") or "").lower() or None
    if amount_off is not None and (amount_off < 1 or not currency):
        raise StripeError(
            400, "amount_off must be positive and needs a currency.", param="amount_off"
        )
    duration = params.get("duration") or "once"
    if duration not in _DURATIONS:
        raise StripeError(
            400,
            f"Invalid duration: must be one of {', '.join(_DURATIONS)}",
            param="duration",
            code="parameter_invalid_enum",
        )
    months = as_int(params, "duration_in_months")
    if duration == "repeating" and not months:
        raise required("duration_in_months")
    cpn = billing_objects.coupon(
        coupon_id=coupon_id,
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency if amount_off is not None else None,
        duration=duration,
        duration_in_months=months if duration == "repeating" else None,
        name=params.get("name") or None,
        metadata=as_metadata(params) or {},
    )
    sb.store.put(cpn)
    batch.emit("coupon.created", cpn)
    return cpn


def get_coupon(sb: Sandbox, request: Request, _: dict[str, Any], __: Batch) -> dict:
    return sb.store.get("coupon", request.path_params["id"])


def list_coupons(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    return paginate(sb.store.newest_first("coupon"), params, "/v1/coupons")


def routes(sb: Sandbox) -> list[Route]:
    return [
        Route("/v1/customers", route(sb, create_customer), methods=["POST"]),
        Route("/v1/customers", route(sb, list_customers), methods=["GET"]),
        Route("/v1/customers/{id}", route(sb, get_customer), methods=["GET"]),
        Route("/v1/customers/{id}", route(sb, update_customer), methods=["POST"]),
        Route("/v1/customers/{id}", route(sb, delete_customer), methods=["DELETE"]),
        Route("/v1/products", route(sb, create_product), methods=["POST"]),
        Route("/v1/products", route(sb, list_products), methods=["GET"]),
        Route("/v1/products/{id}", route(sb, get_product), methods=["GET"]),
        Route("/v1/products/{id}", route(sb, update_product), methods=["POST"]),
        Route("/v1/prices", route(sb, create_price), methods=["POST"]),
        Route("/v1/prices", route(sb, list_prices), methods=["GET"]),
        Route("/v1/prices/{id}", route(sb, get_price), methods=["GET"]),
        Route("/v1/prices/{id}", route(sb, update_price), methods=["POST"]),
        Route("/v1/coupons", route(sb, create_coupon), methods=["POST"]),
        Route("/v1/coupons", route(sb, list_coupons), methods=["GET"]),
        Route("/v1/coupons/{id}", route(sb, get_coupon), methods=["GET"]),
    ]
