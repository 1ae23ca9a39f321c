"""The hosted customer portal and hosted invoice pages (plus the routes of every hosted page).

The portal follows the session's configuration (`billing_portal.configuration`): what it
offers (plan switching among the configured prices, cancellation, card update, invoice
history), how a plan change is applied (`proration_behavior`) and which changes wait for the
end of the period (`schedule_at_period_end.conditions`: a subscription schedule). A session
with `flow_data` opens on that flow (e.g. the confirmation of one plan change) and goes where
`after_completion` says once done. Changes and cancellations are confirmed on a second page,
as on Stripe.
"""

from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .api_portal import allowed_prices
from .billing import PaymentDeclined, interval_of
from .core import Sandbox
from .errors import StripeError
from .events import Batch
from .pages import (
    TEST_CARDS_HINT,
    card_input,
    checkout_get,
    checkout_post,
    date,
    merchant,
    missing_page,
    money_text,
    page,
    price_label,
    product_name,
    read_form,
    refused_page,
)

_NOTICES = {
    "canceled": "Your plan will be canceled at the end of the billing period.",
    "canceled_now": "Your plan was canceled.",
    "resumed": "Your plan will continue.",
    "switched": "Your plan was changed.",
    "scheduled": "Your plan will change at the end of the billing period.",
    "kept": "The scheduled change was canceled; your plan stays as it is.",
    "card": "Your card was updated.",
}
_INTERVAL_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


def _config(sb: Sandbox, portal: dict[str, Any]) -> dict[str, Any]:
    return sb.store.get("billing_portal.configuration", portal["configuration"])


def _link(sb: Sandbox, path: str) -> str:
    return escape(sb.settings.link(path))


def _button_form(action: str, label: str, hidden: dict[str, str], secondary: bool = False) -> str:
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items()
    )
    css = ' class="secondary"' if secondary else ""
    return (
        f'<form method="post" action="{action}">{fields}'
        f'<button type="submit"{css}>{escape(label)}</button></form>'
    )


def _back_link(sb: Sandbox, portal: dict[str, Any]) -> str:
    return f'<footer><a href="{_link(sb, "/portal/" + portal["id"])}">Go back</a></footer>'


def _header(sb: Sandbox, config: dict[str, Any]) -> list[str]:
    parts = [merchant(sb)]
    profile = config["business_profile"]
    if profile["headline"]:
        parts.append(f'<p id="headline">{escape(profile["headline"])}</p>')
    return parts


def _footer(portal: dict[str, Any], config: dict[str, Any]) -> str:
    profile = config["business_profile"]
    links = []
    if portal["return_url"]:
        links.append(f'<a href="{escape(portal["return_url"])}">Return to app</a>')
    for name, label in (("terms_of_service_url", "Terms"), ("privacy_policy_url", "Privacy")):
        if profile[name]:
            links.append(f'<a href="{escape(profile[name])}">{label}</a>')
    return f"<footer>{' · '.join(links)}</footer>" if links else ""


# -- the portal's policy -----------------------------------------------------------------


def _months(p: dict[str, Any]) -> float:
    interval, count = interval_of(p)
    return _INTERVAL_DAYS[interval] * count / 30


def scheduled_at_period_end(config: dict[str, Any], sub: dict[str, Any], p: dict[str, Any]) -> bool:
    """Whether the configuration defers this change to the end of the period: any of its
    conditions holds (`decreasing_item_amount`: the item's amount per period goes down;
    `shortening_interval`: the new interval is shorter)."""
    item = sub["items"]["data"][0]
    current = item["price"]
    conditions = {
        c["type"] for c in config["features"]["subscription_update"]["schedule_at_period_end"][
            "conditions"
        ]
    }  # fmt: skip
    decreasing = p["unit_amount"] * item["quantity"] < current["unit_amount"] * item["quantity"]
    shortening = _months(p) < _months(current)
    return ("decreasing_item_amount" in conditions and decreasing) or (
        "shortening_interval" in conditions and shortening
    )


def _choices(sb: Sandbox, config: dict[str, Any], sub: dict[str, Any]) -> list[dict[str, Any]]:
    current = sub["items"]["data"][0]["price"]["id"]
    result = []
    for price_id in allowed_prices(config):
        p = sb.store.maybe("price", price_id)
        if p is None or price_id == current or not p["active"]:
            continue
        if p["currency"] != sub["currency"]:
            continue
        result.append(p)
    return result


def _scheduled_change(sb: Sandbox, sub: dict[str, Any]) -> tuple[dict[str, Any], int] | None:
    sched = sb.store.maybe("subscription_schedule", sub["schedule"])
    if sched is None or sched["status"] != "active":
        return None
    now = sb.billing.sub_now(sub)
    for phase in sched["phases"]:
        if phase["start_date"] > now:
            p = sb.store.maybe("price", phase["items"][0]["price"])
            if p is not None:
                return p, phase["start_date"]
    return None


# -- pages -------------------------------------------------------------------------------


def _subscription_block(
    sb: Sandbox, portal: dict[str, Any], config: dict[str, Any], sub: dict[str, Any]
) -> str:
    item = sub["items"]["data"][0]
    p = item["price"]
    base = f"/portal/{portal['id']}/subscriptions/{sub['id']}"
    lines = [
        '<section class="plan">',
        f"<h2>{escape(product_name(sb, p))}</h2>",
        f"<p>{escape(price_label(p))} · Status: <strong>{escape(sub['status'])}</strong></p>",
    ]
    if sub["status"] == "canceled":
        lines.append(f"<p>Ended {date(sub['ended_at'])}</p></section>")
        return "".join(lines)
    end = date(item["current_period_end"])
    if sub["cancel_at_period_end"]:
        lines.append(f"<p>Cancels on {end}</p>")
    else:
        lines.append(f"<p>Current period ends {end}</p>")
    scheduled = _scheduled_change(sb, sub)
    if scheduled:
        new, when = scheduled
        lines.append(
            f'<p id="scheduled-change">Switches to {escape(product_name(sb, new))}, '
            f"{escape(price_label(new))} on {date(when)}</p>"
        )
        lines.append(_button_form(_link(sb, f"{base}/keep"), "Cancel scheduled change", {}, True))
    if sub["status"] == "past_due":
        inv = sb.store.maybe("invoice", sub["latest_invoice"])
        lines.append('<p class="error">Your last payment failed. Update your card to pay it.</p>')
        if inv is not None and inv["hosted_invoice_url"] and inv["status"] == "open":
            lines.append(
                f'<p><a href="{escape(inv["hosted_invoice_url"])}">Pay the open invoice</a></p>'
            )
    if sub["cancel_at_period_end"]:
        lines.append(_button_form(_link(sb, f"{base}/resume"), "Resume plan", {}))
    else:
        if config["features"]["subscription_cancel"]["enabled"]:
            lines.append(_button_form(_link(sb, f"{base}/cancel_review"), "Cancel plan", {}, True))
        for choice in _choices(sb, config, sub):
            timing = (
                "at the end of the period"
                if scheduled_at_period_end(config, sub, choice)
                else "now"
            )
            label = f"Switch plan to {product_name(sb, choice)}, {price_label(choice)} ({timing})"
            lines.append(
                _button_form(_link(sb, f"{base}/review"), label, {"price": choice["id"]}, True)
            )
    lines.append("</section>")
    return "".join(lines)


def _invoice_history(sb: Sandbox, cust: dict[str, Any]) -> str:
    invoices = [
        i for i in sb.store.newest_first("invoice")
        if i["customer"] == cust["id"] and i["status"] != "draft"
    ]  # fmt: skip
    if not invoices:
        return '<h2>Invoice history</h2><p id="invoice-history">No invoices yet.</p>'
    rows = "".join(
        "<tr>"
        f"<td>{date(i['created'])}</td>"
        f"<td>{escape(i['number'] or '')}</td>"
        f"<td>{escape(money_text(i['total'], i['currency']))}</td>"
        f"<td>{escape(i['status'])}</td>"
        f'<td><a href="{escape(i["hosted_invoice_url"] or "")}">View</a></td>'
        "</tr>"
        for i in invoices
    )
    return (
        '<h2>Invoice history</h2><table id="invoice-history"><thead><tr><th>Date</th>'
        "<th>Number</th><th>Amount</th><th>Status</th><th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _portal_page(
    sb: Sandbox,
    portal: dict[str, Any],
    notice: str | None = None,
    error: str | None = None,
    typed: str = "",
) -> Response:
    cust = sb.store.get("customer", portal["customer"])
    config = _config(sb, portal)
    subs = [s for s in sb.store.newest_first("subscription") if s["customer"] == cust["id"]]
    parts = _header(sb, config)
    parts.append(f"<h1>Billing for {escape(cust['email'] or cust['id'])}</h1>")
    if notice in _NOTICES:
        parts.append(f'<p class="notice" role="status">{escape(_NOTICES[notice])}</p>')
    if error:
        parts.append(f'<p class="error" role="alert" id="portal-error">{escape(error)}</p>')
    if not subs:
        parts.append("<p>You have no subscriptions.</p>")
    parts.extend(_subscription_block(sb, portal, config, s) for s in subs)
    if config["features"]["payment_method_update"]["enabled"]:
        pm = sb.store.maybe("payment_method", cust["invoice_settings"]["default_payment_method"])
        card = f"Visa ending in {pm['card']['last4']}" if pm else "No card on file"
        action = _link(sb, f"/portal/{portal['id']}/card")
        parts.append(
            f"<h2>Payment method</h2><p>{escape(card)}</p>"
            f'<form method="post" action="{action}">{card_input(typed)}'
            '<button type="submit">Update card</button></form>'
        )
    if config["features"]["invoice_history"]["enabled"]:
        parts.append(_invoice_history(sb, cust))
    parts.append(_footer(portal, config))
    return page("Billing", "".join(parts), status=402 if error else 200)


def _confirm_update_page(
    sb: Sandbox,
    portal: dict[str, Any],
    sub: dict[str, Any],
    p: dict[str, Any],
    quantity: int,
    error: str | None = None,
) -> Response:
    config = _config(sb, portal)
    item = sub["items"]["data"][0]
    parts = _header(sb, config)
    parts.append("<h1>Confirm your new plan</h1>")
    parts.append(
        f"<p>From {escape(product_name(sb, item['price']))}, {escape(price_label(item['price']))}"
        f" to <strong>{escape(product_name(sb, p))}, {escape(price_label(p))}</strong></p>"
    )
    if error:
        parts.append(f'<p class="error" role="alert" id="portal-error">{escape(error)}</p>')
    if scheduled_at_period_end(config, sub, p):
        parts.append(
            f'<p id="when">Starts on {date(item["current_period_end"])}. '
            "Nothing is charged today.</p>"
        )
    else:
        behavior = config["features"]["subscription_update"]["proration_behavior"]
        change = sb.billing.plan_change(sub, p, quantity, behavior)
        due = sb.billing.preview_due(sub, change, p, quantity)
        net = sum(spec["amount"] for spec in change.prorations)
        if due is None:
            text = "Starts now. Nothing is charged today"
            if net:
                text += f"; {money_text(net, p['currency'])} is prorated on your next invoice"
            parts.append(f'<p id="when">{escape(text)}.</p>')
        else:
            parts.append(
                f'<p id="when">Starts now. Amount due today: '
                f"<strong>{escape(money_text(due, p['currency']))}</strong></p>"
            )
            if net < 0 and not change.reset_anchor:
                parts.append(
                    f"<p>{escape(money_text(-net, p['currency']))} of unused time is credited "
                    "to your balance.</p>"
                )
    base = f"/portal/{portal['id']}/subscriptions/{sub['id']}"
    parts.append(
        _button_form(
            _link(sb, f"{base}/update"), "Confirm", {"price": p["id"], "quantity": str(quantity)}
        )
    )
    parts.append(_back_link(sb, portal))
    return page("Confirm your new plan", "".join(parts), status=402 if error else 200)


def _confirm_cancel_page(sb: Sandbox, portal: dict[str, Any], sub: dict[str, Any]) -> Response:
    config = _config(sb, portal)
    item = sub["items"]["data"][0]
    immediately = config["features"]["subscription_cancel"]["mode"] == "immediately"
    when = (
        "now" if immediately else f"at the end of the period, on {date(item['current_period_end'])}"
    )
    parts = _header(sb, config)
    parts.append("<h1>Cancel your plan</h1>")
    parts.append(
        f"<p>Your {escape(product_name(sb, item['price']))} plan will be canceled {when}.</p>"
    )
    base = f"/portal/{portal['id']}/subscriptions/{sub['id']}"
    parts.append(_button_form(_link(sb, f"{base}/cancel"), "Confirm cancellation", {}))
    parts.append(_back_link(sb, portal))
    return page("Cancel your plan", "".join(parts))


def _flow_page(sb: Sandbox, portal: dict[str, Any]) -> Response | None:
    """The page a session's `flow_data` opens on, until that flow is done."""
    flow = portal["flow"]
    if flow is None or sb.store.private_of(portal["id"]).get("flow_done"):
        return None
    kind = flow["type"]
    if kind in ("subscription_update_confirm", "subscription_cancel"):
        sub = sb.store.maybe("subscription", flow[kind]["subscription"])
        if sub is None or sub["status"] == "canceled":
            return None
        if kind == "subscription_cancel":
            return _confirm_cancel_page(sb, portal, sub)
        item = flow[kind]["items"][0]
        p = sb.store.get("price", item["price"])
        return _confirm_update_page(sb, portal, sub, p, item["quantity"])
    return None


def _after_flow(sb: Sandbox, portal: dict[str, Any], notice: str) -> Response:
    """Where a completed action goes: the flow's `after_completion`, else the portal."""
    flow = portal["flow"]
    if flow is not None and not sb.store.private_of(portal["id"]).get("flow_done"):
        sb.store.private_of(portal["id"])["flow_done"] = True
        after = flow["after_completion"]
        if after["type"] == "redirect":
            return RedirectResponse(after["redirect"]["return_url"], status_code=303)
        if after["type"] == "hosted_confirmation":
            message = (after["hosted_confirmation"] or {}).get("custom_message")
            config = _config(sb, portal)
            body = "".join(_header(sb, config)) + "<h1>Done</h1>"
            body += f'<p class="notice" role="status">{escape(message or _NOTICES[notice])}</p>'
            return page("Done", body + _footer(portal, config))
    url = sb.settings.link(f"/portal/{portal['id']}") + "?" + urlencode({"notice": notice})
    return RedirectResponse(url, status_code=303)


async def portal_get(sb: Sandbox, request: Request) -> Response:
    with sb.store.lock:
        portal = sb.store.maybe("billing_portal.session", request.path_params["id"])
        if portal is None:
            return missing_page("Portal session")
        return _flow_page(sb, portal) or _portal_page(
            sb, portal, notice=request.query_params.get("notice")
        )


def _form_price(sb: Sandbox, config: dict[str, Any], sub: dict[str, Any], form: dict) -> Any:
    price_id = form.get("price")
    p = sb.store.maybe("price", price_id) if isinstance(price_id, str) else None
    if p is None or p not in _choices(sb, config, sub):
        raise StripeError(400, "Choose one of the plans shown.")
    quantity = form.get("quantity")
    current = sub["items"]["data"][0]["quantity"]
    return p, int(quantity) if isinstance(quantity, str) and quantity.isdigit() else current


async def portal_action(sb: Sandbox, request: Request) -> Response:
    form = await read_form(sb, request)
    action = request.path_params["action"]
    batch = sb.batch()
    with sb.store.lock:
        portal = sb.store.maybe("billing_portal.session", request.path_params["id"])
        if portal is None:
            return missing_page("Portal session")
        sub = sb.store.maybe("subscription", request.path_params["sub"])
        if sub is None or sub["customer"] != portal["customer"]:
            return missing_page("Subscription")
        config = _config(sb, portal)
        try:
            result = _apply(sb, batch, portal, config, sub, action, form)
        except StripeError as exc:
            if action == "update":
                try:
                    p, quantity = _form_price(sb, config, sub, form)
                    return _confirm_update_page(sb, portal, sub, p, quantity, exc.message)
                except StripeError:
                    pass
            return _portal_page(sb, portal, error=exc.message)
        if isinstance(result, Response):
            return result
    sb.deliverer.enqueue(batch.events)
    return _after_flow(sb, portal, result)


def _apply(
    sb: Sandbox,
    batch: Batch,
    portal: dict[str, Any],
    config: dict[str, Any],
    sub: dict[str, Any],
    action: str,
    form: dict,
) -> str | Response:
    cancel = config["features"]["subscription_cancel"]
    if action == "cancel_review" and cancel["enabled"]:
        return _confirm_cancel_page(sb, portal, sub)
    if action == "cancel" and cancel["enabled"]:
        sched = sb.store.maybe("subscription_schedule", sub["schedule"])
        if sched is not None and sched["status"] == "active":
            sb.billing.release_schedule(batch, sched)
        if cancel["mode"] == "immediately":
            sb.billing.cancel_now(batch, sub)
            return "canceled_now"
        sb.billing.update_subscription(batch, sub, cancel_at_period_end=True)
        return "canceled"
    if action == "resume":
        sb.billing.update_subscription(batch, sub, cancel_at_period_end=False)
        return "resumed"
    if action == "keep":
        sched = sb.store.maybe("subscription_schedule", sub["schedule"])
        if sched is None or sched["status"] != "active":
            raise StripeError(400, "There is no scheduled change.")
        sb.billing.release_schedule(batch, sched)
        return "kept"
    if action in ("review", "update"):
        if sub["status"] == "canceled":
            raise StripeError(400, "This subscription has ended.")
        p, quantity = _form_price(sb, config, sub, form)
        if action == "review":
            return _confirm_update_page(sb, portal, sub, p, quantity)
        behavior = config["features"]["subscription_update"]["proration_behavior"]
        if scheduled_at_period_end(config, sub, p):
            sb.billing.schedule_change(batch, sub, p, quantity, behavior)
            return "scheduled"
        sb.billing.update_subscription(
            batch,
            sub,
            new_price=p,
            quantity=quantity,
            proration_behavior=behavior,
            payment_behavior="error_if_incomplete",
        )
        sched = sb.store.maybe("subscription_schedule", sub["schedule"])
        if sched is not None and sched["status"] == "active":
            sb.billing.release_schedule(batch, sched)  # an immediate change replaces it
        return "switched"
    raise StripeError(404, "Unknown action.")


async def portal_card(sb: Sandbox, request: Request) -> Response:
    form = await read_form(sb, request)
    batch = sb.batch()
    number = form.get("cardnumber")
    number = number if isinstance(number, str) else ""
    with sb.store.lock:
        portal = sb.store.maybe("billing_portal.session", request.path_params["id"])
        if portal is None:
            return missing_page("Portal session")
        if not _config(sb, portal)["features"]["payment_method_update"]["enabled"]:
            return missing_page("Page")
        cust = sb.store.get("customer", portal["customer"])
        try:
            sb.billing.update_card(batch, cust, number)
        except PaymentDeclined as exc:
            return _portal_page(sb, portal, error=exc.message, typed=number[:40])
    sb.deliverer.enqueue(batch.events)
    return _after_flow(sb, portal, "card")


# -- hosted invoice page -----------------------------------------------------------------


def _invoice_page(
    sb: Sandbox, inv: dict[str, Any], error: str | None = None, typed: str = ""
) -> Response:
    cur = inv["currency"]
    parts = [merchant(sb), f"<h1>Invoice {escape(inv['number'] or '')}</h1>"]
    parts.append(
        f'<p>Status: <strong id="invoice-status">{escape(inv["status"])}</strong> · '
        f"{date(inv['created'])}</p>"
    )
    rows = [(line["description"] or "", line["amount"]) for line in inv["lines"]["data"]]
    rows.append(("Subtotal", inv["subtotal"]))
    for d in inv["total_discount_amounts"]:
        rows.append(("Discount", -d["amount"]))
    rows.append(("Total", inv["total"]))
    applied = (inv["ending_balance"] or 0) - inv["starting_balance"]
    if applied:
        rows.append(("Applied balance", applied if inv["total"] < 0 else -applied))
    rows.append(("Amount due", inv["amount_due"]))
    if inv["status"] == "paid":
        rows.append(("Amount paid", inv["amount_paid"]))
    parts.append('<table id="invoice-lines"><tbody>')
    parts.extend(
        f"<tr><td>{escape(label)}</td><td>{escape(money_text(amount, cur))}</td></tr>"
        for label, amount in rows
    )
    parts.append("</tbody></table>")
    if inv["status"] == "paid":
        parts.append(f'<p class="notice">Paid on {date(inv["status_transitions"]["paid_at"])}</p>')
        return page(f"Invoice {inv['number']}", "".join(parts))
    if inv["status"] != "open":
        return page(f"Invoice {inv['number']}", "".join(parts))
    pi = sb.store.maybe("payment_intent", sb.store.private_of(inv["id"]).get("payment_intent"))
    if pi is not None and pi["status"] == "requires_action":
        parts.append(
            '<p class="error" id="action-required">Your bank needs you to confirm this payment.</p>'
        )
    if error:
        parts.append(f'<p class="error" role="alert" id="card-error">{escape(error)}</p>')
    action = _link(sb, f"/invoice/{sb.store.private_of(inv['id'])['token']}")
    pm = sb.store.maybe("payment_method", (pi or {}).get("payment_method"))
    if pm is not None:
        parts.append(
            _button_form(
                action,
                f"Authenticate and pay {money_text(inv['amount_due'], cur)} with the Visa "
                f"ending in {pm['card']['last4']}",
                {"saved": "1"},
            )
        )
        parts.append("<h2>Or pay with another card</h2>")
    parts.append(
        f'<form method="post" action="{action}">{card_input(typed)}{TEST_CARDS_HINT}'
        f'<button type="submit">Pay {escape(money_text(inv["amount_due"], cur))}</button>'
        "</form>"
    )
    return page(f"Invoice {inv['number']}", "".join(parts), status=402 if error else 200)


def _hosted_invoice(sb: Sandbox, token: str) -> dict[str, Any] | None:
    invoice_id = sb.store.private.get("hosted:" + token, {}).get("invoice")
    return sb.store.maybe("invoice", invoice_id)


async def invoice_get(sb: Sandbox, request: Request) -> Response:
    with sb.store.lock:
        inv = _hosted_invoice(sb, request.path_params["token"])
        if inv is None:
            return missing_page("Invoice")
        return _invoice_page(sb, inv)


async def invoice_post(sb: Sandbox, request: Request) -> Response:
    """Pay on the hosted page: the customer is present, so 3-D Secure is completed here."""
    form = await read_form(sb, request)
    number = form.get("cardnumber")
    number = number if isinstance(number, str) else ""
    batch = sb.batch()
    with sb.store.lock:
        inv = _hosted_invoice(sb, request.path_params["token"])
        if inv is None:
            return missing_page("Invoice")
        if inv["status"] == "open":
            try:
                sb.billing.pay_invoice(batch, inv, number or None, off_session=False)
            except PaymentDeclined as exc:
                return _invoice_page(sb, inv, exc.message, number[:40])
            except StripeError as exc:
                return _invoice_page(sb, inv, exc.message, number[:40])
    sb.deliverer.enqueue(batch.events)
    return RedirectResponse(sb.settings.link(f"/invoice/{request.path_params['token']}"), 303)


def routes(sb: Sandbox) -> list[Route]:
    def bind(fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(sb, request)
            except StripeError as exc:  # raised by read_form; actions render their own errors
                return refused_page(exc.status)

        return endpoint

    return [
        Route("/checkout/{id}", bind(checkout_get), methods=["GET"]),
        Route("/checkout/{id}", bind(checkout_post), methods=["POST"]),
        Route("/portal/{id}", bind(portal_get), methods=["GET"]),
        Route("/portal/{id}/card", bind(portal_card), methods=["POST"]),
        Route("/portal/{id}/subscriptions/{sub}/{action}", bind(portal_action), methods=["POST"]),
        Route("/invoice/{token}", bind(invoice_get), methods=["GET"]),
        Route("/invoice/{token}", bind(invoice_post), methods=["POST"]),
    ]
