"""E-mail in Chromium, read from the app's outbox folder (OUTBOX_DIR): password reset (other
sessions signed out, the old password refused, the link good once) and address
verification; with REQUIRE_VERIFIED_EMAIL=true, an unverified person runs no tool and pays
nothing."""

import email
import email.policy
import re
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from credit_app.auth.accounts import user_id_by_email
from credit_app.auth.verification import VERIFY_FIRST
from credit_app.db import read_scope
from credit_app.models import User
from tests.e2e.conftest import (
    ROOT,
    RunningApp,
    app_env,
    copy_of_project,
    free_port,
    start_app,
)
from tests.e2e.helpers import PASSWORD, log_in, sign_up

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "a brand new secret"
MAIL_TIMEOUT = 15.0


def _mails(folder: Path, to: str, subject: str) -> list[EmailMessage]:
    found = []
    for path in sorted(folder.glob("*.eml")):  # named by time: oldest first
        with path.open("rb") as f:
            message = email.message_from_binary_file(f, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"] == to and message["Subject"] == subject:
            found.append(message)
    return found


def wait_for_mail(app: RunningApp, to: str, subject: str, count: int = 1) -> list[EmailMessage]:
    """Poll the outbox folder until `count` messages `subject` to `to` are there."""
    assert app.outbox_dir is not None
    deadline = time.monotonic() + MAIL_TIMEOUT
    while True:
        found = _mails(app.outbox_dir, to, subject)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} x {subject!r} to {to} not delivered; got {len(found)}")
        time.sleep(0.1)


def link_in(message: EmailMessage, app: RunningApp) -> str:
    (url,) = re.findall(r"https?://\S+", message.get_content())
    assert url.startswith(app.url + "/")
    return url


def _new_page(browser: Browser, app: RunningApp) -> Page:
    context = browser.new_context(base_url=app.url)
    context.set_default_timeout(15_000)
    return context.new_page()


def test_reset_a_forgotten_password_through_the_emailed_link(
    page: Page, browser: Browser, app, new_email
):
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    other = _new_page(browser, app)
    try:
        # Forgot: from the log-in page.
        other.goto("/login")
        other.get_by_role("link", name="Forgot password?").click()
        expect(other).to_have_url(re.compile(r"/forgot-password/?$"))
        # The router changes the URL first: wait for the page itself before typing.
        expect(other.get_by_role("heading", name="Forgot your password?")).to_be_visible()
        other.get_by_label("Email").fill(new_email.upper())
        other.get_by_role("button", name="Send the link").click()
        expect(other.locator("#forgot-sent")).to_contain_text("we sent it a link")

        (reset_mail,) = wait_for_mail(app, new_email, "Reset your password")
        link = link_in(reset_mail, app)
        other.goto(link)
        field = other.get_by_label("New password")
        field.fill("short")
        other.get_by_role("button", name="Set new password").click()
        expect(other.locator("#reset-password-error")).to_have_text(
            "Password must be at least 8 characters."
        )
        expect(field).to_have_attribute("aria-invalid", "true")
        field.fill(NEW_PASSWORD)
        other.get_by_role("button", name="Set new password").click()
        expect(other).to_have_url(re.compile(r"/login/?\?password=reset$"))
        expect(other.locator("#login-password-reset")).to_contain_text("Your password was changed")

        # The session that was open is signed out.
        expect(page).to_have_url(re.compile(r"/login"))

        log_in(other, new_email, PASSWORD)
        expect(other.locator("#login-error")).to_have_text("Email or password is incorrect.")
        log_in(other, new_email, NEW_PASSWORD)
        expect(other).to_have_url(re.compile(r"/dashboard/?$"))
        wait_for_mail(app, new_email, "Your password was changed")

        # The link works once: a clear message and a way to ask again, no form.
        other.goto(link)
        expect(other.locator("#reset-link-invalid")).to_contain_text("expired or was already used")
        expect(other.get_by_label("New password")).to_have_count(0)
        other.get_by_role("link", name="Ask for a new link").click()
        expect(other).to_have_url(re.compile(r"/forgot-password/?$"))
    finally:
        other.context.close()


def test_a_made_up_reset_link_says_so(page: Page):
    for path in ("/reset-password?token=made-up", "/reset-password"):
        page.goto(path)
        expect(page.locator("#reset-link-invalid")).to_be_visible()
        expect(page.get_by_role("link", name="Ask for a new link")).to_be_visible()


def test_verify_the_address_through_the_emailed_link(page: Page, app, new_email):
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    banner = page.locator("#verify-email-banner")
    expect(banner).to_contain_text(f"We sent a link to {new_email}")
    wait_for_mail(app, new_email, "Confirm your email address")

    page.get_by_role("button", name="Resend the link").click()
    expect(page.locator("#verify-resend-status")).to_contain_text(
        f"We sent a new link to {new_email}"
    )
    first, latest = wait_for_mail(app, new_email, "Confirm your email address", count=2)

    page.goto(link_in(first, app))
    expect(page.locator("#verify-invalid")).to_be_visible()
    page.goto(link_in(latest, app))
    expect(page.locator("#verify-done")).to_contain_text("confirmed")
    page.get_by_role("link", name="Go to the dashboard").click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    expect(page.locator("#dashboard-balance")).to_be_visible()
    expect(banner).to_have_count(0)


@pytest.fixture(scope="module")
def strict_app(tmp_path_factory):
    """A second app, with REQUIRE_VERIFIED_EMAIL=true on a loopback address."""
    workdir = tmp_path_factory.mktemp("strict")
    with start_app(workdir, cwd=copy_of_project(workdir), REQUIRE_VERIFIED_EMAIL="true") as running:
        yield running


def _balance(app: RunningApp, address: str) -> int:
    with read_scope(app.engine) as session:
        user_id = user_id_by_email(session, address)
        user = session.get(User, user_id)
        assert user is not None
        return user.credits


def test_an_unverified_address_runs_no_tool_when_verification_is_required(
    browser: Browser, strict_app, new_email
):
    page = _new_page(browser, strict_app)
    try:
        sign_up(page, new_email)
        expect(page).to_have_url(re.compile(r"/dashboard/?$"))
        expect(page.locator("#verify-email-banner")).to_contain_text("open it to use the tools")
        page.goto("/tools")
        page.locator("#qr-text").fill("https://example.com")
        page.locator("#run-qr").click()
        expect(page.locator("#qr-error")).to_have_text(VERIFY_FIRST)
        expect(page.locator("#qr-image")).to_have_count(0)
        assert _balance(strict_app, new_email) == 100

        (mail,) = wait_for_mail(strict_app, new_email, "Confirm your email address")
        page.goto(link_in(mail, strict_app))
        expect(page.locator("#verify-done")).to_be_visible()
        page.goto("/tools")
        page.locator("#qr-text").fill("https://example.com")
        page.locator("#run-qr").click()
        expect(page.locator("#qr-image")).to_be_visible()
        expect(page.locator("#qr-error")).to_have_count(0)
        assert _balance(strict_app, new_email) == 99
    finally:
        page.context.close()


def test_serving_refuses_a_public_app_url_without_smtp_url(tmp_path):
    port = free_port()
    env = app_env(
        port,
        f"sqlite:///{tmp_path / 'refused.db'}",
        APP_URL="https://credits.example.com",
        PAYMENTS="stripe",
        STRIPE_SECRET_KEY="sk_live_x",
        STRIPE_WEBHOOK_SECRET="whsec_x",
    )
    result = subprocess.run(
        ["reflex", "run", "--env", "prod", "--backend-only", "--backend-port", str(port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SMTP_URL is not set" in result.stdout + result.stderr
