"""Layout in Chromium at a phone's 390x844 and a laptop's 1280x800: no page scrolls
sideways, the menu reaches every page and the log-out, landmarks and headings, no empty
alerts, the insufficient-credits dialog's focus, and no signed-out header flash."""

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from credit_app import credits
from credit_app.auth.accounts import user_id_by_email
from credit_app.db import session_scope
from tests.e2e.conftest import RunningApp
from tests.e2e.helpers import sign_up
from tests.e2e.test_tools import TEXT

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots")
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
LAPTOP = {"viewport": {"width": 1280, "height": 800}}
SIZES = {390: PHONE, 1280: LAPTOP}
SIGNED_OUT_PAGES = [
    "/",
    "/signup",
    "/login",
    "/pricing",
    "/forgot-password",
    "/reset-password",
    "/verify-email",
]
SIGNED_IN_PAGES = ["/dashboard", "/tools", "/usage", "/pricing", "/billing/success", "/account"]
NAV_PAGES = {"/dashboard", "/tools", "/usage", "/pricing"}
SCREENSHOT_PAGES = {"/dashboard", "/tools", "/usage", "/pricing"}
# Records whether the signed-out header's links were ever on screen during a page load.
WATCH_HEADER = """
window.__sawSignedOutHeader = false;
new MutationObserver(() => {
  if (document.querySelector('header a[href="/login"], header a[href="/signup"]'))
    window.__sawSignedOutHeader = true;
}).observe(document, {childList: true, subtree: true});
"""


def _context_page(browser: Browser, app: RunningApp, width: int) -> Iterator[Page]:
    context = browser.new_context(base_url=app.url, **SIZES[width])
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture(params=[390, 1280], ids=["phone", "laptop"])
def sized(request, browser: Browser, app: RunningApp) -> Iterator[Page]:
    yield from _context_page(browser, app, request.param)


@pytest.fixture
def phone(browser: Browser, app: RunningApp) -> Iterator[Page]:
    yield from _context_page(browser, app, 390)


def _width(page: Page) -> int:
    return page.viewport_size["width"] if page.viewport_size else 0


def _settled(page: Page, path: str) -> None:
    """The page is on screen with its one h1, and the session check has answered."""
    expect(page).to_have_url(re.compile(re.escape(path).replace(r"\/", "/") + r"/?(\?.*)?$"))
    h1 = page.locator("h1")
    try:
        expect(h1).to_have_count(1)
    except AssertionError:
        raise AssertionError(
            page.evaluate(
                "[...document.querySelectorAll('h1')].map(e => e.outerHTML.slice(0, 300))"
            )
        ) from None
    expect(h1.first).to_be_visible()
    expect(page.locator("#header-pending")).to_have_count(0)
    page.wait_for_load_state("networkidle")


def _fits(page: Page, path: str) -> None:
    # screen.width, not innerWidth: a mobile browser widens its layout viewport to fit
    # overflowing content, which would hide the overflow this looks for.
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth, screen: screen.width})")
    assert widths["scroll"] <= widths["screen"], f"{path} scrolls sideways: {widths}"


def _landmarks(page: Page) -> None:
    expect(page.locator("header").first).to_be_attached()
    expect(page.locator("main")).to_have_count(1)


def _signed_in(page: Page, email: str) -> None:
    sign_up(page, email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))


def test_signed_out_pages_fit_the_screen(sized: Page):
    for path in SIGNED_OUT_PAGES:
        sized.goto(path)
        _settled(sized, path)
        _landmarks(sized)
        _fits(sized, path)


def test_signed_in_pages_fit_with_one_h1_and_the_current_link(sized: Page, new_email):
    _signed_in(sized, new_email)
    width = _width(sized)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for path in SIGNED_IN_PAGES:
        sized.goto(path)
        _settled(sized, path)
        _landmarks(sized)
        expect(sized.locator("header h1")).to_have_count(0)
        _fits(sized, path)
        if path in NAV_PAGES:
            current = sized.locator("nav a[aria-current=page]")
            expect(current).to_have_count(1)
            expect(current).to_have_attribute("href", path)
        if path in SCREENSHOT_PAGES:
            sized.screenshot(path=str(SHOTS / f"{path.strip('/')}-{width}.png"), full_page=True)
    # The balance badge is a link to the usage history.
    sized.goto("/dashboard")
    _settled(sized, "/dashboard")
    sized.locator("#balance-badge").click()
    expect(sized).to_have_url(re.compile(r"/usage/?$"))


def test_on_a_phone_the_menu_reaches_every_page_and_logs_out(phone: Page, new_email):
    _signed_in(phone, new_email)
    _settled(phone, "/dashboard")
    expect(phone.get_by_role("button", name="Account menu")).to_be_hidden()
    expect(phone.locator("#balance-badge")).to_be_in_viewport()
    phone.get_by_role("button", name="Menu").click()
    expect(phone.get_by_role("menuitem", name="Dashboard")).to_have_attribute(
        "aria-current", "page"
    )
    phone.get_by_role("menuitem", name="Usage").click()
    _settled(phone, "/usage")
    _fits(phone, "/usage")
    phone.get_by_role("button", name="Menu").click()
    expect(phone.get_by_role("menuitem", name="Usage")).to_have_attribute("aria-current", "page")
    expect(phone.get_by_role("menuitem", name="Pricing")).to_be_in_viewport()
    phone.get_by_role("menuitem", name="Log out").click()
    expect(phone).to_have_url(re.compile(r"/login/?$"))


def test_tools_show_no_empty_alert_on_first_load(sized: Page, new_email):
    _signed_in(sized, new_email)
    sized.goto("/tools")
    _settled(sized, "/tools")
    expect(sized.locator("#run-qr")).to_contain_text("1 credit")
    for alert in sized.locator("[role=alert]").all():
        assert alert.inner_text().strip(), "an empty alert is on screen"
    expect(sized.locator("#tool-qr .rt-CalloutRoot")).to_have_count(0)
    expect(sized.locator("#tool-report .rt-CalloutRoot")).to_have_count(0)


def test_the_insufficient_credits_dialog_takes_and_gives_back_focus(
    phone: Page, new_email, app: RunningApp
):
    _signed_in(phone, new_email)
    with session_scope(app.engine) as session:
        user_id = user_id_by_email(session, new_email)
        credits.spend(
            session, user_id=user_id, amount=98, idempotency_key=uuid.uuid4().hex, feature="test"
        )
    phone.goto("/tools")
    _settled(phone, "/tools")
    button = phone.locator("#run-keywords")
    expect(button).to_be_disabled()  # marked so (aria-disabled), yet it can be pressed
    phone.get_by_label("Text to analyse").fill(TEXT)
    button.focus()
    button.press("Enter")
    dialog = phone.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    expect(phone.locator("#insufficient-text")).to_contain_text("needs 3 credits and you have 2")
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    phone.keyboard.press("Tab")
    phone.keyboard.press("Tab")
    phone.keyboard.press("Tab")
    assert phone.evaluate(
        "document.querySelector('[role=alertdialog]').contains(document.activeElement)"
    ), "focus left the open dialog"
    phone.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    _fits(phone, "/tools")
    # Refused before any work: the PDF card does not claim a run is starting.
    phone.locator("#run-report").focus()
    phone.locator("#run-report").press("Enter")
    expect(dialog).to_be_visible()
    phone.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(phone.locator("#run-report")).to_be_focused()
    expect(phone.locator("#report-progress")).to_have_count(0)
    expect(phone.locator("#tool-report")).not_to_contain_text("Starting")


def test_a_signed_in_full_load_never_shows_the_signed_out_header(sized: Page, new_email):
    _signed_in(sized, new_email)
    sized.context.add_init_script(WATCH_HEADER)
    other = sized.context.new_page()  # a new tab: a full load with a fresh Reflex state
    for path in ("/pricing", "/dashboard"):
        other.goto(path)
        _settled(other, path)
        expect(other.locator("#balance-badge")).to_be_visible()
        assert other.evaluate("window.__sawSignedOutHeader") is False, path
