"""/usage and the keywords tool as a person sees them (issue #9, items 15, 17 and 18):

- /usage renders skeletons (aria-busy) until its data arrives, never "0" or "since" with no
  date; a new user's chart is an empty state, not axes from 0 to 4;
- with usage, the chart is one image named by its summary sentence (no focusable SVG
  "application"), its legend and axis labels are at WCAG AA contrast as rendered, and its
  numbers are in a table;
- keyphrases are distinct, scored as percentages, and "Copy" really puts the result on the
  clipboard under the app's Content-Security-Policy (no eval) and says "Copied".

Screenshots of /usage and /tools at 1280 and 390 px go to /tmp/shots/polish-*.png."""

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlmodel import col, select

from credit_app import credits
from credit_app.auth.accounts import user_id_by_email
from credit_app.db import session_scope
from credit_app.models import LedgerEntry, utcnow
from tests.e2e.conftest import RunningApp
from tests.e2e.helpers import sign_up
from tests.unit.test_tool_keywords_overlap import JWST
from tests.unit.test_usage_chart import contrast

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

# Records every text the period totals and the "since" line ever show, and whether the
# skeletons were on screen, from the first paint of a full page load on.
WATCH_USAGE = """
window.__usage = {granted: [], since: [], skeleton: false, busy: false};
new MutationObserver(() => {
  const u = window.__usage;
  const g = document.querySelector('#period-granted');
  if (g && u.granted[u.granted.length - 1] !== g.textContent) u.granted.push(g.textContent);
  const s = document.querySelector('#period-since');
  if (s && u.since[u.since.length - 1] !== s.textContent) u.since.push(s.textContent);
  if (document.querySelector('#period-granted-loading')) u.skeleton = true;
  if (document.querySelector('main [aria-busy=true] #usage-chart-loading')) u.busy = true;
}).observe(document, {childList: true, subtree: true, characterData: true});
"""

# The colour a text is drawn in and the first opaque background behind it.
COLOURS = """
(el) => {
  const rgb = (s) => {
    const m = s.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return {rgb: p.slice(0, 3), alpha: p.length > 3 ? p[3] : 1};
  };
  const style = getComputedStyle(el);
  const fg = el instanceof SVGElement ? style.fill : style.color;
  let node = el, bg = null;
  while (node && node.nodeType === 1) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c && c.alpha > 0) { bg = c; break; }
    node = node.parentElement;
  }
  return {fg: rgb(fg), bg: bg || {rgb: [255, 255, 255], alpha: 1}};
}
"""


def _hex(rgb: list[float]) -> str:
    return "#" + "".join(f"{round(c):02x}" for c in rgb)


def _contrast_of(page: Page, selector: str) -> float:
    found = page.locator(selector)
    expect(found.first).to_be_visible()
    worst = 21.0
    for i in range(found.count()):
        colours = found.nth(i).evaluate(COLOURS)
        assert colours["fg"]["alpha"] == 1, colours  # no faded text
        worst = min(worst, contrast(_hex(colours["fg"]["rgb"]), _hex(colours["bg"]["rgb"])))
    return worst


def _context_page(browser: Browser, app: RunningApp, width: int, **extra) -> Iterator[Page]:
    context = browser.new_context(base_url=app.url, **SIZES[width], **extra)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture(params=[390, 1280], ids=["phone", "laptop"])
def sized(request, browser: Browser, app: RunningApp) -> Iterator[Page]:
    yield from _context_page(
        browser, app, request.param, permissions=["clipboard-read", "clipboard-write"]
    )


def _width(page: Page) -> int:
    return page.viewport_size["width"] if page.viewport_size else 0


def _signed_up(page: Page, app: RunningApp, email: str) -> uuid.UUID:
    sign_up(page, email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    with session_scope(app.engine) as session:
        return user_id_by_email(session, email)


def _use(app: RunningApp, user_id: uuid.UUID, feature: str, amount: int, days_ago: int) -> None:
    """A spend on `feature`, dated `days_ago` days back (the chart covers 30 days)."""
    key = uuid.uuid4().hex
    with session_scope(app.engine) as session:
        credits.spend(session, user_id=user_id, amount=amount, idempotency_key=key, feature=feature)
    with session_scope(app.engine) as session:
        entry = session.exec(
            select(LedgerEntry).where(col(LedgerEntry.idempotency_key) == key)
        ).one()
        entry.created_at = utcnow() - timedelta(days=days_ago)


def _no_serious_axe_violations(page: Page) -> None:
    """axe-core on the page as it is now (the chart drawn, the numbers open, a keywords
    result shown): none serious or critical."""
    found = Axe().run(page).response["violations"]
    blocking = [
        f"{v['impact']} {v['id']} at {v['nodes'][0]['target']}"
        for v in found
        if v["impact"] in {"serious", "critical"}
    ]
    assert not blocking, blocking


def _fits(page: Page, path: str) -> None:
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth, screen: screen.width})")
    assert widths["scroll"] <= widths["screen"], f"{path} scrolls sideways: {widths}"


def test_usage_loads_behind_skeletons_and_a_new_user_sees_an_empty_chart(
    sized: Page, app, new_email
):
    _signed_up(sized, app, new_email)
    sized.add_init_script(WATCH_USAGE)
    sized.goto("/usage")  # a full page load: the state starts empty
    expect(sized.locator("#period-granted")).to_have_text("100")
    expect(sized.locator("#period-since")).to_have_text(
        re.compile(r"^This billing period, since [A-Z][a-z]+ \d{1,2}, \d{4}$")
    )
    seen = sized.evaluate("window.__usage")
    assert seen["skeleton"] and seen["busy"], seen  # skeletons were up, marked busy
    assert seen["granted"] == ["100"], seen  # never a fake 0
    assert all(re.search(r"\d{4}$", s) for s in seen["since"]), seen  # never "since "
    expect(sized.locator("[aria-busy=true]")).to_have_count(0)

    empty = sized.locator("#usage-chart-empty")
    expect(empty).to_contain_text("No credits used in the last 30 days")
    expect(empty.get_by_role("link", name="Try a tool")).to_have_attribute("href", "/tools")
    expect(sized.locator("#usage-chart .recharts-surface")).to_have_count(0)  # no empty axes
    _fits(sized, "/usage")
    SHOTS.mkdir(parents=True, exist_ok=True)
    sized.locator("#usage-chart").screenshot(
        path=str(SHOTS / f"polish-usage-empty-{_width(sized)}.png")
    )


def test_the_chart_is_a_named_image_with_aa_text_and_its_numbers_in_a_table(
    sized: Page, app, new_email
):
    user_id = _signed_up(sized, app, new_email)
    _use(app, user_id, "keywords", 3, days_ago=6)
    _use(app, user_id, "qr", 1, days_ago=6)
    _use(app, user_id, "report", 10, days_ago=2)
    _use(app, user_id, "keywords", 6, days_ago=2)
    _use(app, user_id, "qr", 2, days_ago=0)
    busiest = (utcnow() - timedelta(days=2)).strftime("%b %-d")
    sized.goto("/usage")

    summary = sized.locator("#usage-chart-summary")
    expected = (
        f"Used 22 credits in the last 30 days, most on {busiest} (16 credits): "
        "Credit usage report (PDF) 10, Keywords & summary 9, QR code generator 3."
    )
    expect(summary).to_have_text(expected)
    image = sized.locator("#usage-chart-image")
    expect(image).to_have_attribute("role", "img")
    expect(image).to_have_attribute("aria-label", expected)
    expect(image.locator("svg.recharts-surface")).to_have_count(1)
    expect(image.locator(".recharts-bar-rectangle").first).to_be_visible()
    # Nothing in the chart is in the tab order or calls itself an application (recharts
    # keeps its own layers at tabindex=-1: out of the tab order).
    in_tab_order = '#usage-chart-image [tabindex]:not([tabindex="-1"])'
    expect(sized.locator(f"{in_tab_order}, #usage-chart [role=application]")).to_have_count(0)
    expect(image.locator("svg.recharts-surface")).not_to_have_attribute("tabindex", re.compile("."))

    # Contrast as rendered (the colours the browser computed), against the card.
    legend = _contrast_of(sized, "#usage-chart-legend li p, #usage-chart-legend li span")
    axis = _contrast_of(sized, "#usage-chart .recharts-cartesian-axis-tick-value")
    print(f"\ncontrast at {_width(sized)} px: legend {legend:.2f}:1, axis labels {axis:.2f}:1")
    assert legend >= 4.5 and axis >= 4.5
    # The legend names every tool.
    expect(sized.locator("#usage-chart-legend li")).to_have_text(
        ["QR code generator", "Keywords & summary", "Credit usage report (PDF)"]
    )

    # The numbers, as a table behind "Show the numbers".
    table = sized.locator("#usage-chart-table")
    expect(table).to_be_hidden()
    sized.get_by_text("Show the numbers").click()
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(3)
    busiest_row = table.locator("tbody tr").nth(1)
    expect(busiest_row.locator("th")).to_have_text(busiest)
    expect(busiest_row.locator("td")).to_have_text(
        ["Keywords & summary 6, Credit usage report (PDF) 10", "16"]
    )
    _fits(sized, "/usage")
    _no_serious_axe_violations(sized)

    SHOTS.mkdir(parents=True, exist_ok=True)
    sized.locator("#usage-chart").screenshot(
        path=str(SHOTS / f"polish-usage-chart-{_width(sized)}.png")
    )
    sized.screenshot(path=str(SHOTS / f"polish-usage-{_width(sized)}.png"), full_page=True)


def test_keyphrases_are_distinct_scored_in_percent_and_copied(sized: Page, app, new_email):
    _signed_up(sized, app, new_email)
    errors: list[str] = []
    sized.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sized.goto("/tools")
    sized.get_by_label("Text to analyse").fill(JWST)
    sized.locator("#run-keywords").click()

    rows = sized.locator("#keyphrases li")
    expect(rows.first).to_be_visible(timeout=15_000)
    texts = [t.strip() for t in rows.all_inner_texts()]
    phrases = [re.sub(r"\s*\d+%$", "", t) for t in texts]
    assert phrases[0] == "James Webb Space Telescope", texts
    assert "James Webb Space" not in phrases and "Webb Space Telescope" not in phrases
    percents = [int(re.search(r"(\d+)%$", t).group(1)) for t in texts]  # type: ignore[union-attr]
    assert percents[0] == 100 and percents == sorted(percents, reverse=True)
    assert percents.count(100) == 1 and min(percents) >= 1
    assert len(set(percents)) >= len(percents) - 3  # a spread, not a wall of one value

    copy = sized.locator("#keywords-copy")
    expect(copy).to_have_text("Copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    expect(sized.locator("#keywords-copy-status")).to_have_text("Copied to the clipboard")
    copied = sized.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("Keyphrases (relevance compared with the top one):\n")
    assert "- James Webb Space Telescope (100%)" in copied
    assert "\nSummary:\n" in copied
    expect(copy).to_have_text("Copy", timeout=5_000)  # the confirmation goes away
    assert not [e for e in errors if "Content Security Policy" in e or "eval" in e], errors
    _fits(sized, "/tools")
    _no_serious_axe_violations(sized)

    SHOTS.mkdir(parents=True, exist_ok=True)
    sized.locator("#tool-keywords").screenshot(
        path=str(SHOTS / f"polish-keywords-{_width(sized)}.png")
    )
    sized.screenshot(path=str(SHOTS / f"polish-tools-{_width(sized)}.png"), full_page=True)
