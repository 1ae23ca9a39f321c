"""The account page's "API keys" and "Webhooks" sections and the admin console's view of
them, in Chromium against the prod build:

- a spend key created on /account (the current password asked: a wrong one creates
  nothing and says so beside the field, which is emptied; shown once, in a dialog that
  forgets it) spends over real HTTP and the open dashboard tab shows the new balance
  without a reload; revoked on the page, the key's next request is answered 401;
- an endpoint added on /account (the current password asked) shows its signing secret
  once and is listed; a spend
  over the API reaches a receiver run by the test, the delivery log says "Delivered", and
  "Resend" sends the same event again (needs WEBHOOKS_ALLOW_PRIVATE in the app's
  environment, so the receiver may be on loopback);
- an admin issues a key for a customer (password asked), sees their endpoints and revokes
  a key, each audited as the admin;
- both pages at 390 and 1280 px with a key and an endpoint listed: no sideways scrolling,
  no serious axe-core finding; screenshots in /tmp/shots/credits_api_*.png, and of the
  account page's API keys section (its password field, then refused) in
  /tmp/shots/account-api-keys-*.png.
"""

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from credit_app import clock
from credit_app.admin import accounts, audit
from credit_app.auth.accounts import user_id_by_email
from credit_app.credits_api import keys, webhooks
from credit_app.db import session_scope
from credit_app.outbound import CheckedUrl
from tests import async_run
from tests.e2e.conftest import RunningApp, free_port
from tests.e2e.helpers import PASSWORD, expect_balance, sign_up
from tests.e2e.test_layout import sized  # noqa: F401  (the fixture: each page at 390 and 1280 px)

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots")
# A committed change reaches the user's open tabs within about a second (the ledger
# follower); the margin is for a loaded CI machine.
LIVE_TIMEOUT = 3_000


def _user_id(app: RunningApp, email: str) -> uuid.UUID:
    with session_scope(app.engine) as session:
        found = user_id_by_email(session, email)
    assert found is not None
    return found


def _signed_up(browser: Browser, app: RunningApp, email: str, name: str = "Ada Lovelace") -> Page:
    context = browser.new_context(base_url=app.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_up(page, email, name)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    return page


def _audited(app: RunningApp, user_id: uuid.UUID) -> set[tuple[str, uuid.UUID | None]]:
    """(action, who did it) of the audit rows about `user_id`."""
    with session_scope(app.engine) as session:
        rows = audit.entries(session, where=audit.AuditFilter(target_user_id=user_id))
    return {(row.action, row.actor_user_id) for row in rows}


def _spend(app: RunningApp, key: str, amount: int = 3) -> httpx.Response:
    return httpx.post(
        f"{app.url}/api/v1/spend",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
        json={"amount": amount, "feature": "api-test"},
        timeout=15,
    )


def _create_key(page: Page, name: str, scope: str) -> str:
    """Create a key in /account's API keys section (with the current password); the full
    key, read from its dialog (which is then closed)."""
    form = page.locator("form").filter(has=page.get_by_role("button", name="Create key"))
    form.get_by_label("Label", exact=True).fill(name)
    form.get_by_role("radio", name=scope).click()
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Your new API key")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("You won't see it again")
    key = dialog.locator("#new-api-key").inner_text().strip()
    assert re.fullmatch(r"cak_[A-Za-z0-9_-]{40}", key), key
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()
    # Shown once: nothing of it stays on the page (and the state that held it is emptied).
    expect(page.locator("#new-api-key")).to_have_count(0)
    assert key not in page.content()
    return key


def _key_row(page: Page, name: str):
    return page.locator(".api-key").filter(has=page.locator(".api-key-name", has_text=name))


def test_a_key_from_the_account_page_spends_over_http_live_and_is_revoked(
    browser: Browser, app: RunningApp, new_email: str
):
    dashboard = _signed_up(browser, app, new_email)
    expect_balance(dashboard, 100)

    account = dashboard.context.new_page()
    account.goto("/account")
    section = account.locator("#account-api-keys")
    expect(section.get_by_text("No keys yet")).to_be_visible()
    expect(section.get_by_role("link", name="API reference")).to_have_attribute(
        "href", "/api/v1/docs"
    )

    # A blank name is refused beside the field, nothing is created.
    section.get_by_role("button", name="Create key").click()
    expect(account.locator("#api-key-name-error")).to_contain_text("Label the key")
    expect(section.get_by_label("Label", exact=True)).to_have_attribute("aria-invalid", "true")

    # A wrong current password: refused beside the password field, which is emptied, and
    # no key is created.
    section.get_by_label("Label", exact=True).fill("Billing worker")
    password = section.get_by_label("Current password")
    password.fill("not my password")
    section.get_by_role("button", name="Create key").click()
    expect(account.locator("#api-key-current-password-error")).to_have_text(
        "This is not your current password."
    )
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_value("")
    expect(section.get_by_text("No keys yet")).to_be_visible()
    expect(account.get_by_role("dialog", name="Your new API key")).to_have_count(0)
    user_id = _user_id(app, new_email)
    assert async_run.run(keys.keys_of(user_id, engine=app.engine)) == []
    # Typing again takes the error away.
    password.fill("c")
    expect(password).to_have_attribute("aria-invalid", "false")

    key = _create_key(account, "Billing worker", "Spend")
    row = _key_row(account, "Billing worker")
    expect(row).to_contain_text(key[:12] + "…")
    expect(row).to_contain_text("Spend")
    expect(row).to_contain_text("Last used never")

    spent = _spend(app, key)
    assert spent.status_code == 200, spent.text
    # The dashboard tab, untouched since it loaded, follows the spend made over HTTP.
    expect(dashboard.locator("#dashboard-balance")).to_have_text("97", timeout=LIVE_TIMEOUT)

    account.reload()
    expect(row).not_to_contain_text("Last used never")

    row.get_by_role("button", name=re.compile("^Revoke")).click()
    confirm = account.get_by_role("alertdialog")
    expect(confirm).to_contain_text("Billing worker")
    confirm.get_by_role("button", name="Revoke key").click()
    expect(account.locator("#api-keys-status")).to_contain_text("Key revoked")
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("button", name=re.compile("^Revoke"))).to_have_count(0)

    refused = _spend(app, key)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "unauthorized"
    expect_balance(dashboard, 97)

    assert {("api_key_create", user_id), ("api_key_revoke", user_id)} <= _audited(app, user_id)
    dashboard.context.close()


class Receiver:
    """An HTTP endpoint on loopback that answers 204 and keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append({"headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def events(self, type_: str) -> list[dict[str, Any]]:
        return [r["body"] for r in self.received if r["body"].get("type") == type_]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


def _poll(check, timeout: float = 20) -> None:
    """Wait until `check()` is true (the delivery worker sends within a few seconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_an_endpoint_from_the_account_page_gets_its_events_and_a_resend(
    browser: Browser, app: RunningApp, new_email: str, receiver: Receiver
):
    account = _signed_up(browser, app, new_email)
    account.goto("/account")
    section = account.locator("#account-webhooks")
    expect(section.get_by_text("No endpoints yet")).to_be_visible()
    expect(section.get_by_text("No deliveries yet")).to_be_visible()

    # Nothing ticked: refused beside the events.
    section.get_by_label("Endpoint URL").fill(receiver.url)
    section.get_by_role("button", name="Add endpoint").click()
    expect(account.locator("#webhook-events-error")).to_have_text("Pick at least one event.")

    section.get_by_role("checkbox", name="credits.spent").click()
    section.get_by_role("checkbox", name="credits.low_balance").click()
    threshold = section.get_by_label("Low-balance threshold (credits)")
    expect(threshold).to_be_visible()
    threshold.fill("50")
    section.get_by_label("Current password").fill(PASSWORD)
    section.get_by_role("button", name="Add endpoint").click()
    dialog = account.get_by_role("dialog", name="Your endpoint's signing secret")
    expect(
        dialog,
        "refused? The receiver is on loopback: the e2e app needs WEBHOOKS_ALLOW_PRIVATE=true "
        "(tests/e2e/conftest.py, app_env)",
    ).to_be_visible()
    secret = dialog.locator("#new-webhook-secret").inner_text().strip()
    assert secret.startswith("whsec_"), secret
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()
    assert secret not in account.content()
    listed = section.locator(".webhook-endpoint")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text(receiver.url)
    expect(listed).to_contain_text("credits.low_balance, credits.spent")
    expect(listed).to_contain_text("below 50 credits")

    owner = _user_id(app, new_email)
    issued = async_run.run(
        keys.issue(
            owner,
            actor=audit.Actor.user(owner),
            name="worker",
            scope="spend",
            expires_at=None,
            engine=app.engine,
        )
    )
    assert _spend(app, issued.key, 5).status_code == 200
    _poll(lambda: len(receiver.events("credits.spent")) == 1)
    event_id = receiver.events("credits.spent")[0]["id"]

    section.get_by_role("button", name="Refresh").click()
    delivery = section.locator(".webhook-delivery").filter(has_text=event_id)
    expect(delivery).to_contain_text("credits.spent")
    expect(delivery).to_contain_text("Delivered")
    expect(delivery).to_contain_text("Last answer: HTTP 204")

    delivery.get_by_role("button", name=re.compile("^Resend")).click()
    expect(account.locator("#deliveries-status")).to_contain_text("Sent again")
    _poll(lambda: len(receiver.events("credits.spent")) == 2)
    assert receiver.events("credits.spent")[1]["id"] == event_id  # the same event, again
    section.get_by_role("button", name="Refresh").click()
    expect(delivery).to_contain_text("Delivered")
    SHOTS.mkdir(exist_ok=True)
    account.screenshot(path=SHOTS / "credits_api_deliveries_1280.png", full_page=True)

    section.get_by_role("button", name=re.compile("^Remove")).click()
    account.get_by_role("alertdialog").get_by_role("button", name="Remove endpoint").click()
    expect(account.locator("#webhooks-status")).to_contain_text("Endpoint removed")
    expect(section.get_by_text("No endpoints yet")).to_be_visible()
    account.context.close()


def _make_admin(app: RunningApp, email: str) -> None:
    with session_scope(app.engine) as session:
        accounts.set_admin(
            session,
            actor=audit.Actor.cli(),
            user_id=user_id_by_email(session, email),
            admin=True,
            reason="e2e",
            now=clock.now(),
        )


def _customer_with_integrations(app: RunningApp, email: str) -> uuid.UUID:
    """A key and an endpoint of the customer's, made through the services. The endpoint
    takes an event this test never causes (no top-up is set up), so nothing is ever sent
    to its made-up host; its URL is given as already checked, so no DNS lookup runs."""
    owner = _user_id(app, email)
    actor = audit.Actor.user(owner)
    async_run.run(
        keys.issue(
            owner,
            actor=actor,
            name="Nightly import",
            scope="read",
            expires_at=None,
            engine=app.engine,
        )
    )
    with session_scope(app.engine) as session:
        webhooks.add(
            session,
            actor=actor,
            owner=owner,
            url=CheckedUrl("https://hooks.example.com/credit-app"),
            events=["auto_topup.failed"],
            low_balance_threshold=None,
            now=clock.now(),
        )
    return owner


def test_an_admin_issues_and_revokes_a_customers_keys(browser: Browser, app: RunningApp):
    customer_email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    customer = _signed_up(browser, app, customer_email)
    customer_id = _customer_with_integrations(app, customer_email)
    admin_email = f"e2e-admin-{uuid.uuid4().hex[:8]}@example.com"
    admin = _signed_up(browser, app, admin_email, "Grace Admin")
    _make_admin(app, admin_email)

    admin.goto(f"/admin/customer?id={customer_id}")
    keys_card = admin.locator("#customer-api-keys")
    expect(_key_row(admin, "Nightly import")).to_contain_text("Read")
    expect(admin.locator("#customer-webhooks .webhook-endpoint")).to_contain_text(
        "https://hooks.example.com/credit-app"
    )

    # Issuing a key that can spend the customer's credits asks for the admin's password.
    keys_card.get_by_label("Label", exact=True).fill("Support import")
    keys_card.get_by_role("radio", name="Spend").click()
    keys_card.get_by_role("button", name="Create key").click()
    expect(admin.locator("#api-key-form-error")).to_contain_text("Enter your password")
    keys_card.get_by_label("Your password").fill(PASSWORD)
    keys_card.get_by_role("button", name="Create key").click()
    dialog = admin.get_by_role("dialog", name="Your new API key")
    key = dialog.locator("#new-api-key").inner_text().strip()
    assert key.startswith("cak_")
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()
    assert _spend(app, key, 1).status_code == 200

    _key_row(admin, "Support import").get_by_role("button", name=re.compile("^Revoke")).click()
    admin.get_by_role("alertdialog").get_by_role("button", name="Revoke key").click()
    expect(_key_row(admin, "Support import")).to_contain_text("Revoked")
    assert _spend(app, key, 1).status_code == 401

    admin_id = _user_id(app, admin_email)
    assert {("api_key_create", admin_id), ("api_key_revoke", admin_id)} <= _audited(
        app, customer_id
    )
    # The customer's own page lists the key the admin made (and revoked).
    customer.goto("/account")
    expect(_key_row(customer, "Support import")).to_contain_text("Revoked")
    customer.context.close()
    admin.context.close()


# Finite animations still running (a dialog fading in): scanned mid-fade, text has less
# contrast than it will have a moment later. (Polled from here: the pages' CSP forbids the
# string evaluation wait_for_function uses.)
ANIMATING = """() => document.getAnimations().some(
    a => a.playState === "running" && a.effect && a.effect.getTiming().iterations !== Infinity
)"""


def _no_serious_axe_violations(page: Page) -> None:
    deadline = time.monotonic() + 5
    while page.evaluate(ANIMATING) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    found = Axe().run(page).response["violations"]
    serious = [
        f"{v['impact']} {v['id']} at {v['nodes'][0]['target']}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []


def _fits(page: Page) -> None:
    """No sideways scrolling of the page."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def _section_shot(page: Page, selector: str, name: str) -> None:
    """One section, cut from a full-page screenshot (an element screenshot scrolls, and the
    sticky header would cover the top of a section taller than the window)."""
    page.evaluate("window.scrollTo(0, 0)")
    box = page.locator(selector).bounding_box()
    assert box is not None
    page.screenshot(path=SHOTS / name, full_page=True, clip=box)


def test_both_pages_at_phone_and_laptop_width(
    sized: Page,  # noqa: F811
    browser: Browser,
    app: RunningApp,
    new_email: str,
):
    width = sized.viewport_size["width"] if sized.viewport_size else 0
    SHOTS.mkdir(exist_ok=True)
    sign_up(sized, new_email)
    expect_balance(sized, 100)
    customer_id = _customer_with_integrations(app, new_email)

    sized.goto("/account")
    expect(_key_row(sized, "Nightly import")).to_be_visible()
    expect(sized.locator("#account-webhooks .webhook-endpoint")).to_have_count(1)
    _fits(sized)
    _no_serious_axe_violations(sized)
    sized.screenshot(path=SHOTS / f"credits_api_account_{width}.png", full_page=True)

    section = sized.locator("#account-api-keys")
    _section_shot(sized, "#account-api-keys", f"account-api-keys-{width}.png")
    form = section.locator("form")
    form.get_by_label("Label", exact=True).fill("Billing worker")
    form.get_by_role("button", name="Create key").click()
    expect(sized.locator("#api-key-current-password-error")).to_have_text(
        "Enter your current password."
    )
    _fits(sized)
    _no_serious_axe_violations(sized)
    _section_shot(sized, "#account-api-keys", f"account-api-keys-refused-{width}.png")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Create key").click()
    dialog = sized.get_by_role("dialog", name="Your new API key")
    expect(dialog).to_be_visible()
    _no_serious_axe_violations(sized)
    sized.screenshot(path=SHOTS / f"credits_api_new_key_{width}.png")
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()

    admin_email = f"e2e-admin-{uuid.uuid4().hex[:8]}@example.com"
    admin = _signed_up(browser, app, admin_email, "Grace Admin")
    admin.set_viewport_size({"width": width, "height": 900})
    _make_admin(app, admin_email)
    admin.goto(f"/admin/customer?id={customer_id}")
    expect(_key_row(admin, "Billing worker")).to_be_visible()
    expect(admin.locator("#customer-webhooks .webhook-endpoint")).to_have_count(1)
    _fits(admin)
    _no_serious_axe_violations(admin)
    admin.screenshot(path=SHOTS / f"credits_api_admin_{width}.png", full_page=True)
    admin.context.close()
