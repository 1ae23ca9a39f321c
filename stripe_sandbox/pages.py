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

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .billing import PaymentDeclined, money
from .bodies import read_body
from .core import Sandbox
from .formdata import decode

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
.merchant { color: #555; font-weight: 600; margin: 0 0 1rem; }
.summary { border-top: 1px solid #e3e8ee; margin-top: 1rem; padding-top: .5rem; }
.row { display: flex; justify-content: space-between; margin: .3rem 0; }
table { width: 100%; border-collapse: collapse; }
td, th { text-align: left; padding: .35rem .25rem; border-bottom: 1px solid #e3e8ee; }
"""

# The pages need inline CSS, forms and links, nothing else; they show emails, so no caching.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
}


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def money_text(amount: int, currency: str) -> str:
    return money(amount, currency)


def price_label(p: dict[str, Any]) -> str:
    text = money_text(p["unit_amount"], p["currency"])
    rec = p["recurring"]
    if rec:
        every = (
            rec["interval"]
            if rec["interval_count"] == 1
            else (f"{rec['interval_count']} {rec['interval']}s")
        )
        text += f" / {every}"
    return text


def date(ts: int | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%B %d, %Y")


def product_name(sb: Sandbox, p: dict[str, Any]) -> str:
    prod = sb.store.maybe("product", p["product"])
    name = prod["name"] if prod else p["product"]
    return f"{name} ({p['nickname']})" if p.get("nickname") else name


async def read_form(sb: Sandbox, request: Request) -> dict[str, Any]:
    return decode(await read_body(request, sb.settings.max_body_bytes))


def refused_page(status: int) -> Response:
    """A form that could not be read (too large, malformed): fixed text, nothing echoed."""
    if status == 413:
        return page("Request too large", "<h1>This form submission is too large</h1>", 413)
    return page("Bad request", "<h1>This form submission could not be read</h1>", 400)


# -- checkout ----------------------------------------------------------------------------


def merchant(sb: Sandbox) -> str:
    return f'<p class="merchant">{escape(sb.settings.business_name)}</p>'


def card_input(value: str = "", described: str = "") -> str:
    """The card-number field; after a decline it keeps what was typed, as Stripe's does."""
    shown = f' value="{escape(value)}"' if value else ""
    return (
        '<label for="cardnumber">Card number</label>'
        '<input type="text" id="cardnumber" name="cardnumber" inputmode="numeric" '
        f'autocomplete="cc-number" placeholder="4242 4242 4242 4242"{shown} required{described}>'
    )


TEST_CARDS_HINT = (
    '<p class="hint">Test cards: 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is '
    "declined; 4000 0000 0000 9995 is declined for insufficient funds; 4000 0000 0000 0341 "
    "succeeds now and fails on renewal; 4000 0027 6000 3184 and 4000 0025 0000 3155 need "
    "authentication (done here) and again on every payment made without you.</p>"
)


def checkout_page(
    sb: Sandbox,
    session: dict[str, Any],
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    status = 402 if error else 200
    typed = typed or {}
    if session["status"] == "complete":
        return page(
            "Payment complete",
            "<h1>Payment complete</h1><p>This checkout session is already complete; "
            "nothing more to pay.</p>",
        )
    if session["status"] == "expired":
        return page(
            "Session expired",
            "<h1>This checkout session has expired</h1><p>Return to the site and start again.</p>",
            status=410,
        )
    private = sb.store.private_of(session["id"])
    p = sb.store.get("price", private["price"])
    prod = sb.store.maybe("product", p["product"]) or {}
    quantity = private["quantity"]
    is_sub = session["mode"] == "subscription"
    action = escape(sb.checkout_url(session["id"]))
    parts = [
        merchant(sb),
        f"<h1>{'Subscribe to ' if is_sub else ''}{escape(product_name(sb, p))}</h1>",
    ]
    if prod.get("description"):
        parts.append(f'<p id="product-description">{escape(prod["description"])}</p>')
    parts.append(f'<p class="amount">{escape(price_label(p))}</p>')
    currency = session["currency"]
    rows = [("Subtotal" if quantity == 1 else f"Quantity {quantity}", session["amount_subtotal"])]
    discount = session["total_details"]["amount_discount"]
    if discount:
        cpn = sb.store.maybe("coupon", session["discounts"][0]["coupon"]) or {}
        rows.append((f"Discount ({cpn.get('name') or cpn.get('id', '')})", -discount))
    if session["automatic_tax"]["enabled"]:
        rows.append(("Tax (not computed by the sandbox)", 0))
    rows.append(("Total due today", session["amount_total"]))
    parts.append('<div class="summary">')
    parts.extend(
        f'<p class="row"><span>{escape(label)}</span><span>{escape(money_text(amount, currency))}'
        "</span></p>"
        for label, amount in rows
    )
    parts.append("</div>")
    if error:
        parts.append(f'<p class="error" role="alert" id="card-error">{escape(error)}</p>')
    parts.append(f'<form method="post" action="{action}">')
    known_email = session["customer_email"] or (
        (sb.store.maybe("customer", session["customer"]) or {}).get("email")
    )
    if known_email:
        parts.append(f"<p>Paying as <strong>{escape(known_email)}</strong></p>")
    else:
        email = f' value="{escape(typed["email"])}"' if typed.get("email") else ""
        parts.append(
            '<label for="email">Email</label>'
            f'<input type="email" id="email" name="email" autocomplete="email"{email}>'
        )
    described = ' aria-describedby="card-error" aria-invalid="true"' if error else ""
    parts.append(
        card_input(typed.get("cardnumber", ""), described)
        + _saving_notice(sb, private.get("setup_future_usage"))
        + TEST_CARDS_HINT
        + f'<button type="submit">{"Subscribe" if is_sub else "Pay"}</button></form>'
    )
    if session["cancel_url"]:
        parts.append(f'<footer><a href="{escape(session["cancel_url"])}">Cancel</a></footer>')
    return page(f"Checkout - {product_name(sb, p)}", "".join(parts), status)


def _saving_notice(sb: Sandbox, setup_future_usage: str | None) -> str:
    """Checkout tells the customer when their card is saved (Stripe's wording)."""
    name = escape(sb.settings.business_name)
    if setup_future_usage == "off_session":
        return (
            f'<p class="hint" id="save-notice">By providing your card information, you allow '
            f"{name} to charge your card for future payments in accordance with their terms.</p>"
        )
    if setup_future_usage == "on_session":
        return f'<p class="hint" id="save-notice">Your card will be saved with {name}.</p>'
    return ""


def missing_page(what: str) -> Response:
    return page("Not found", f"<h1>{escape(what)} not found</h1>", status=404)


async def checkout_get(sb: Sandbox, request: Request) -> Response:
    batch = sb.batch()
    with sb.store.lock:
        session = sb.store.maybe("checkout.session", request.path_params["id"])
        if session is None:
            return missing_page("Checkout session")
        sb.billing.expire_if_due(batch, session)
        page = checkout_page(sb, session)
    sb.deliverer.enqueue(batch.events)
    return page


def _text(form: dict[str, Any], name: str) -> str:
    """A plain string field (a bracketed name decodes to a dict or list: ignored)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def checkout_post(sb: Sandbox, request: Request) -> Response:
    form = await read_form(sb, request)
    batch = sb.batch()
    with sb.store.lock:
        session = sb.store.maybe("checkout.session", request.path_params["id"])
        if session is None:
            return missing_page("Checkout session")
        email = _text(form, "email")
        number = _text(form, "cardnumber")
        try:
            sb.billing.complete_checkout(batch, session, number, email or None)
        except PaymentDeclined as exc:
            page = checkout_page(
                sb,
                session,
                exc.message if session["status"] == "open" else None,
                {"email": email, "cardnumber": number[:40]},
            )
            sb.deliverer.enqueue(batch.events)  # a session that just expired says so
            return page
        success_url = session["success_url"]
    sb.deliverer.enqueue(batch.events)
    if success_url:
        target = success_url.replace("{CHECKOUT_SESSION_ID}", session["id"])
    else:
        target = sb.checkout_url(session["id"])
    return RedirectResponse(target, status_code=303)
