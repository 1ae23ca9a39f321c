"""One browser, two people: after the first logs out and the second signs in, no page of
the second ever shows the first's numbers, not even before its own data has loaded."""

import re
import uuid

from playwright.sync_api import Page, expect

from tests.e2e.helpers import log_out, sign_up

# Records every text the ledger on /usage shows, from the first paint on.
WATCH_LEDGER = """
window.__seen = [];
new MutationObserver(() => {
  const main = document.querySelector('main');
  if (main && !window.__seen.includes(main.innerText)) window.__seen.push(main.innerText);
}).observe(document, {childList: true, subtree: true, characterData: true});
"""


def test_the_next_person_on_a_device_never_sees_the_last_ones_usage(page: Page):
    sign_up(page, f"first-{uuid.uuid4().hex[:8]}@example.com", name="First Person")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    page.goto("/tools")
    expect(page.locator("#balance-badge")).to_contain_text("100 credits")  # loaded
    page.get_by_label("Text or link").fill("https://example.com/first")
    page.locator("#run-qr").click()
    expect(page.locator("#qr-image")).to_be_visible()
    page.goto("/usage")
    expect(page.locator("main")).to_contain_text("QR code generator")

    log_out(page)
    sign_up(page, f"second-{uuid.uuid4().hex[:8]}@example.com", name="Second Person")
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    page.add_init_script(WATCH_LEDGER)
    page.goto("/usage")  # a full load: the tab's backend state is what it was at log-out
    expect(page.locator("main")).to_contain_text("Welcome credits")
    seen = page.evaluate("window.__seen")
    assert seen and not any("QR code generator" in text for text in seen), seen
