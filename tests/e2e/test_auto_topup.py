"""Auto top-up on the dashboard, in Chromium against the embedded Stripe sandbox: a pack
bought through Checkout saves the card; turned on, a spend that crosses the threshold buys
the pack off-session and the credits land in the open tab without a reload; the form's
checks; a card that fails off-session shows the error with a way to pay with another."""

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from credit_app.auth.accounts import user_id_by_email
from credit_app.billing import auto_topup
from credit_app.db import session_scope
from credit_app.models import AutoTopUp
from tests.e2e.helpers import expect_balance, pay_on_checkout, sign_up

pytestmark = pytest.mark.e2e

# The sandbox's card that pays on-session and is declined off-session.
FAILS_OFF_SESSION = "4000 0000 0000 0341"
# The background loop starts a charge within ~1 s of the crossing; the sandbox answers and
# its webhook grants: a few seconds, more on a busy machine.
TOP_UP_TIMEOUT = 30_000


def _user(app, email: str) -> uuid.UUID:
    with session_scope(app.engine) as session:
        return user_id_by_email(session, email)


def _saved_settings(app, email: str) -> AutoTopUp | None:
    with session_scope(app.engine) as session:
        row = session.get(AutoTopUp, _user(app, email))
        if row is not None:
            session.expunge(row)
        return row


def _sign_up(page: Page, email: str) -> None:
    sign_up(page, email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect(page.locator("#auto-topup-state")).to_have_text("Off")


def _buy_pack(page: Page, card: str = "4242 4242 4242 4242") -> None:
    page.get_by_role("link", name="Pricing").click()
    expect(page).to_have_url(re.compile(r"/pricing/?$"))
    page.locator("#choose-pack_500").click()
    pay_on_checkout(page, card)
    expect(page.locator("#confirmed")).to_contain_text("+500 credits", timeout=30_000)


def _fill_form(page: Page, threshold: str, cap: str, *, consent: bool) -> None:
    card = page.locator("#auto-topup")
    card.get_by_label("Top up below (credits)").fill(threshold)
    card.get_by_label("Pack to buy").select_option("pack_500")
    card.get_by_label("Monthly cap ($)").fill(cap)
    if consent:
        page.locator("#auto-topup-consent-box").check()


def _turn_on(page: Page, threshold: str, cap: str = "24") -> None:
    _fill_form(page, threshold, cap, consent=True)
    page.locator("#auto-topup-save").click()
    expect(page.locator("#auto-topup-state")).to_have_text("On")


def _spend_one_credit_in(page: Page) -> None:
    """Use the QR tool (1 credit) in another tab of the same session."""
    tools = page.context.new_page()
    tools.goto("/tools")
    tools.get_by_label("Text or link").fill("https://example.com/auto-top-up")
    tools.locator("#run-qr").click()
    expect(tools.locator("#qr-image")).to_be_visible()
    tools.close()


def _mark_page(page: Page) -> None:
    """A mark a reload would wipe: the page must still carry it at the end."""
    page.evaluate("window.__notReloaded = true")


def _not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def test_auto_topup_buys_a_pack_when_a_spend_crosses_the_threshold(page: Page, new_email: str, app):
    _sign_up(page, new_email)
    _buy_pack(page)
    page.goto("/dashboard")
    expect_balance(page, 600)
    # The pack's card is saved, and named before auto top-up is on.
    expect(page.locator("#auto-topup-state")).to_have_text("Off")
    expect(page.locator("#auto-topup-card")).to_contain_text("Visa •••• 4242")

    # The consent sentence follows the pack and the cap as they are typed.
    _fill_form(page, "600", "24", consent=False)
    label = page.locator("#auto-topup-consent-label")
    expect(label).to_have_text(auto_topup.consent_words("pack_500", 2400))
    page.locator("#auto-topup").get_by_label("Monthly cap ($)").fill("40")
    expect(label).to_contain_text("up to $40 a month")
    page.locator("#auto-topup").get_by_label("Monthly cap ($)").fill("24")
    expect(label).to_contain_text("$8 for 500 credits")
    expect(label).to_contain_text("up to $24 a month")

    # Available 600 is not below 600: nothing is bought when it is turned on.
    _turn_on(page, "600")
    summary = page.locator("#auto-topup-summary")
    expect(summary).to_have_text(
        "On: when your available balance falls below 600 credits, we buy 500 credits for $8 "
        "with Visa •••• 4242."
    )
    expect(page.locator("#auto-topup-cap-used")).to_have_text(
        "$0 of your $24 monthly cap used this month."
    )
    expect(page.locator("#auto-topup-next")).to_contain_text("Next charge: $8 for 500 credits")
    expect(page.locator("#auto-topup-consent")).to_contain_text(
        auto_topup.consent_words("pack_500", 2400)
    )
    saved = _saved_settings(app, new_email)
    assert saved is not None and saved.enabled and saved.threshold == 600
    assert saved.monthly_cap == 2400 and saved.consented_at is not None

    # A spend in another tab crosses the threshold; this tab is never reloaded.
    _mark_page(page)
    _spend_one_credit_in(page)
    expect(page.locator("#dashboard-balance")).to_have_text("1,099", timeout=TOP_UP_TIMEOUT)
    expect(page.locator("#recent-activity").get_by_text("500 credits pack")).to_have_count(2)
    expect(page.locator("#auto-topup-cap-used")).to_have_text(
        "$8 of your $24 monthly cap used this month."
    )
    expect(page.locator("#auto-topup-buying")).to_have_count(0)
    expect(page.locator("#auto-topup-problem")).to_have_count(0)
    assert _not_reloaded(page)

    # Turned off: nothing more is charged, and the form is back.
    page.locator("#auto-topup-off").click()
    expect(page.locator("#auto-topup-state")).to_have_text("Off")
    expect(page.locator("#auto-topup-status")).to_have_text(
        "Auto top-up is off. Nothing more will be charged."
    )
    expect(page.locator("#auto-topup-save")).to_have_text("Turn on")
    saved = _saved_settings(app, new_email)
    assert saved is not None and not saved.enabled


def test_the_form_names_each_problem_and_saves_nothing(page: Page, new_email: str, app):
    _sign_up(page, new_email)
    expect(page.locator("#auto-topup-card-error")).to_contain_text("no saved card yet")
    expect(page.get_by_role("button", name="Buy a pack to save your card")).to_be_visible()

    threshold = page.locator("#auto-topup-threshold")
    consent = page.locator("#auto-topup-consent-box")
    _fill_form(page, "0", "5", consent=False)
    page.locator("#auto-topup-save").click()
    expect(page.locator("#auto-topup-threshold-error")).to_contain_text("from 1 to 1,000,000")
    expect(threshold).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#auto-topup-cap-error")).to_contain_text("at least one pack ($8)")
    expect(page.locator("#auto-topup-cap")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#auto-topup-consent-error")).to_have_text(
        "Tick the box to allow these charges."
    )
    expect(consent).to_have_attribute("aria-invalid", "true")

    # Fixed fields lose their error as they are corrected; no consent is still refused.
    threshold.fill("40")
    expect(threshold).to_have_attribute("aria-invalid", "false")
    page.locator("#auto-topup-cap").fill("24")
    expect(page.locator("#auto-topup-cap")).to_have_attribute("aria-invalid", "false")
    # Sent from the keyboard (Enter in a field submits the form).
    threshold.press("Enter")
    expect(page.locator("#auto-topup-consent-error")).to_have_text(
        "Tick the box to allow these charges."
    )
    expect(page.locator("#auto-topup-threshold-error")).to_have_text("")
    assert _saved_settings(app, new_email) is None

    # Consent given, but no card saved yet: the way to save one.
    consent.check()
    expect(consent).to_have_attribute("aria-invalid", "false")
    page.locator("#auto-topup-save").click()
    expect(page.locator("#auto-topup-card-error")).to_have_text(auto_topup.NO_CARD)
    assert _saved_settings(app, new_email) is None
    page.reload()
    expect(page.locator("#auto-topup-state")).to_have_text("Off")

    # "Buy a pack to save your card" is the pack's checkout; the card is then named.
    page.get_by_role("button", name="Buy a pack to save your card").click()
    pay_on_checkout(page)
    expect(page.locator("#confirmed")).to_contain_text("+500 credits", timeout=30_000)
    page.goto("/dashboard")
    expect(page.locator("#auto-topup-card")).to_contain_text("Visa •••• 4242")


def test_a_card_declined_off_session_shows_the_error_and_the_fix(page: Page, new_email: str):
    _sign_up(page, new_email)
    _buy_pack(page, FAILS_OFF_SESSION)
    page.goto("/dashboard")
    expect_balance(page, 600)
    _turn_on(page, "600")
    _mark_page(page)
    _spend_one_credit_in(page)
    problem = page.locator("#auto-topup-problem")
    expect(problem).to_contain_text(
        "Auto top-up could not charge your card.", timeout=TOP_UP_TIMEOUT
    )
    expect(problem).to_have_attribute("role", "alert")
    expect(problem.get_by_role("button", name="Pay with another card")).to_be_visible()
    expect(page.locator("#auto-topup-notice")).to_contain_text("could not charge your card")
    expect(page.locator("#dashboard-balance")).to_have_text("599")
    assert _not_reloaded(page)
    # Paying with another card is the pack's checkout.
    problem.get_by_role("button", name="Pay with another card").click()
    expect(page.get_by_label("Card number")).to_be_visible()
