"""The public pages as compiled (the landing page, the legal pages, the 404 page, the footer
and the pricing copy): what they say comes from the catalogs, and a link styled as a button
is one `<a>` (one tab stop), never a button inside a link."""

import re

import pytest
import reflex as rx

from credit_app import routes
from credit_app.billing import catalog
from credit_app.components.footer import site_footer
from credit_app.pages.index import index_page
from credit_app.pages.legal import privacy_page, refunds_page, terms_page
from credit_app.pages.not_found import not_found_page
from credit_app.pages.pricing import pricing_page
from credit_app.settings import get_settings
from credit_app.tools import load_catalog


def _js(component: rx.Component) -> str:
    """The compiled JSX, with its \\uXXXX escapes (¢, ·, ©) read back."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), str(component))


def _no_button_inside_a_link(js: str) -> None:
    """A Reflex link (RadixThemesLink) whose child is a RadixThemesButton: two tab stops."""
    assert not re.search(r"jsx\(RadixThemesLink,\{[^}]*\},jsx\(RadixThemesButton", js)
    assert not re.search(r"jsx\(ReactRouterLink,\{[^}]*\},jsx\(RadixThemesButton", js)


PAGES = {
    "index": index_page,
    "terms": terms_page,
    "privacy": privacy_page,
    "refunds": refunds_page,
    "not_found": not_found_page,
    "pricing": pricing_page,
}


@pytest.mark.parametrize("page", PAGES.values(), ids=PAGES.keys())
def test_no_page_puts_a_button_inside_a_link(page):
    _no_button_inside_a_link(_js(page()))


def test_the_landing_page_lists_the_tools_and_the_plans_with_their_prices():
    js = _js(index_page())
    assert f"get {get_settings().initial_credits} credits free" in js
    for tool in load_catalog().values():
        assert tool.name in js and f"{tool.credits} credit" in js
    for tier in catalog.tiers():
        assert f"{catalog.price_text(tier.monthly.price)} / month" in js
        assert catalog.per_credit_label(tier.monthly) in js
    for pack in catalog.packs():
        assert f"{pack.name} for {catalog.price_text(pack.price)}" in js
    assert js.count("Best value") == 1
    assert catalog.unused_credits_sentence() in js
    # The way in: a button-styled link (one `<a>`), not "<a><button>".
    assert re.search(
        r'asChild:true,size:"4"\},jsx\(RadixThemesLink,\{.{0,120}?id:"landing-signup"', js
    )
    assert f'to:"{routes.SIGNUP}"' in js and f'to:"{routes.PRICING}"' in js


def test_pricing_shows_price_per_credit_marks_the_best_value_and_the_unused_credits_rule():
    js = _js(pricing_page())
    for plan in catalog.plans():
        if plan.credits_granted:
            assert catalog.per_credit_label(plan) in js, plan.id
    for interval in catalog.PlanInterval:
        assert f"best-value-{catalog.best_value_plan(interval).id}" in js
    assert js.count('id:"best-value-') == 2
    assert catalog.unused_credits_sentence() in js
    assert catalog.packs_compared() in js
    # The ids and texts the browser tests use stay.
    for kept in ("plan-pro", "plan-business", "plan-free", "choose-pack_500", "credits every year"):
        assert kept in js


def test_the_footer_links_the_legal_pages():
    js = _js(site_footer())
    for label, path in (
        ("Terms", routes.TERMS),
        ("Privacy", routes.PRIVACY),
        ("Refunds", routes.REFUNDS),
    ):
        assert f'to:"{path}"' in js and f'"{label}"' in js
    assert 'jsx("footer"' in js and "©" in js


def test_the_privacy_page_names_what_the_app_stores_and_not_cards():
    js = _js(privacy_page())
    for stored in (
        "email address, name",
        "Argon2 hash",
        "SHA-256 hash of its session token",
        "credit ledger",
        "Stripe customer id",
        "Stripe ids of your subscription",
        "webhook events",
        "Tool runs",
        "client address (IP)",
        "credit_session",
    ):
        assert stored in js, stored
    assert "Card numbers" in js and "never to us" in js


def test_the_terms_and_refund_pages_state_the_billing_rules():
    terms, refunds = _js(terms_page()), _js(refunds_page())
    assert "no cash value" in terms
    assert catalog.unused_credits_sentence() in terms
    for tool in load_catalog().values():
        assert f"{tool.name}: {tool.credits} credit" in terms
    assert "in proportion to the amount refunded" in refunds
    assert "A dispute (chargeback) takes back the credits" in refunds
    assert "never goes below zero" in refunds


def test_the_404_page_leads_home():
    js = _js(not_found_page())
    assert "Page not found" in js
    assert 'id:"not-found-home"' in js and f'to:"{routes.HOME}"' in js
