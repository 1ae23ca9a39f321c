"""Times people see are in their time zone, formatted by the browser: the stored one (taken
from the browser at sign-up, changed on /account) wins over the browser's; with none
stored, the browser's own. Under the app's CSP (no eval), with no wrong or "Invalid date"
time shown on the way."""

import re
import time
import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import update
from sqlmodel import col

from credit_app.auth.accounts import user_id_by_email
from credit_app.db import session_scope
from credit_app.models import LedgerEntry, User
from tests.e2e.conftest import RunningApp
from tests.e2e.helpers import expect_balance, log_in, sign_up

pytestmark = pytest.mark.e2e

# The welcome grant, re-dated: 23:30 UTC on 15 January is 08:30 on the 16th in Tokyo,
# 00:30 on the 16th in Berlin and 15:30 on the 15th in Los Angeles.
WELCOME_AT = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
IN_TOKYO, IN_BERLIN, IN_LOS_ANGELES = (
    "16 Jan 2026, 08:30",
    "16 Jan 2026, 00:30",
    "15 Jan 2026, 15:30",
)
ISO = "2026-01-15T23:30:00.000Z"

# Every text a <time> element has had since the page started loading, in the order seen
# (an init script runs before the page's own scripts and is not subject to its CSP).
_WATCH_TIMES = """
window.__timesSeen = [];
new MutationObserver(() => {
  for (const el of document.querySelectorAll("time")) {
    const text = el.textContent;
    if (window.__timesSeen[window.__timesSeen.length - 1] !== text) window.__timesSeen.push(text);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def _context(
    browser: Browser, app: RunningApp, zone: str
) -> tuple[BrowserContext, Page, list[str]]:
    """A browser in `zone`, its first tab, and the console messages of any of its tabs that
    report a CSP violation or an invalid date."""
    context = browser.new_context(base_url=app.url, timezone_id=zone)
    context.set_default_timeout(15_000)
    context.add_init_script(_WATCH_TIMES)
    problems: list[str] = []

    def on_console(message) -> None:
        if "Content Security Policy" in message.text or "Invalid date" in message.text:
            problems.append(message.text)

    context.on("console", on_console)
    return context, context.new_page(), problems


def _user_id(app: RunningApp, email: str) -> uuid.UUID:
    with session_scope(app.engine) as session:
        found = user_id_by_email(session, email)
    assert found is not None
    return found


def _stored_zone(app: RunningApp, user_id: uuid.UUID) -> str | None:
    with session_scope(app.engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        return user.time_zone


def _signed_up_in(browser: Browser, app: RunningApp, email: str, zone: str) -> uuid.UUID:
    """Sign up from a browser in `zone`; the account keeps that zone. The welcome grant is
    then re-dated to WELCOME_AT."""
    context, page, _ = _context(browser, app, zone)
    sign_up(page, email)
    expect_balance(page, 100)
    user_id = _user_id(app, email)
    deadline = time.monotonic() + 10
    while _stored_zone(app, user_id) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _stored_zone(app, user_id) == zone
    context.close()
    with session_scope(app.engine) as session:
        session.execute(
            update(LedgerEntry)
            .where(col(LedgerEntry.user_id) == user_id)
            .values(created_at=WELCOME_AT)
        )
    return user_id


def _expect_welcome_at(page: Page, table: str, text: str) -> None:
    when = page.locator(f"#{table} time").first
    expect(when).to_have_text(text)
    expect(when).to_have_attribute("datetime", ISO)


def _times_seen(page: Page) -> set[str]:
    """Every text a <time> of this page load has shown ("" while it had none yet)."""
    return set(page.evaluate("window.__timesSeen"))


def test_the_stored_zone_wins_over_the_browsers_and_follows_a_change(
    browser: Browser, app: RunningApp, new_email: str
):
    _signed_up_in(browser, app, new_email, "Asia/Tokyo")

    # The same person, from a browser in Los Angeles: still Tokyo time, 9 hours ahead of
    # UTC, on the dashboard and on /usage; never the browser's time, never "Invalid date".
    context, page, problems = _context(browser, app, "America/Los_Angeles")
    page.goto("/login")
    log_in(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    _expect_welcome_at(page, "recent-activity", IN_TOKYO)
    assert _times_seen(page) - {""} == {IN_TOKYO}

    page.goto("/usage")
    _expect_welcome_at(page, "usage-ledger", IN_TOKYO)
    page.reload()  # a full load: prerendered page, then hydration
    _expect_welcome_at(page, "usage-ledger", IN_TOKYO)
    assert _times_seen(page) - {""} == {IN_TOKYO}

    # A second tab on the dashboard, while the first changes the zone on /account.
    dashboard = context.new_page()
    dashboard.goto("/dashboard")
    _expect_welcome_at(dashboard, "recent-activity", IN_TOKYO)

    page.goto("/account")
    zone = page.get_by_label("Time zone")
    expect(zone).to_have_value("Asia/Tokyo")
    expect(page.locator(".account-session").first).to_contain_text("JST")
    zone.select_option("Europe/Berlin")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.locator("#account-time-zone-status")).to_have_text(
        "Your time zone is now Europe/Berlin."
    )
    expect(page.locator(".account-session").first).to_contain_text("CET")

    # The open dashboard follows at once; a fresh load shows the same.
    _expect_welcome_at(dashboard, "recent-activity", IN_BERLIN)
    page.goto("/dashboard")
    _expect_welcome_at(page, "recent-activity", IN_BERLIN)
    assert _times_seen(page) - {""} == {IN_BERLIN}
    assert problems == []
    context.close()


def test_without_a_stored_zone_times_are_in_the_browsers(
    browser: Browser, app: RunningApp, new_email: str
):
    user_id = _signed_up_in(browser, app, new_email, "Europe/Berlin")
    with session_scope(app.engine) as session:  # as for an account from before time zones
        session.execute(update(User).where(col(User.id) == user_id).values(time_zone=None))

    for zone, expected in (("America/Los_Angeles", IN_LOS_ANGELES), ("Asia/Tokyo", IN_TOKYO)):
        context, page, problems = _context(browser, app, zone)
        # A log-in would give the account this browser's zone (tz.js's cookie): keep it
        # without one by not letting the browser report it.
        page.route("**/tz.js", lambda route: route.fulfill(body="", content_type="text/javascript"))
        page.goto("/login")
        log_in(page, new_email)
        expect(page).to_have_url(re.compile(r"/dashboard/?$"))
        _expect_welcome_at(page, "recent-activity", expected)
        page.goto("/usage")
        _expect_welcome_at(page, "usage-ledger", expected)
        assert _times_seen(page) - {""} == {expected}
        assert problems == []
        context.close()
    assert _stored_zone(app, user_id) is None
