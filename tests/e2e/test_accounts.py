"""Sign-up, log-in and sessions as a person does them, in Chromium against the prod build."""

import re

import pytest
from playwright.sync_api import Page, expect

from credit_app.auth.accounts import user_id_by_email
from credit_app.auth.sessions import revoke_all_sessions
from credit_app.db import session_scope
from tests.e2e.helpers import PASSWORD, expect_balance, log_in, log_out, sign_up

pytestmark = pytest.mark.e2e


def test_sign_up_see_credits_log_out_and_back_in(page: Page, new_email: str):
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect_balance(page, 100)
    expect(page.locator("#dashboard-plan")).to_have_text("Free")
    expect(page.locator("#recent-activity")).to_contain_text("Welcome credits")
    expect(page.locator("#recent-activity")).to_contain_text("+100")

    page.reload()  # the session survives a reload
    expect_balance(page, 100)

    log_out(page)
    page.goto("/dashboard")  # the old session is revoked, not just forgotten
    expect(page).to_have_url(re.compile(r"/login/?\?next=/dashboard/?$"))

    log_in(page, new_email.upper())
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect_balance(page, 100)


def test_wrong_password_gets_one_generic_error(page: Page, new_email: str):
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    log_out(page)

    log_in(page, new_email, "not the password")
    expect(page.get_by_role("alert").filter(has_text="incorrect")).to_have_text(
        "Email or password is incorrect."
    )
    log_in(page, "nobody-" + new_email, PASSWORD)
    expect(page.locator("#login-error")).to_have_text("Email or password is incorrect.")
    expect(page).to_have_url(re.compile(r"/login/?$"))


def test_duplicate_email_is_refused_next_to_the_field(page: Page, new_email: str, browser):
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))

    other = browser.new_page(base_url=page.url.rsplit("/", 1)[0])
    sign_up(other, new_email.replace("e2e", "E2E"))
    expect(other.locator("#signup-email-error")).to_contain_text("already exists")
    expect(other.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(other).to_have_url(re.compile(r"/signup/?$"))
    other.close()


def test_field_errors_appear_next_to_each_field(page: Page):
    page.goto("/signup")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_label("Profile image URL (optional)").fill("javascript:alert(1)")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#signup-email-error")).to_have_text(
        "Enter a valid email address, like name@example.com."
    )
    expect(page.locator("#signup-name-error")).to_have_text("Enter your name.")
    expect(page.locator("#signup-password-error")).to_have_text(
        "Password must be at least 8 characters."
    )
    expect(page.locator("#signup-image-error")).to_contain_text("http")
    expect(page).to_have_url(re.compile(r"/signup/?$"))


def test_the_signup_form_works_from_the_keyboard_alone(page: Page, new_email: str):
    page.goto("/signup")
    page.get_by_label("Email").focus()
    page.keyboard.type(new_email)
    page.keyboard.press("Tab")
    page.keyboard.type("Keyboard User")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect_balance(page, 100)


def test_signed_out_visitors_are_sent_to_login_and_back(page: Page, new_email: str):
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login/?\?next=/dashboard/?$"))
    expect(page.get_by_text("Welcome,")).to_have_count(0)

    page.get_by_role("link", name="Create an account").click()
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))


def test_a_revoked_session_is_sent_to_login(page: Page, new_email: str, app):
    sign_up(page, new_email)
    expect_balance(page, 100)
    with session_scope(app.engine) as session:
        user_id = user_id_by_email(session, new_email)
        assert revoke_all_sessions(session, user_id=user_id) == 1
    page.reload()
    expect(page).to_have_url(re.compile(r"/login/?\?next=/dashboard/?$"))
