"""The admin console's customers, in Chromium: an admin finds a customer by a prefix of their
address, grants them credits through the confirmation (password step included) and the
customer's own open dashboard shows the new balance within a second, with the audit row
written; a deduction above what is available offers to deduct what is available; a normal
user never gets the console's pages; a garbage id shows "No such customer". Also the
overview's reconcile button, and screenshots of the three pages at 1280 and 390 px
(/tmp/shots/admin_*.png)."""

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from credit_app import clock, routes
from credit_app.admin import accounts, audit
from credit_app.auth.accounts import user_id_by_email
from credit_app.db import session_scope
from tests.e2e.helpers import PASSWORD, expect_balance, sign_up

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots")
# The customer's tab follows a committed change within ~1 s (the ledger follower).
LIVE_TIMEOUT = 1_500


def _user_id(app, email: str) -> uuid.UUID:
    with session_scope(app.engine) as session:
        found = user_id_by_email(session, email)
    assert found is not None
    return found


def _make_admin(app, email: str) -> None:
    with session_scope(app.engine) as session:
        accounts.set_admin(
            session,
            actor=audit.Actor.cli(),
            user_id=user_id_by_email(session, email),
            admin=True,
            reason="e2e",
            now=clock.now(),
        )


def _audit_rows(app, user_id: uuid.UUID, action: str) -> list[audit.AuditRow]:
    with session_scope(app.engine) as session:
        return audit.entries(
            session, where=audit.AuditFilter(action=action, target_user_id=user_id)
        )


def _signed_up(browser: Browser, app, email: str, name: str = "Ada Lovelace") -> Page:
    context = browser.new_context(base_url=app.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_up(page, email, name)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    return page


def _admin(browser: Browser, app) -> Page:
    email = f"e2e-admin-{uuid.uuid4().hex[:8]}@example.com"
    page = _signed_up(browser, app, email, "Grace Admin")
    _make_admin(app, email)
    return page


def _review(page: Page, mode: str, amount: str, reason: str) -> None:
    card = page.locator("#customer-adjust")
    choice = card.get_by_role("radio", name=mode)
    choice.click()  # the server's answer checks it
    expect(choice).to_be_checked()
    card.get_by_label("Amount (credits)").fill(amount)
    card.get_by_label("Reason").fill(reason)
    card.get_by_role("button", name="Review…").click()
    expect(page.locator("#adjust-dialog")).to_be_visible()


def _confirm(page: Page) -> None:
    dialog = page.locator("#adjust-dialog")
    password = dialog.get_by_label("Your password")
    if password.count():
        password.fill(PASSWORD)
    dialog.get_by_role("button", name="Confirm").click()


def test_admin_grants_and_the_customers_open_tab_follows(browser: Browser, app, new_email):
    customer = _signed_up(browser, app, new_email, "Ada Customer")
    expect_balance(customer, 100)
    admin = _admin(browser, app)

    # Find them by a prefix of their address (any case), submitted with Enter.
    admin.goto(routes.ADMIN_CUSTOMERS)
    search = admin.get_by_label("Email or name starts with")
    search.fill(new_email[:12].upper())
    search.press("Enter")
    expect(admin).to_have_url(re.compile(r"/admin/customers/?\?q="))
    link = admin.get_by_role("link", name=new_email)
    expect(link).to_be_visible()
    # The query survives a reload.
    admin.reload()
    expect(admin.get_by_role("link", name=new_email)).to_be_visible()
    admin.get_by_role("link", name=new_email).click()

    expect(admin).to_have_url(re.compile(r"/admin/customer/?\?id="))
    expect(admin.get_by_role("heading", level=1)).to_have_text(new_email)
    expect(admin.locator("#customer-balance-total")).to_have_text("100")

    _review(admin, "Grant", "50", "Goodwill: the report failed twice")
    expect(admin.locator("#adjust-before")).to_have_text("100")
    expect(admin.locator("#adjust-after")).to_have_text("150")
    # No password typed yet in this session: the confirmation asks for it.
    expect(admin.locator("#adjust-dialog").get_by_label("Your password")).to_be_visible()
    _confirm(admin)
    expect(admin.locator("#adjust-done")).to_contain_text("Granted 50 credits")
    # The customer's own tab, open all along, follows without a reload.
    expect(customer.locator("#dashboard-balance")).to_have_text("150", timeout=LIVE_TIMEOUT)
    expect(admin.locator("#customer-balance-total")).to_have_text("150")
    expect(admin.locator("#customer-ledger")).to_contain_text("Adjusted by support")

    rows = _audit_rows(app, _user_id(app, new_email), audit.Action.GRANT)
    assert len(rows) == 1
    assert rows[0].reason == "Goodwill: the report failed twice"
    assert rows[0].actor.startswith("admin ")

    for context in {admin.context, customer.context}:
        context.close()


def test_a_deduction_above_the_available_offers_what_is_available(browser: Browser, app, new_email):
    customer = _signed_up(browser, app, new_email)
    customer.context.close()
    admin = _admin(browser, app)
    user_id = _user_id(app, new_email)
    admin.goto(routes.admin_customer(str(user_id)))
    expect(admin.locator("#customer-balance-total")).to_have_text("100")

    _review(admin, "Deduct", "500", "Duplicate account abuse")
    expect(admin.locator("#adjust-shortfall")).to_have_text("400")
    take = admin.get_by_label("Deduct what is available (100)")
    expect(take).to_be_visible()
    expect(admin.locator("#adjust-confirm")).to_be_disabled()
    take.click()  # the server's answer checks it
    expect(take).to_be_checked()
    expect(admin.locator("#adjust-after")).to_have_text("0")
    _confirm(admin)
    expect(admin.locator("#adjust-done")).to_contain_text("Deducted 100 credits")
    expect(admin.locator("#customer-balance-total")).to_have_text("0")
    assert len(_audit_rows(app, user_id, audit.Action.DEDUCT)) == 1

    # Bad input is refused on the form, before any confirmation.
    form = admin.locator("#customer-adjust")
    form.get_by_role("radio", name="Grant").click()
    expect(form.get_by_role("radio", name="Grant")).to_be_checked()
    form.get_by_label("Amount (credits)").fill("12a")
    form.get_by_label("Reason").fill("")
    form.get_by_role("button", name="Review…").click()
    expect(admin.locator("#adjust-amount-error")).to_contain_text("whole number")
    expect(admin.locator("#adjust-reason-error")).to_contain_text("reason")
    expect(admin.locator("#adjust-dialog")).to_have_count(0)

    # An id that is not a customer's.
    admin.goto(f"{routes.ADMIN_CUSTOMER}?id=not-a-uuid")
    expect(admin.locator("#no-such-customer")).to_contain_text("No such customer")
    admin.goto(routes.admin_customer(str(uuid.uuid4())))
    expect(admin.locator("#no-such-customer")).to_contain_text("No such customer")
    admin.context.close()


def test_a_normal_user_never_sees_the_console(page: Page, app, new_email):
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    user_id = _user_id(app, new_email)
    for path in (
        routes.ADMIN,
        routes.ADMIN_CUSTOMERS,
        f"{routes.ADMIN_CUSTOMERS}?q=e2e",
        routes.admin_customer(str(user_id)),
    ):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/dashboard/?$"))
        expect(page.get_by_role("navigation", name="Admin console")).to_have_count(0)
        expect(page.locator("#customers-table")).to_have_count(0)
        expect(page.locator("#customer-profile")).to_have_count(0)
    assert _audit_rows(app, user_id, audit.Action.GRANT) == []


def test_overview_runs_reconcile_and_screenshots(browser: Browser, app, new_email):
    customer = _signed_up(browser, app, new_email, "Ada Screens")
    customer.context.close()
    admin = _admin(browser, app)
    admin.goto(routes.ADMIN)
    expect(admin.locator("#overview-granted")).to_be_visible()
    admin.locator("#run-reconcile").click()
    expect(admin.locator("#reconcile-result")).to_contain_text("Reconcile done")
    expect(admin.locator("#overview-reconcile-last")).to_contain_text("Last run")
    admin.get_by_role("radio", name="90 days").click()
    expect(admin.locator("#overview-summary")).to_contain_text("Last 90 days")

    SHOTS.mkdir(parents=True, exist_ok=True)
    user_id = _user_id(app, new_email)
    pages = {
        "overview": (routes.ADMIN, "#overview-granted"),
        "customers": (routes.ADMIN_CUSTOMERS, "#customers-page"),
        "customer": (routes.admin_customer(str(user_id)), "#customer-ledger"),
    }
    for width, suffix in ((1280, "1280"), (390, "390")):
        admin.set_viewport_size({"width": width, "height": 900})
        for name, (path, ready) in pages.items():
            admin.goto(path)
            expect(admin.locator(ready)).to_be_visible()
            admin.screenshot(path=str(SHOTS / f"admin_{name}_{suffix}.png"), full_page=True)
            # Nothing scrolls the page sideways on a phone.
            overflow = admin.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} at {width}px scrolls sideways by {overflow}px"
    admin.context.close()
