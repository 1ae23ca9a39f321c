"""axe-core (axe-playwright-python) on every page, signed out and signed in, on a laptop and
on a phone: no serious or critical violation. The failure message lists each violation
with its rule, impact and first element, so a regression says where to look."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.e2e.helpers import expect_balance, sign_up
from tests.e2e.test_layout import sized  # noqa: F401  (the fixture: each page at 390 and 1280 px)

pytestmark = pytest.mark.e2e

SIGNED_OUT_PAGES = [
    "/",
    "/signup",
    "/login",
    "/pricing",
    "/terms",
    "/privacy",
    "/refunds",
    "/forgot-password",
    "/reset-password",
    "/verify-email",
]
NOT_FOUND = "/no-such-page"
SIGNED_IN_PAGES = ["/dashboard", "/tools", "/usage", "/pricing", "/billing/success", "/account"]
BLOCKING = {"serious", "critical"}

_axe = Axe()


def _violations(page: Page, path: str) -> list[str]:
    page.goto(path)
    page.locator("h1").first.wait_for()
    page.locator("#header-pending").wait_for(state="detached")
    found = _axe.run(page).response["violations"]
    return [
        f"{path}: {v['impact']} {v['id']} at {v['nodes'][0]['target']} ({len(v['nodes'])} nodes)"
        for v in found
        if v["impact"] in BLOCKING
    ]


def test_no_serious_or_critical_violations_anywhere(sized: Page, new_email: str):  # noqa: F811
    problems = [p for path in [*SIGNED_OUT_PAGES, NOT_FOUND] for p in _violations(sized, path)]
    sign_up(sized, new_email)
    expect_balance(sized, 100)
    problems += [p for path in SIGNED_IN_PAGES for p in _violations(sized, path)]
    assert problems == []
