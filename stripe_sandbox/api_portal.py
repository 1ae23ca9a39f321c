"""Customer portal: configurations (`/v1/billing_portal/configurations`) and sessions
(`/v1/billing_portal/sessions`, with `configuration` and `flow_data`).

Without a `configuration`, a session uses the default configuration. Real Stripe requires one
to be saved in the Dashboard first; the sandbox creates it on first use with the Dashboard's
initial settings: invoice history, card update and cancellation at the period end on; plan
switching off (it needs a product list, which only a configuration can give).
"""

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
from .urls import return_url

_PRORATION = ("always_invoice", "create_prorations", "none")
_CONDITIONS = ("decreasing_item_amount", "shortening_interval")
_ALLOWED_UPDATES = ("price", "quantity", "promotion_code")
_CUSTOMER_UPDATES = ("email", "address", "name", "phone", "shipping", "tax_id")
_FLOWS = (
    "subscription_update_confirm",
    "subscription_update",
    "subscription_cancel",
    "payment_method_update",
)


def _invalid(message: str, param: str) -> StripeError:
    return StripeError(400, message, param=param)


def _hash(params: dict[str, Any], name: str, param: str) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid hash", param=param, code="parameter_invalid_hash")
    return value


def _enum(value: Any, allowed: tuple[str, ...], param: str) -> str:
    if value not in allowed:
        raise StripeError(
            400,
            f"Invalid {param}: must be one of {', '.join(allowed)}",
            param=param,
            code="parameter_invalid_enum",
        )
    return str(value)


def default_configuration(sb: Sandbox) -> dict[str, Any]:
    for config in sb.store.objects["billing_portal.configuration"].values():
        if config["is_default"]:
            return config
    config = billing_objects.portal_configuration(is_default=True)
    features = config["features"]
    features["invoice_history"]["enabled"] = True
    features["payment_method_update"]["enabled"] = True
    features["subscription_cancel"]["enabled"] = True
    features["customer_update"] = {"allowed_updates": ["email", "address"], "enabled": True}
    return sb.store.put(config)


def _apply_features(sb: Sandbox, config: dict[str, Any], features: dict[str, Any]) -> None:
    current = config["features"]
    for name in features:
        if name not in current and name != "subscription_pause":
            raise _invalid(f"Received unknown parameter: features[{name}]", f"features[{name}]")
    for name in ("invoice_history", "payment_method_update"):
        section = _hash(features, name, f"features[{name}]")
        if section is not None:
            enabled = as_bool(section, "enabled")
            if enabled is not None:
                current[name]["enabled"] = enabled
    update = _hash(features, "customer_update", "features[customer_update]")
    if update is not None:
        enabled = as_bool(update, "enabled")
        if enabled is not None:
            current["customer_update"]["enabled"] = enabled
        if "allowed_updates" in update:
            allowed = as_str_list(update, "allowed_updates") if update["allowed_updates"] else []
            for a in allowed:
                _enum(a, _CUSTOMER_UPDATES, "features[customer_update][allowed_updates]")
            current["customer_update"]["allowed_updates"] = allowed
    cancel = _hash(features, "subscription_cancel", "features[subscription_cancel]")
    if cancel is not None:
        target = current["subscription_cancel"]
        enabled = as_bool(cancel, "enabled")
        if enabled is not None:
            target["enabled"] = enabled
        if "mode" in cancel:
            target["mode"] = _enum(
                cancel["mode"],
                ("at_period_end", "immediately"),
                "features[subscription_cancel][mode]",
            )
        if "proration_behavior" in cancel:
            target["proration_behavior"] = _enum(
                cancel["proration_behavior"],
                ("none", "create_prorations"),
                "features[subscription_cancel][proration_behavior]",
            )
        reason = _hash(cancel, "cancellation_reason", "features[subscription_cancel]")
        if reason is not None:
            enabled = as_bool(reason, "enabled")
            if enabled is not None:
                target["cancellation_reason"]["enabled"] = enabled
            if "options" in reason:
                target["cancellation_reason"]["options"] = as_str_list(reason, "options")
    sub_update = _hash(features, "subscription_update", "features[subscription_update]")
    if sub_update is not None:
        _apply_subscription_update(sb, current["subscription_update"], sub_update)


def _apply_subscription_update(sb: Sandbox, target: dict[str, Any], update: dict[str, Any]) -> None:
    param = "features[subscription_update]"
    enabled = as_bool(update, "enabled")
    if enabled is not None:
        target["enabled"] = enabled
    if "default_allowed_updates" in update:
        allowed = (
            as_str_list(update, "default_allowed_updates")
            if update["default_allowed_updates"]
            else []
        )
        for a in allowed:
            _enum(a, _ALLOWED_UPDATES, f"{param}[default_allowed_updates]")
        target["default_allowed_updates"] = allowed
    if "proration_behavior" in update:
        target["proration_behavior"] = _enum(
            update["proration_behavior"], _PRORATION, f"{param}[proration_behavior]"
        )
    if "billing_cycle_anchor" in update:
        target["billing_cycle_anchor"] = _enum(
            update["billing_cycle_anchor"], ("now", "unchanged"), f"{param}[billing_cycle_anchor]"
        )
    if "trial_update_behavior" in update:
        target["trial_update_behavior"] = _enum(
            update["trial_update_behavior"],
            ("continue_trial", "end_trial"),
            f"{param}[trial_update_behavior]",
        )
    schedule = update.get("schedule_at_period_end")
    if schedule is not None:
        if not isinstance(schedule, dict):
            raise _invalid("Invalid hash", f"{param}[schedule_at_period_end]")
        conditions = schedule.get("conditions")
        if conditions in ("", None):
            target["schedule_at_period_end"] = {"conditions": []}
        else:
            if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
                raise _invalid("Invalid array", f"{param}[schedule_at_period_end][conditions]")
            target["schedule_at_period_end"] = {
                "conditions": [
                    {
                        "type": _enum(
                            c.get("type"),
                            _CONDITIONS,
                            f"{param}[schedule_at_period_end][conditions][{i}][type]",
                        )
                    }
                    for i, c in enumerate(conditions)
                ]
            }
    if "products" in update:
        target["products"] = _products(sb, update["products"], f"{param}[products]")
    if (
        target["enabled"]
        and "price" in target["default_allowed_updates"]
        and not target["products"]
    ):
        raise _invalid(
            "You must specify at least one product (with its prices) when subscription "
            "updates of the price are enabled.",
            f"{param}[products]",
        )


def _products(sb: Sandbox, value: Any, param: str) -> list[dict[str, Any]]:
    if value == "":
        return []
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise _invalid("Invalid array", param)
    if len(value) > 10:
        raise _invalid("You can specify at most 10 products.", param)
    result = []
    for i, entry in enumerate(value):
        product_id = entry.get("product")
        if not product_id:
            raise required(f"{param}[{i}][product]")
        sb.store.get("product", product_id, param=f"{param}[{i}][product]")
        prices = as_str_list(entry, "prices")
        if not prices:
            raise required(f"{param}[{i}][prices]")
        for price_id in prices:
            p = sb.store.maybe("price", price_id)
            if p is None:
                raise StripeError(
                    400,
                    f"No such price: '{price_id}'",
                    param=f"{param}[{i}][prices]",
                    code="resource_missing",
                )
            if p["product"] != product_id or p["type"] != "recurring":
                raise _invalid(
                    f"Price {price_id} must be a recurring price of product {product_id}.",
                    f"{param}[{i}][prices]",
                )
        adjustable = entry.get("adjustable_quantity") or {}
        result.append(
            {
                "adjustable_quantity": {
                    "enabled": (as_bool(adjustable, "enabled") or False)
                    if isinstance(adjustable, dict)
                    else False,
                    "maximum": None,
                    "minimum": 1,
                },
                "prices": prices,
                "product": product_id,
            }
        )
    return result


def _apply(sb: Sandbox, config: dict[str, Any], params: dict[str, Any]) -> None:
    profile = _hash(params, "business_profile", "business_profile")
    if profile is not None:
        for name in ("headline", "privacy_policy_url", "terms_of_service_url"):
            if name in profile:
                config["business_profile"][name] = profile[name] or None
    if "default_return_url" in params:
        config["default_return_url"] = return_url(
            params["default_return_url"] or None,
            "default_return_url",
            sb.settings.allowed_return_origins,
        )
    if "name" in params:
        config["name"] = params["name"] or None
    login = _hash(params, "login_page", "login_page")
    if login is not None:
        enabled = as_bool(login, "enabled") or False
        config["login_page"] = {
            "enabled": enabled,
            "url": sb.settings.link(f"/portal/login/{config['id']}") if enabled else None,
        }
    features = _hash(params, "features", "features")
    if features is not None:
        _apply_features(sb, config, features)
    update = as_metadata(params)
    config["metadata"] = merge_metadata(config["metadata"], update, params.get("metadata") == "")
    active = as_bool(params, "active")
    if active is not None:
        config["active"] = active


def create_configuration(sb: Sandbox, _: Request, params: dict[str, Any], batch: Batch) -> dict:
    if _hash(params, "features", "features") is None:
        raise required("features")
    config = billing_objects.portal_configuration(is_default=False)
    _apply(sb, config, params)
    sb.store.put(config)
    batch.emit("billing_portal.configuration.created", config)
    return config


def get_configuration(sb: Sandbox, request: Request, _: dict[str, Any], __: Batch) -> dict:
    return sb.store.get("billing_portal.configuration", request.path_params["id"])


def update_configuration(
    sb: Sandbox, request: Request, params: dict[str, Any], batch: Batch
) -> dict:
    config = sb.store.get("billing_portal.configuration", request.path_params["id"])
    before = Store.snapshot(config)
    _apply(sb, config, params)
    previous = changed(before, config)
    if previous:
        config["updated"] = now()
        batch.emit("billing_portal.configuration.updated", config, changed(before, config))
    return config


def list_configurations(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("billing_portal.configuration")
    for name in ("active", "is_default"):
        wanted = as_bool(params, name)
        if wanted is not None:
            items = [c for c in items if c[name] == wanted]
    return paginate(items, params, "/v1/billing_portal/configurations")


# -- sessions ----------------------------------------------------------------------------


def allowed_prices(config: dict[str, Any]) -> list[str]:
    update = config["features"]["subscription_update"]
    if not update["enabled"] or "price" not in update["default_allowed_updates"]:
        return []
    return [price for product in update["products"] or [] for price in product["prices"]]


def _flow(
    sb: Sandbox, params: dict[str, Any], customer_id: str, config: dict[str, Any]
) -> dict[str, Any] | None:
    data = _hash(params, "flow_data", "flow_data")
    if data is None:
        return None
    kind = _enum(data.get("type"), _FLOWS, "flow_data[type]")
    flow: dict[str, Any] = {
        "after_completion": {"hosted_confirmation": None, "redirect": None, "type": None},
        "subscription_cancel": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": kind,
    }
    after = _hash(data, "after_completion", "flow_data[after_completion]") or {}
    after_type = _enum(
        after.get("type", "portal_homepage"),
        ("redirect", "hosted_confirmation", "portal_homepage"),
        "flow_data[after_completion][type]",
    )
    flow["after_completion"]["type"] = after_type
    if after_type == "redirect":
        redirect = _hash(after, "redirect", "flow_data[after_completion][redirect]") or {}
        target = return_url(
            redirect.get("return_url"),
            "flow_data[after_completion][redirect][return_url]",
            sb.settings.allowed_return_origins,
        )
        if target is None:
            raise required("flow_data[after_completion][redirect][return_url]")
        flow["after_completion"]["redirect"] = {"return_url": target}
    elif after_type == "hosted_confirmation":
        confirmation = _hash(after, "hosted_confirmation", "flow_data") or {}
        flow["after_completion"]["hosted_confirmation"] = {
            "custom_message": confirmation.get("custom_message") or None
        }
    if kind == "payment_method_update":
        return flow
    section = _hash(data, kind, f"flow_data[{kind}]") or {}
    sub_id = section.get("subscription")
    if not sub_id:
        raise required(f"flow_data[{kind}][subscription]")
    sub = sb.store.maybe("subscription", sub_id)
    if sub is None or sub["customer"] != customer_id:
        raise StripeError(
            400,
            f"No such subscription: '{sub_id}'",
            param=f"flow_data[{kind}][subscription]",
            code="resource_missing",
        )
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise _invalid("The subscription is canceled.", f"flow_data[{kind}][subscription]")
    if kind == "subscription_cancel":
        if not config["features"]["subscription_cancel"]["enabled"]:
            raise _invalid(
                "The configuration does not enable subscription_cancel.", "flow_data[type]"
            )
        flow[kind] = {"retention": None, "subscription": sub_id}
        return flow
    if not config["features"]["subscription_update"]["enabled"]:
        raise _invalid("The configuration does not enable subscription_update.", "flow_data[type]")
    if kind == "subscription_update":
        flow[kind] = {"subscription": sub_id}
        return flow
    items = section.get("items")
    param = "flow_data[subscription_update_confirm][items]"
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise _invalid("Pass exactly one item to update.", param)
    item = items[0]
    current = sub["items"]["data"][0]
    if item.get("id") != current["id"]:
        raise _invalid(f"The item must be the subscription's item {current['id']}.", param)
    price_id = item.get("price") or current["price"]["id"]
    if price_id not in allowed_prices(config):
        raise _invalid(
            f"The price {price_id} is not one of the configuration's subscription_update "
            "products' prices.",
            f"{param}[0][price]",
        )
    p = sb.store.get("price", price_id, param=f"{param}[0][price]")
    if not p["active"]:
        raise _invalid("The price specified is inactive.", f"{param}[0][price]")
    quantity = as_int(item, "quantity", f"{param}[0][quantity]") or current["quantity"]
    flow[kind] = {
        "discounts": None,
        "items": [{"id": current["id"], "price": price_id, "quantity": quantity}],
        "subscription": sub_id,
    }
    return flow


def create_portal_session(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    customer_id = params.get("customer")
    if not customer_id:
        raise required("customer")
    sb.store.get("customer", customer_id, param="customer")
    config_id = params.get("configuration")
    if config_id:
        config = sb.store.maybe("billing_portal.configuration", config_id)
        if config is None:
            raise StripeError(
                400,
                f"No such configuration: '{config_id}'",
                param="configuration",
                code="resource_missing",
            )
        if not config["active"]:
            raise _invalid("The configuration is inactive.", "configuration")
    else:
        config = default_configuration(sb)
    url = return_url(params.get("return_url"), "return_url", sb.settings.allowed_return_origins)
    url = url or config["default_return_url"]
    flow = _flow(sb, params, customer_id, config)
    session = objects.portal_session(customer_id, url, sb.portal_url)
    session.update(configuration=config["id"], flow=flow)
    return sb.store.put(session)


def routes(sb: Sandbox) -> list[Route]:
    base = "/v1/billing_portal/configurations"
    return [
        Route(base, route(sb, create_configuration), methods=["POST"]),
        Route(base, route(sb, list_configurations), methods=["GET"]),
        Route(base + "/{id}", route(sb, get_configuration), methods=["GET"]),
        Route(base + "/{id}", route(sb, update_configuration), methods=["POST"]),
        Route("/v1/billing_portal/sessions", route(sb, create_portal_session), methods=["POST"]),
    ]
