"""The account page in Chromium against the prod build: a password change signs out the
other browser, deleting the account keeps the ledger reconciled, the browser's time zone is
kept at sign-up, and the forms behave like the rest (errors per field, cleared when fixed)."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from credit_app import credits
from credit_app.auth.accounts import user_id_by_email
from credit_app.db import session_scope
from credit_app.models import EntryKind, LedgerEntry, User
from tests.e2e.conftest import RunningApp
from tests.e2e.helpers import PASSWORD, expect_balance, log_in, sign_up

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "a whole new password"


def _open_account(page: Page) -> None:
    page.get_by_role("button", name="Account menu").click()
    page.get_by_role("menuitem", name="Account").click()
    expect(page).to_have_url(re.compile(r"/account/?$"))
    expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()


def _user(app: RunningApp, email: str) -> User:
    with session_scope(app.engine) as session:
        user_id = user_id_by_email(session, email)
        assert user_id is not None
        user = session.get(User, user_id)
        session.expunge(user)
    return user


def test_changing_the_password_signs_out_the_other_browser(
    page: Page, browser: Browser, app: RunningApp, new_email: str
):
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_up(page, new_email)
    expect_balance(page, 100)

    other = browser.new_context(base_url=app.url)
    other_page = other.new_page()
    other_page.goto("/login")
    log_in(other_page, new_email)
    expect_balance(other_page, 100)

    _open_account(page)
    sessions = page.locator(".account-session")
    expect(sessions).to_have_count(2)
    expect(sessions.filter(has_text="This device")).to_have_count(1)

    # One message per rule, cleared as the field is fixed.
    page.get_by_label("New password").fill("short")
    page.get_by_role("button", name="Change password").click()
    error = page.locator("#account-new-password-error")
    expect(error).to_have_text("Password must be at least 8 characters.")
    expect(page.locator("#account-current-password-error")).to_have_text(
        "Enter your current password."
    )
    expect(page.get_by_label("New password")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    expect(error).to_have_text("")

    page.locator("#account-current-password").fill(PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#account-password-status")).to_contain_text("every other session")

    # The other browser's open tab is signed out by itself.
    expect(other_page).to_have_url(re.compile(r"/login"), timeout=15_000)
    other_page.goto("/dashboard")
    expect(other_page).to_have_url(re.compile(r"/login/?\?next=/dashboard/?$"))
    other.close()

    # This one stays signed in, alone, and the new password is the one that works.
    page.reload()
    expect(page.locator(".account-session")).to_have_count(1)
    expect(page.get_by_text("This device")).to_be_visible()
    fresh = browser.new_context(base_url=app.url)
    fresh_page = fresh.new_page()
    fresh_page.goto("/login")
    log_in(fresh_page, new_email, NEW_PASSWORD)
    expect(fresh_page).to_have_url(re.compile(r"/dashboard/?$"))
    fresh.close()


def test_deleting_the_account_keeps_the_ledger_reconciled(
    page: Page, app: RunningApp, new_email: str
):
    sign_up(page, new_email)
    expect_balance(page, 100)
    user_id = _user(app, new_email).id
    page.goto("/account")
    page.get_by_role("button", name="Delete my account…").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Password").fill("not my password")
    dialog.get_by_role("button", name="Delete my account").click()
    expect(dialog.locator("#delete-password-error")).to_have_text(
        "This is not your current password."
    )
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(re.compile(r"/account/deleted/?$"))
    expect(page.get_by_role("heading", name="Your account was deleted")).to_be_visible()

    with session_scope(app.engine) as session:
        user = session.get(User, user_id)
        assert user.deleted_at is not None and user.email != new_email
        assert credits.balance(session, user_id=user_id) == 0
        kinds = session.scalars(
            select(LedgerEntry.kind).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)
        ).all()
        assert kinds == [EntryKind.GRANT, EntryKind.FORFEIT]
        assert credits.find_drift(session) == [] and credits.find_hold_drift(session) == []
    reconcile = subprocess.run(
        [str(Path(sys.executable).parent / "credit-app"), "reconcile"],
        env={**os.environ, "DATABASE_URL": app.database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr

    # Signed out, and the address no longer opens anything.
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login"))
    log_in(page, new_email)
    expect(page.locator("#login-error")).to_have_text("Email or password is incorrect.")


def test_the_browser_time_zone_is_kept_at_sign_up_and_can_be_changed(
    browser: Browser, app: RunningApp, new_email: str
):
    context = browser.new_context(base_url=app.url, timezone_id="Europe/Berlin")
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_up(page, new_email)
    expect_balance(page, 100)
    deadline = time.monotonic() + 10
    while _user(app, new_email).time_zone is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _user(app, new_email).time_zone == "Europe/Berlin"

    page.goto("/account")
    zone = page.get_by_label("Time zone")
    expect(zone).to_have_value("Europe/Berlin")
    expect(page.locator(".account-session")).to_contain_text(re.compile(r"CES?T"))
    zone.select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.locator("#account-time-zone-status")).to_have_text(
        "Your time zone is now Asia/Tokyo."
    )
    assert _user(app, new_email).time_zone == "Asia/Tokyo"
    expect(page.locator(".account-session")).to_contain_text("JST")

    # Renaming reaches the navbar at once.
    name = page.get_by_label("Name")
    name.fill("")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#account-name-error")).to_have_text("Enter your name.")
    name.fill("Grace Hopper")
    expect(page.locator("#account-name-error")).to_have_text("")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#account-name-status")).to_have_text("Your name was saved.")
    page.get_by_role("button", name="Account menu").click()
    expect(page.get_by_role("menu")).to_be_visible()
    assert _user(app, new_email).name == "Grace Hopper"
    context.close()
