"""Hosted Checkout and customer-portal pages: plain server-rendered HTML forms.

Every link and form action is built from `settings.public_url`, so the pages work when the
sandbox is mounted under a prefix. Pages only ever show fixed notice texts chosen by code
(never text taken from the URL), and escape every stored value; every attribute is
double-quoted, which `escape` makes safe. The only stored URLs shown (cancel_url,
return_url) were checked by `urls.return_url` when their session was created. A strict
Content-Security-Policy (no script at all) backs this up, as the pages may be served on the
app's own origin.
"""

from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .billing import SCHEDULED_PRICE_KEY, PaymentDeclined
from .bodies import read_body
from .core import Sandbox
from .errors import StripeError
from .formdata import decode
from .periods import monthly_amount

_CSS = """
:root { color-scheme: light; font-family: system-ui, sans-serif; }
body { margin: 0; background: #f6f8fa; color: #1a1f36; }
main { max-width: 34rem; margin: 3rem auto; background: #fff; padding: 2rem;
       border-radius: 12px; box-shadow: 0 2px 12px rgba(0,0,0,.08); }
h1 { font-size: 1.4rem; margin-top: 0; }
h2 { font-size: 1.1rem; }
.amount { font-size: 2rem; font-weight: 600; margin: .25rem 0 1.5rem; }
label { display: block; font-weight: 600; margin: 1rem 0 .35rem; }
input[type=text], input[type=email] { width: 100%; box-sizing: border-box; padding: .6rem;
       font-size: 1rem; border: 1px solid #8792a2; border-radius: 6px; }
button { margin-top: 1rem; padding: .65rem 1.2rem; font-size: 1rem; border: 0;
         border-radius: 6px; background: #635bff; color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: #1a1f36; border: 1px solid #8792a2; }
button:focus-visible, a:focus-visible, input:focus-visible { outline: 3px solid #0a2540;
       outline-offset: 2px; }
.error { color: #b3093c; background: #fde8ec; padding: .6rem; border-radius: 6px; }
.notice { color: #0b6b3a; background: #e3f9ec; padding: .6rem; border-radius: 6px; }
.plan { border: 1px solid #e3e8ee; border-radius: 8px; padding: 1rem; margin: 1rem 0; }
.hint { color: #555; font-size: .9rem; }
form.inline { display: inline; }
footer { margin-top: 2rem; }
"""

_NOTICES = {
    "canceled": "Your plan will be canceled at the end of the billing period.",
    "resumed": "Your plan will continue.",
    "switched": "Your plan was changed and the new price was charged.",
    "scheduled": "Your plan will change at the end of the billing period.",
    "card": "Your card was updated.",
}


# The pages need inline CSS, forms and links, nothing else; they show emails, so no caching.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _money(amount: int, currency: str) -> str:
    symbols = {"usd": "$", "eur": "€", "gbp": "£"}
    if currency in symbols:
        return f"{symbols[currency]}{amount / 100:,.2f}"
    return f"{amount / 100:,.2f} {currency.upper()}"


def _price_label(p: dict[str, Any]) -> str:
    text = _money(p["unit_amount"], p["currency"])
    rec = p["recurring"]
    if rec:
        every = (
            rec["interval"]
            if rec["interval_count"] == 1
            else (f"{rec['interval_count']} {rec['interval']}s")
        )
        text += f" / {every}"
    return text


def _date(ts: int | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%B %d, %Y")


def _product_name(sb: Sandbox, p: dict[str, Any]) -> str:
    prod = sb.store.maybe("product", p["product"])
    name = prod["name"] if prod else p["product"]
    return f"{name} ({p['nickname']})" if p.get("nickname") else name


async def _form(sb: Sandbox, request: Request) -> dict[str, Any]:
    return decode(await read_body(request, sb.settings.max_body_bytes))


def _refused_page(status: int) -> Response:
    """A form that could not be read (too large, malformed): fixed text, nothing echoed."""
    if status == 413:
        return _page("Request too large", "<h1>This form submission is too large</h1>", 413)
    return _page("Bad request", "<h1>This form submission could not be read</h1>", 400)


# -- checkout ----------------------------------------------------------------------------


def _checkout_page(sb: Sandbox, session: dict[str, Any], error: str | None = None) -> Response:
    status = 402 if error else 200
    if session["status"] == "complete":
        return _page(
            "Payment complete",
            "<h1>Payment complete</h1><p>This checkout session is already complete; "
            "nothing more to pay.</p>",
        )
    if session["status"] == "expired":
        return _page(
            "Session expired",
            "<h1>This checkout session has expired</h1><p>Return to the site and start again.</p>",
            status=410,
        )
    private = sb.store.private_of(session["id"])
    p = sb.store.get("price", private["price"])
    quantity = private["quantity"]
    is_sub = session["mode"] == "subscription"
    action = escape(sb.checkout_url(session["id"]))
    parts = [
        f"<h1>{escape(_product_name(sb, p))}</h1>",
        f'<p class="amount">{escape(_price_label(p))}</p>',
    ]
    if quantity != 1:
        total = _money(session["amount_total"], session["currency"])
        parts.append(f"<p>Quantity: {quantity}, total {total}</p>")
    if error:
        parts.append(f'<p class="error" role="alert" id="card-error">{escape(error)}</p>')
    parts.append(f'<form method="post" action="{action}">')
    known_email = session["customer_email"] or (
        (sb.store.maybe("customer", session["customer"]) or {}).get("email")
    )
    if known_email:
        parts.append(f"<p>Paying as <strong>{escape(known_email)}</strong></p>")
    else:
        parts.append(
            '<label for="email">Email</label>'
            '<input type="email" id="email" name="email" autocomplete="email">'
        )
    described = ' aria-describedby="card-error" aria-invalid="true"' if error else ""
    parts.append(
        '<label for="cardnumber">Card number</label>'
        '<input type="text" id="cardnumber" name="cardnumber" inputmode="numeric" '
        f'autocomplete="cc-number" placeholder="4242 4242 4242 4242" required{described}>'
        '<p class="hint">Test cards: 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is '
        "declined; 4000 0000 0000 0341 succeeds now and fails on renewal.</p>"
        f'<button type="submit">{"Subscribe" if is_sub else "Pay"}</button></form>'
    )
    if session["cancel_url"]:
        parts.append(f'<footer><a href="{escape(session["cancel_url"])}">Cancel</a></footer>')
    return _page(f"Checkout - {_product_name(sb, p)}", "".join(parts), status)


def _missing_page(what: str) -> Response:
    return _page("Not found", f"<h1>{escape(what)} not found</h1>", status=404)


async def checkout_get(sb: Sandbox, request: Request) -> Response:
    batch = sb.batch()
    with sb.store.lock:
        session = sb.store.maybe("checkout.session", request.path_params["id"])
        if session is None:
            return _missing_page("Checkout session")
        sb.billing.expire_if_due(batch, session)
        page = _checkout_page(sb, session)
    sb.deliverer.enqueue(batch.events)
    return page


async def checkout_post(sb: Sandbox, request: Request) -> Response:
    form = await _form(sb, request)
    batch = sb.batch()
    with sb.store.lock:
        session = sb.store.maybe("checkout.session", request.path_params["id"])
        if session is None:
            return _missing_page("Checkout session")
        # A bracketed field name decodes to a dict or list: only a plain string is an email.
        email = form.get("email")
        try:
            sb.billing.complete_checkout(
                batch,
                session,
                str(form.get("cardnumber", "")),
                email if isinstance(email, str) and email else None,
            )
        except PaymentDeclined as exc:
            page = _checkout_page(sb, session, exc.message if session["status"] == "open" else None)
            sb.deliverer.enqueue(batch.events)  # a session that just expired says so
            return page
        success_url = session["success_url"]
    sb.deliverer.enqueue(batch.events)
    if success_url:
        target = success_url.replace("{CHECKOUT_SESSION_ID}", session["id"])
    else:
        target = sb.checkout_url(session["id"])
    return RedirectResponse(target, status_code=303)


# -- customer portal ---------------------------------------------------------------------


def _switch_forms(sb: Sandbox, portal_id: str, sub: dict[str, Any]) -> str:
    current = sub["items"]["data"][0]["price"]
    rec = current["recurring"]
    current_rate = monthly_amount(current["unit_amount"], rec["interval"], rec["interval_count"])
    forms = []
    for p in sb.store.newest_first("price"):
        if (
            p["id"] == current["id"]
            or not p["active"]
            or p["type"] != "recurring"
            or p["currency"] != current["currency"]
        ):
            continue
        r = p["recurring"]
        upgrade = monthly_amount(p["unit_amount"], r["interval"], r["interval_count"]) > (
            current_rate
        )
        when = "charged now" if upgrade else "from the next billing period"
        action = escape(sb.settings.link(f"/portal/{portal_id}/subscriptions/{sub['id']}/switch"))
        forms.append(
            f'<form method="post" action="{action}">'
            f'<input type="hidden" name="price" value="{escape(p["id"])}">'
            f'<button type="submit" class="secondary">Switch plan to '
            f"{escape(_product_name(sb, p))}, {escape(_price_label(p))} ({when})</button>"
            "</form>"
        )
    return "".join(forms)


def _subscription_block(sb: Sandbox, portal_id: str, sub: dict[str, Any]) -> str:
    item = sub["items"]["data"][0]
    p = item["price"]
    base = f"/portal/{portal_id}/subscriptions/{sub['id']}"
    lines = [
        '<section class="plan">',
        f"<h2>{escape(_product_name(sb, p))}</h2>",
        f"<p>{escape(_price_label(p))} · Status: <strong>{escape(sub['status'])}</strong></p>",
    ]
    if sub["status"] == "canceled":
        lines.append(f"<p>Ended {_date(sub['ended_at'])}</p></section>")
        return "".join(lines)
    end = _date(item["current_period_end"])
    if sub["cancel_at_period_end"]:
        lines.append(f"<p>Cancels on {end}</p>")
    else:
        lines.append(f"<p>Current period ends {end}</p>")
    scheduled = sub["metadata"].get(SCHEDULED_PRICE_KEY)
    if scheduled and sb.store.maybe("price", scheduled):
        new = sb.store.get("price", scheduled)
        lines.append(f"<p>Switches to {escape(_product_name(sb, new))} on {end}</p>")
    if sub["status"] == "past_due":
        lines.append('<p class="error">Your last payment failed. Update your card to pay it.</p>')
    if sub["cancel_at_period_end"]:
        action = escape(sb.settings.link(f"{base}/resume"))
        lines.append(
            f'<form method="post" action="{action}"><button type="submit">Resume plan'
            "</button></form>"
        )
    else:
        action = escape(sb.settings.link(f"{base}/cancel"))
        lines.append(
            f'<form method="post" action="{action}"><button type="submit" class="secondary">'
            "Cancel plan</button></form>"
        )
        lines.append(_switch_forms(sb, portal_id, sub))
    lines.append("</section>")
    return "".join(lines)


def _portal_page(
    sb: Sandbox,
    portal: dict[str, Any],
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    cust = sb.store.get("customer", portal["customer"])
    subs = [s for s in sb.store.newest_first("subscription") if s["customer"] == cust["id"]]
    parts = [f"<h1>Billing for {escape(cust['email'] or cust['id'])}</h1>"]
    if notice in _NOTICES:
        parts.append(f'<p class="notice" role="status">{escape(_NOTICES[notice])}</p>')
    if error:
        parts.append(f'<p class="error" role="alert" id="portal-error">{escape(error)}</p>')
    if not subs:
        parts.append("<p>You have no subscriptions.</p>")
    parts.extend(_subscription_block(sb, portal["id"], s) for s in subs)
    pm = sb.store.maybe("payment_method", cust["invoice_settings"]["default_payment_method"])
    card = f"Visa ending in {pm['card']['last4']}" if pm else "No card on file"
    action = escape(sb.settings.link(f"/portal/{portal['id']}/card"))
    parts.append(
        f"<h2>Payment method</h2><p>{escape(card)}</p>"
        f'<form method="post" action="{action}">'
        '<label for="cardnumber">Card number</label>'
        '<input type="text" id="cardnumber" name="cardnumber" inputmode="numeric" '
        'autocomplete="cc-number" required>'
        '<button type="submit">Update card</button></form>'
    )
    if portal["return_url"]:
        parts.append(f'<footer><a href="{escape(portal["return_url"])}">Return to app</a></footer>')
    return _page("Billing", "".join(parts), status=402 if error else 200)


def _back(sb: Sandbox, portal_id: str, notice: str) -> Response:
    url = sb.settings.link(f"/portal/{portal_id}") + "?" + urlencode({"notice": notice})
    return RedirectResponse(url, status_code=303)


async def portal_get(sb: Sandbox, request: Request) -> Response:
    portal = sb.store.maybe("billing_portal.session", request.path_params["id"])
    if portal is None:
        return _missing_page("Portal session")
    with sb.store.lock:
        return _portal_page(sb, portal, notice=request.query_params.get("notice"))


async def portal_action(sb: Sandbox, request: Request) -> Response:
    form = await _form(sb, request)
    action = request.path_params["action"]
    batch = sb.batch()
    with sb.store.lock:
        portal = sb.store.maybe("billing_portal.session", request.path_params["id"])
        if portal is None:
            return _missing_page("Portal session")
        sub = sb.store.maybe("subscription", request.path_params["sub"])
        if sub is None or sub["customer"] != portal["customer"]:
            return _missing_page("Subscription")
        try:
            notice = _apply(sb, batch, sub, action, form)
        except StripeError as exc:
            return _portal_page(sb, portal, error=exc.message)
    sb.deliverer.enqueue(batch.events)
    return _back(sb, portal["id"], notice)


def _apply(sb: Sandbox, batch: Any, sub: dict[str, Any], action: str, form: dict) -> str:
    if action == "cancel":
        sb.billing.update_subscription(batch, sub, cancel_at_period_end=True)
        return "canceled"
    if action == "resume":
        sb.billing.update_subscription(batch, sub, cancel_at_period_end=False)
        return "resumed"
    if action == "switch":
        p = sb.store.maybe("price", str(form.get("price", "")))
        if p is None or not p["active"] or p["type"] != "recurring":
            raise StripeError(400, "Choose one of the plans shown.")
        current = sub["items"]["data"][0]["price"]
        cur, new = current["recurring"], p["recurring"]
        upgrade = monthly_amount(p["unit_amount"], new["interval"], new["interval_count"]) > (
            monthly_amount(current["unit_amount"], cur["interval"], cur["interval_count"])
        )
        sb.billing.update_subscription(
            batch,
            sub,
            new_price=p,
            proration_behavior="always_invoice" if upgrade else "none",
        )
        return "switched" if upgrade else "scheduled"
    raise StripeError(404, "Unknown action.")


async def portal_card(sb: Sandbox, request: Request) -> Response:
    form = await _form(sb, request)
    batch = sb.batch()
    with sb.store.lock:
        portal = sb.store.maybe("billing_portal.session", request.path_params["id"])
        if portal is None:
            return _missing_page("Portal session")
        cust = sb.store.get("customer", portal["customer"])
        try:
            sb.billing.update_card(batch, cust, str(form.get("cardnumber", "")))
        except PaymentDeclined as exc:
            return _portal_page(sb, portal, error=exc.message)
    sb.deliverer.enqueue(batch.events)
    return _back(sb, portal["id"], "card")


def routes(sb: Sandbox) -> list[Route]:
    def bind(fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(sb, request)
            except StripeError as exc:  # raised by _form; actions render their own errors
                return _refused_page(exc.status)

        return endpoint

    return [
        Route("/checkout/{id}", bind(checkout_get), methods=["GET"]),
        Route("/checkout/{id}", bind(checkout_post), methods=["POST"]),
        Route("/portal/{id}", bind(portal_get), methods=["GET"]),
        Route("/portal/{id}/card", bind(portal_card), methods=["POST"]),
        Route("/portal/{id}/subscriptions/{sub}/{action}", bind(portal_action), methods=["POST"]),
    ]
