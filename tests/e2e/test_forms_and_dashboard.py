"""Form errors that follow the fields, the empty log-in, the duplicate-email link, the
dashboard's ways on, and /usage filters kept in the URL (issue #9, items 10 and 19)."""

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from credit_app import credits
from credit_app.auth.accounts import user_id_by_email
from credit_app.db import session_scope
from tests.e2e.helpers import PASSWORD, expect_balance, log_out, sign_up

pytestmark = pytest.mark.e2e


def _spend(app, email: str, amount: int, feature: str) -> None:
    with session_scope(app.engine) as session:
        user_id = user_id_by_email(session, email)
        credits.spend(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=uuid.uuid4().hex,
            feature=feature,
        )


def test_signup_errors_clear_as_each_field_is_fixed(page: Page):
    page.goto("/signup")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()

    email, name, password = (
        page.get_by_label("Email"),
        page.get_by_label("Name"),
        page.get_by_label("Password"),
    )
    expect(page.locator("#signup-password-error")).to_have_text(
        "Password must be at least 8 characters."
    )
    # One message per rule: the hint saying the same is hidden while the error shows.
    expect(page.get_by_text("8 characters")).to_have_count(1)
    for field in (email, name, password):
        expect(field).to_have_attribute("aria-invalid", "true")

    password.fill(PASSWORD)
    expect(page.locator("#signup-password-error")).to_have_text("")
    expect(password).to_have_attribute("aria-invalid", "false")
    expect(page.locator("#signup-password-hint")).to_be_visible()

    name.fill("Ada Lovelace")
    name.blur()
    expect(page.locator("#signup-name-error")).to_have_text("")
    expect(name).to_have_attribute("aria-invalid", "false")

    # A field still wrong keeps its message; fixed, it goes.
    email.fill("still@wrong")
    expect(page.locator("#signup-email-error")).to_contain_text("valid email")
    expect(email).to_have_attribute("aria-invalid", "true")
    email.fill("ada@example.com")
    expect(page.locator("#signup-email-error")).to_have_text("")
    expect(email).to_have_attribute("aria-invalid", "false")


def test_an_empty_login_names_the_missing_fields(page: Page):
    page.goto("/login")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-email-error")).to_have_text("Enter your email.")
    expect(page.locator("#login-password-error")).to_have_text("Enter your password.")
    expect(page.get_by_text("incorrect")).to_have_count(0)
    expect(page.locator("#login-error")).to_have_count(0)
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Email").fill("someone@example.com")
    expect(page.locator("#login-email-error")).to_have_text("")
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "false")
    expect(page.locator("#login-password-error")).to_have_text("Enter your password.")

    # Filled in but wrong: the one generic message, nothing about the account.
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_have_text("Email or password is incorrect.")
    expect(page.locator("#login-password-error")).to_have_text("")


def test_a_taken_email_offers_a_log_in_link(page: Page, new_email: str):
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    log_out(page)

    sign_up(page, new_email)
    error = page.locator("#signup-email-error")
    expect(error).to_contain_text("already exists")
    link = error.get_by_role("link", name="Log in instead")
    expect(link).to_have_attribute("href", re.compile(r"^/login"))
    # Leaving the field unchanged keeps the message; another address clears it.
    page.get_by_label("Email").blur()
    expect(error).to_contain_text("already exists")
    page.get_by_label("Email").fill("other-" + new_email)
    expect(error).to_have_text("")

    page.get_by_label("Email").fill(new_email)
    page.get_by_role("button", name="Create account").click()
    expect(error).to_contain_text("already exists")
    error.get_by_role("link", name="Log in instead").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))


def test_the_dashboard_leads_on_to_tools_and_usage(page: Page, new_email: str):
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect_balance(page, 100)
    # The plan is said once: the Plan card, not again in the subscription card.
    expect(page.locator("#dashboard-plan")).to_have_text("Free")
    expect(page.get_by_text("You are on Free")).to_have_count(0)
    expect(page.locator("#plan-terms")).to_contain_text("No recurring credits")

    expect(page.locator("#try-tools")).to_be_visible()
    page.get_by_role("link", name="Try the tools").click()
    expect(page).to_have_url(re.compile(r"/tools/?$"))

    page.goto("/dashboard")
    page.get_by_role("link", name="View all").click()
    expect(page).to_have_url(re.compile(r"/usage/?$"))
    expect(page.locator("#usage-page")).to_contain_text("1 entry")


def test_a_user_who_used_a_tool_gets_no_try_the_tools_card(page: Page, new_email: str, app):
    sign_up(page, new_email)
    expect_balance(page, 100)
    _spend(app, new_email, 1, "qr")
    expect_balance(page, 99)
    page.reload()
    expect_balance(page, 99)
    expect(page.locator("#recent-activity")).to_contain_text("-1")
    expect(page.locator("#try-tools")).to_have_count(0)


def test_usage_filters_live_in_the_url_and_clear(page: Page, new_email: str, app):
    sign_up(page, new_email)
    expect_balance(page, 100)
    _spend(app, new_email, 1, "qr")
    _spend(app, new_email, 2, "keywords")

    page.goto("/usage?kind=used&tool=qr")
    expect(page.locator("#usage-page")).to_contain_text("1 entry")
    expect(page.locator("#filter-kind")).to_contain_text("Used")
    page.reload()
    expect(page.locator("#usage-page")).to_contain_text("1 entry")

    # Changing a filter puts it in the URL, so a reload shows the same.
    page.locator("#filter-kind").click()
    page.get_by_role("option", name="Returned (tool failed)").click()
    expect(page).to_have_url(re.compile(r"/usage\?kind=returned&tool=qr$"))
    expect(page.locator("#usage-empty")).to_have_text("No entries match these filters.")
    page.reload()
    expect(page.locator("#filter-kind")).to_contain_text("Returned")
    expect(page.locator("#usage-empty")).to_have_text("No entries match these filters.")

    page.get_by_role("button", name="Clear filters").click()
    expect(page).to_have_url(re.compile(r"/usage/?$"))
    expect(page.locator("#usage-page")).to_contain_text("3 entries")
    expect(page.locator("#filter-kind")).to_contain_text("All")
    page.reload()
    expect(page.locator("#usage-page")).to_contain_text("3 entries")


def test_unknown_usage_filters_fall_back_to_everything(page: Page, new_email: str):
    sign_up(page, new_email)
    expect_balance(page, 100)
    page.goto("/usage?kind=bogus&tool=nope&page=abc")
    expect(page.locator("#usage-page")).to_have_text("Page 1 of 1 (1 entry)")
    expect(page.locator("#filter-kind")).to_contain_text("All")
    expect(page.get_by_role("button", name="Clear filters")).to_have_count(0)
