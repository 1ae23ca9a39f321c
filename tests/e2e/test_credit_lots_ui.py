"""Credit lots as a person sees them (issue #11, items 1, 2 and 6):

- the dashboard splits the balance by kind and expiry date, as a bar named by one sentence
  (role=img) and as a list, with dates in the person's stored time zone, and warns when
  free credits expire within 3 days, linking to the tools;
- on /usage each use of credits opens (a keyboard-usable disclosure with aria-expanded) to
  say which kinds of credits paid for it;
- a monthly spending limit is set on /usage (bad input refused, nothing written), shown as
  "Used N of your L-credit monthly limit (resets ...)" with a bar, and a tool run past it
  is refused on /tools with its own message and a link back to the limit.

Screenshots of the dashboard and /usage at 1280 and 390 px go to /tmp/shots_lots/."""

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from credit_app import clock, credits
from credit_app.auth.accounts import user_id_by_email
from credit_app.db import session_scope
from credit_app.models import GrantSource, User
from tests.e2e.conftest import RunningApp
from tests.e2e.helpers import sign_up

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots_lots")
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
LAPTOP = {"viewport": {"width": 1280, "height": 800}}
SIZES = {390: PHONE, 1280: LAPTOP}
ZONE = "Pacific/Auckland"  # far from UTC: a date in the wrong zone shows as another day


def _signed_up(page: Page, app: RunningApp, email: str, *, zone: str = ZONE) -> uuid.UUID:
    sign_up(page, email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    with session_scope(app.engine) as session:
        user_id = user_id_by_email(session, email)
        session.get(User, user_id).time_zone = zone
    return user_id


def _grant(app: RunningApp, user_id, amount: int, source: str, expires: datetime | None) -> None:
    with session_scope(app.engine) as session:
        credits.grant(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=uuid.uuid4().hex,
            source=source,
            terms=credits.LotTerms(expires_at=expires),
        )


def _spend(app: RunningApp, user_id, amount: int) -> int:
    with session_scope(app.engine) as session:
        return credits.spend(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=uuid.uuid4().hex,
            feature="qr",
        ).entry_id


def _day(moment: datetime, zone: str = ZONE) -> str:
    """The day as the page writes it in `zone`: "Dec 26" (with the year if not this one)."""
    local, today = moment.astimezone(ZoneInfo(zone)), clock.now().astimezone(ZoneInfo(zone))
    text = f"{local:%b} {local.day}"
    return text if local.year == today.year else f"{text}, {local.year}"


def _fits(page: Page, path: str) -> None:
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth, screen: screen.width})")
    assert widths["scroll"] <= widths["screen"], f"{path} scrolls sideways: {widths}"


def _no_serious_axe_violations(page: Page) -> None:
    found = Axe().run(page).response["violations"]
    blocking = [
        f"{v['impact']} {v['id']} at {v['nodes'][0]['target']}"
        for v in found
        if v["impact"] in {"serious", "critical"}
    ]
    assert not blocking, blocking


def _seed(app: RunningApp, user_id) -> dict[str, datetime]:
    """Plan credits for 20 days, pack credits that never expire, bonus credits expiring in
    2 days (so the notice shows)."""
    now = clock.now()
    dates = {"plan": now + timedelta(days=20), "bonus": now + timedelta(days=2)}
    _grant(app, user_id, 1000, GrantSource.SUBSCRIPTION, dates["plan"])
    _grant(app, user_id, 500, GrantSource.PACK, None)
    _grant(app, user_id, 120, GrantSource.ADMIN, dates["bonus"])
    return dates


def test_the_dashboard_splits_the_balance_and_warns_before_credits_expire(
    page: Page, app, new_email
):
    user_id = _signed_up(page, app, new_email)
    dates = _seed(app, user_id)
    page.goto("/dashboard")

    items = page.locator("#lots-list li")
    expect(items.filter(has_text="1,000 plan credits")).to_have_text(
        f"1,000 plan credits · expire {_day(dates['plan'])}"
    )
    expect(items.filter(has_text="500 pack credits")).to_have_text(
        "500 pack credits · never expire"
    )
    expect(items.filter(has_text="120 bonus credits")).to_have_text(
        f"120 bonus credits · expire {_day(dates['bonus'])}"
    )
    # Soonest first: what a tool uses first is at the top; never-expiring credits last.
    expect(items.first).to_contain_text("120 bonus credits")
    expect(items.last).to_contain_text("never expire")

    bar = page.locator("#lots-bar")
    expect(bar).to_have_attribute("role", "img")
    label = bar.get_attribute("aria-label") or ""
    # 100 welcome credits from sign-up are in the balance too.
    assert label.startswith("1,720 credits: 120 bonus credits, expire"), label
    assert "1,000 plan credits" in label and "500 pack credits, never expire" in label

    notice = page.locator("#expiring-soon")
    expect(notice).to_contain_text(
        re.compile(rf"^120 credits expire on {_day(dates['bonus'])} at \d\d:\d\d \S+\. ")
    )
    expect(notice).to_contain_text("Use them before then.")
    expect(notice.get_by_role("link", name="Go to the tools")).to_have_attribute("href", "/tools")

    # Spending them (another device) and reloading: the notice goes, the split follows.
    _spend(app, user_id, 120)
    page.goto("/dashboard")
    expect(items.filter(has_text="bonus credits")).to_have_count(0)
    expect(page.locator("#expiring-soon")).to_have_count(0)


def test_a_use_opens_to_show_which_credits_paid_for_it(page: Page, app, new_email):
    user_id = _signed_up(page, app, new_email)
    now = clock.now()
    bonus, plan = now + timedelta(days=2), now + timedelta(days=5)
    _grant(app, user_id, 40, GrantSource.ADMIN, bonus)
    _grant(app, user_id, 300, GrantSource.SUBSCRIPTION, plan)
    entry_id = _spend(app, user_id, 100)
    page.goto("/usage")

    toggle = page.locator("#usage-ledger .paid-from-toggle")
    expect(toggle).to_have_count(1)  # only the use has one; the grants do not
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_have_attribute("aria-controls", f"paid-{entry_id}")
    detail = page.locator(f"#paid-{entry_id}")
    expect(detail).to_have_count(0)

    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(detail).to_have_text(
        f"Paid from: 40 from bonus credits (expire {_day(bonus)}) · "
        f"60 from plan credits (expire {_day(plan)})"
    )
    page.keyboard.press("Space")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(detail).to_have_count(0)


def test_expired_credits_read_as_expired_with_their_kind(page: Page, app, new_email):
    user_id = _signed_up(page, app, new_email)
    _grant(app, user_id, 25, GrantSource.ADMIN, clock.now() + timedelta(seconds=1))
    credits.expire_lots(now=clock.now() + timedelta(seconds=5), engine=app.engine)
    page.goto("/usage")
    row = page.locator("#usage-ledger tbody tr").first
    expect(row).to_contain_text("Expired")
    expect(row).to_contain_text("Bonus credits")
    expect(row).to_contain_text("-25")


def test_a_monthly_limit_is_set_on_usage_and_refuses_a_tool_run_past_it(page: Page, app, new_email):
    user_id = _signed_up(page, app, new_email, zone="UTC")
    page.goto("/usage")
    expect(page.locator("#limit-none")).to_contain_text("No limit is set.")

    field = page.get_by_label("Monthly limit (credits)")
    for typed, message in (
        ("ten", "Enter a whole number of credits, from 1 to 10,000,000."),
        ("0", "The limit must be at least 1 credit."),
        ("20000000", "The limit can be at most 10,000,000 credits."),
    ):
        field.fill(typed)
        page.locator("#spend-limit-save").click()
        expect(page.locator("#spend-limit-error")).to_contain_text(message)
        expect(field).to_have_attribute("aria-invalid", "true")
    with session_scope(app.engine) as session:
        assert session.get(User, user_id).spend_limit is None  # nothing was written

    field.fill("5")
    page.locator("#spend-limit-save").click()
    expect(page.locator("#spend-limit-status")).to_have_text("Limit saved.")
    resets = _day(clock.now().replace(day=28) + timedelta(days=4), "UTC").split(" ")[0]
    expect(page.locator("#limit-used")).to_have_text(
        re.compile(rf"^Used 0 of your 5-credit monthly limit \(resets {resets} 1(, \d{{4}})?\)$")
    )
    expect(page.locator("#limit-bar")).to_be_visible()

    _spend(app, user_id, 4)  # another device used 4 this month
    page.goto("/tools")
    page.get_by_label("Text or link").fill("https://example.com")
    page.locator("#run-qr").click()
    expect(page.locator("#qr-image")).to_be_visible()  # 5 of 5: allowed
    page.locator("#run-qr").click()
    refusal = page.locator("#qr-limit-error")
    expect(refusal).to_contain_text(
        "This would go over your monthly limit of 5 credits (5 used this month)."
    )
    link = refusal.get_by_role("link", name="Raise the limit on the usage page")
    expect(link).to_have_attribute("href", "/usage#spending-limit")
    expect(page.locator("#insufficient-dialog")).to_have_count(0)  # not "too few credits"
    _no_serious_axe_violations(page)

    link.click()
    expect(page.locator("#limit-used")).to_contain_text("Used 5 of your 5-credit monthly limit")
    field = page.get_by_label("Monthly limit (credits)")
    expect(field).to_have_value("5")
    page.locator("#spend-limit-remove").click()
    expect(page.locator("#spend-limit-status")).to_have_text("Limit removed.")
    expect(page.locator("#limit-none")).to_be_visible()
    with session_scope(app.engine) as session:
        assert session.get(User, user_id).spend_limit is None


@pytest.fixture(params=[390, 1280], ids=["phone", "laptop"])
def sized(request, browser: Browser, app: RunningApp) -> Iterator[Page]:
    context = browser.new_context(base_url=app.url, **SIZES[request.param])
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_lots_fit_a_phone_and_a_laptop(sized: Page, app, new_email):
    """Everything at once (split, notice, an open disclosure, the limit bar), without
    sideways scrolling and without a serious axe-core finding; the screenshots are for
    people to look at."""
    user_id = _signed_up(sized, app, new_email)
    _seed(app, user_id)
    with session_scope(app.engine) as session:
        credits.reserve(
            session, user_id=user_id, amount=30, idempotency_key=uuid.uuid4().hex, feature="report"
        )
    entry_id = _spend(app, user_id, 50)  # 30 bonus credits pinned, 50 spent, 40 left
    width = sized.viewport_size["width"] if sized.viewport_size else 0
    SHOTS.mkdir(parents=True, exist_ok=True)

    sized.goto("/dashboard")
    expect(sized.locator("#expiring-soon")).to_contain_text("40 credits expire on")
    expect(sized.locator("#lots-held")).to_contain_text("30 reserved while a tool runs")
    _fits(sized, "/dashboard")
    _no_serious_axe_violations(sized)
    sized.evaluate("window.scrollTo(0, 0)")  # the sticky header where it belongs
    sized.screenshot(path=str(SHOTS / f"dashboard-{width}.png"), full_page=True)

    sized.goto("/usage")
    sized.get_by_label("Monthly limit (credits)").fill("1,000")
    sized.locator("#spend-limit-save").click()
    expect(sized.locator("#limit-used")).to_contain_text("Used 80 of your 1,000-credit")
    sized.locator(f"[aria-controls=paid-{entry_id}]").click()
    expect(sized.locator(f"#paid-{entry_id}")).to_contain_text("from bonus credits")
    _fits(sized, "/usage")
    _no_serious_axe_violations(sized)  # with the disclosure open
    sized.evaluate("window.scrollTo(0, 0)")
    sized.screenshot(path=str(SHOTS / f"usage-{width}.png"), full_page=True)
