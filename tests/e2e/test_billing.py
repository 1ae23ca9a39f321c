"""Buying credits in Chromium: pricing → hosted checkout → webhook → dashboard, with the
embedded Stripe sandbox served by the app itself."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import expect_balance, fill_signup, pay_on_checkout, sign_up

pytestmark = pytest.mark.e2e


def _to_pricing(page: Page, email: str) -> None:
    sign_up(page, email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    page.get_by_role("link", name="Pricing").click()
    expect(page).to_have_url(re.compile(r"/pricing/?$"))


def test_subscribe_with_a_card_and_see_the_credits_and_plan(page: Page, new_email: str):
    _to_pricing(page, new_email)
    expect(page.locator("#plan-free")).to_contain_text("Current plan")
    page.get_by_role("radio", name="Yearly").click()
    expect(page.locator("#plan-pro")).to_contain_text("12,000 credits every year")
    page.get_by_role("radio", name="Monthly").click()
    page.locator("#choose-pro_monthly").click()
    pay_on_checkout(page)
    expect(page).to_have_url(re.compile(r"/billing/success"))
    expect(page.locator("#confirmed")).to_contain_text("Payment confirmed", timeout=30_000)
    expect(page.locator("#confirmed-balance")).to_have_text("1,100")
    page.get_by_role("link", name="Go to dashboard").click()
    expect_balance(page, 1100)
    expect(page.locator("#dashboard-plan")).to_have_text("Pro")
    expect(page.locator("#recent-activity")).to_contain_text("Pro monthly credits")


def test_a_declined_card_changes_nothing(page: Page, new_email: str):
    _to_pricing(page, new_email)
    page.locator("#choose-business_monthly").click()
    pay_on_checkout(page, "4000 0000 0000 0002")
    expect(page.get_by_text("Your card was declined.")).to_be_visible()
    page.get_by_role("link", name=re.compile("Cancel")).click()
    expect(page).to_have_url(re.compile(r"/pricing/?\?canceled=1"))
    expect(page.get_by_text("Checkout canceled. Nothing was charged.")).to_be_visible()
    page.goto("/dashboard")
    expect_balance(page, 100)
    expect(page.locator("#dashboard-plan")).to_have_text("Free")


def test_buy_a_credit_pack(page: Page, new_email: str):
    _to_pricing(page, new_email)
    page.locator("#choose-pack_500").click()
    pay_on_checkout(page)
    expect(page.locator("#confirmed")).to_contain_text("+500 credits", timeout=30_000)
    page.goto("/dashboard")
    expect_balance(page, 600)
    expect(page.locator("#dashboard-plan")).to_have_text("Free")


def test_cancel_in_the_portal_then_see_until_when(page: Page, new_email: str):
    _to_pricing(page, new_email)
    page.locator("#choose-pro_monthly").click()
    pay_on_checkout(page)
    expect(page.locator("#confirmed")).to_be_visible(timeout=30_000)
    page.goto("/dashboard")
    page.get_by_role("button", name="Manage subscription").click()
    page.get_by_role("button", name="Cancel plan").click()
    page.get_by_role("button", name="Confirm cancellation").click()  # the portal asks first
    expect(page.get_by_role("button", name="Resume plan")).to_be_visible()
    page.get_by_role("link", name="Return to app").click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect(page.locator("#plan-status")).to_contain_text("Cancels on", timeout=15_000)


def test_upgrade_in_the_portal_then_a_downgrade_is_shown_as_scheduled(page: Page, new_email: str):
    _to_pricing(page, new_email)
    page.locator("#choose-pro_monthly").click()
    pay_on_checkout(page)
    expect(page.locator("#confirmed")).to_be_visible(timeout=30_000)
    # A subscriber's plan button opens the portal on the confirmation of that change.
    page.goto("/pricing")
    page.locator("#choose-business_monthly").click()
    expect(page.get_by_role("heading", name="Confirm your new plan")).to_be_visible()
    expect(page.locator("#when")).to_contain_text("Amount due today")  # invoiced at once
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect(page.locator("#dashboard-plan")).to_have_text("Business", timeout=15_000)
    # Credits follow money: the prorated difference (nearly a whole month here), with the
    # upgrade invoice's grant in the ledger.
    expect(page.locator("#recent-activity")).to_contain_text("Business monthly credits")
    balance = int(page.locator("#dashboard-balance").inner_text().replace(",", ""))
    assert 1100 + 3900 <= balance < 1100 + 5000
    # A downgrade waits for the period end, and the dashboard says so.
    page.goto("/pricing")
    page.locator("#choose-pro_monthly").click()
    expect(page.locator("#when")).to_contain_text("Nothing is charged today")
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect(page.locator("#plan-status")).to_contain_text(
        "Changes to Pro monthly on", timeout=15_000
    )
    expect(page.locator("#dashboard-plan")).to_have_text("Business")


def test_signed_out_visitors_sign_up_and_come_back_to_their_plan(page: Page, new_email: str):
    page.goto("/pricing")
    page.locator("#choose-business_monthly").wait_for()
    page.get_by_role("radio", name="Yearly").click()
    page.locator("#choose-business_yearly").click()
    expect(page).to_have_url(re.compile(r"/signup/?\?next="))
    fill_signup(page, new_email)
    expect(page).to_have_url(re.compile(r"/pricing/?\?plan=business_yearly"))
    expect(page.locator("#plan-business")).to_have_css("outline-style", "solid")
    expect(page.locator("#plan-business")).to_contain_text("60,000 credits every year")
