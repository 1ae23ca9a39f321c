"""The credits API's reference page (/api/v1/docs) in Chromium: Swagger UI renders every
route of the OpenAPI document from files this app serves (no CDN, no inline script under
the Content-Security-Policy), it fits a phone and a laptop, and axe finds nothing serious
or critical on it."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, expect

from credit_app import routes
from tests.e2e.conftest import RunningApp
from tests.e2e.test_layout import SHOTS, SIZES

pytestmark = pytest.mark.e2e

BLOCKING = {"serious", "critical"}
ROUTES = ["/balance", "/spend", "/holds", "/holds/{hold_id}/capture", "/holds/{hold_id}/release"]


@pytest.mark.parametrize("width", [1280, 390])
def test_the_reference_renders_every_route_offline_and_passes_axe(
    browser: Browser, app: RunningApp, width: int
):
    context = browser.new_context(base_url=app.url, **SIZES[width])
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        elsewhere: list[str] = []
        page.on(
            "request",
            lambda r: not r.url.startswith(app.url) and elsewhere.append(r.url),
        )
        page.goto(routes.API_REFERENCE)
        # One h1: Swagger UI's, the OpenAPI document's title.
        expect(page.get_by_role("heading", level=1)).to_contain_text("Credit App credits API")
        for path in ROUTES:
            expect(page.locator(f'.opblock-summary-path[data-path="{path}"]').first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"api-reference-{width}.png"), full_page=False)
        found = Axe().run(page).response["violations"]
        serious = [
            f"{v['impact']} {v['id']} at {v['nodes'][0]['target']} ({len(v['nodes'])} nodes)"
            for v in found
            if v["impact"] in BLOCKING
        ]
        assert serious == [], "\n".join(serious)
        assert problems == [], "console errors (a CSP refusal shows here)"
        assert elsewhere == [], "the page loaded something from another origin"
    finally:
        context.close()
