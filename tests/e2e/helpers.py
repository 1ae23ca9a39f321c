"""What a person does in the browser, as small reusable steps."""

import re

from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery"


def sign_up(page: Page, email: str, name: str = "Ada Lovelace", password: str = PASSWORD) -> None:
    page.goto("/signup")
    fill_signup(page, email, name, password)


def fill_signup(
    page: Page, email: str, name: str = "Ada Lovelace", password: str = PASSWORD
) -> None:
    """Fill and send the sign-up form already on screen (keeps its ?next=)."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create account").click()


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Account menu").click()
    page.get_by_role("menuitem", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))


def expect_balance(page: Page, credits: int) -> None:
    expect(page.locator("#dashboard-balance")).to_have_text(f"{credits:,}")
    expect(page.locator("#balance-badge")).to_contain_text(f"{credits:,} credit")


def pay_on_checkout(page: Page, card: str = "4242 4242 4242 4242") -> None:
    """On the (sandbox) hosted checkout page: enter the card and pay."""
    expect(page.get_by_label("Card number")).to_be_visible()
    page.get_by_label("Card number").fill(card)
    page.get_by_role("button", name=re.compile("^(Subscribe|Pay)")).click()
