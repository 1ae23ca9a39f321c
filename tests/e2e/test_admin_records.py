"""The admin console's record pages in Chromium: Stripe events (a failed renewal replayed
once), shortfalls (written off and set to recover, with a reason) and the audit log.

This app runs against the Stripe sandbox started standalone with `--max-attempts 1`: an
event that fails is not retried by "Stripe", so the admin's replay is what lands it (the
embedded sandbox has no test controls, and its retries would race the replay)."""

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import select

from credit_app import credits
from credit_app.admin import accounts, audit
from credit_app.credits import keys
from credit_app.db import session_scope
from credit_app.models import LedgerEntry, Shortfall, StripeEvent, User, UserSubscription, utcnow
from stripe_sandbox import SandboxControl
from tests.e2e.conftest import RunningApp, start_standalone_sandbox
from tests.e2e.helpers import PASSWORD, expect_balance, log_in, pay_on_checkout, sign_up

pytestmark = pytest.mark.e2e

SANDBOX_KEY = "sk_test_admin_records"
SHOTS = Path("/tmp/shots")
BLOCKING = {"serious", "critical"}
_axe = Axe()


class RecordsApp:
    def __init__(self, app: RunningApp, control: SandboxControl) -> None:
        self.app = app
        self.url = app.url
        self.engine = app.engine
        self.control = control
        # What the tests did, for the audit log's test (they run in file order).
        self.done: dict[str, str] = {}
        self.admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture(scope="module")
def records(tmp_path_factory, browser: Browser) -> Iterator[RecordsApp]:
    workdir = tmp_path_factory.mktemp("admin_records")
    with (
        start_standalone_sandbox(
            workdir, api_key=SANDBOX_KEY, sandbox_args=["--max-attempts", "1"]
        ) as (running, sandbox_url),
        SandboxControl(sandbox_url, api_key=SANDBOX_KEY) as control,
    ):
        found = RecordsApp(running, control)
        context = browser.new_context(base_url=running.url)
        page = context.new_page()
        sign_up(page, found.admin_email, name="Ann Admin")
        expect(page).to_have_url(re.compile(r"/dashboard/?$"), timeout=30_000)
        context.close()
        with session_scope(running.engine) as session:
            admin_id = _user_id(session, found.admin_email)
            accounts.set_admin(
                session,
                actor=audit.Actor.cli(),
                user_id=admin_id,
                admin=True,
                reason=None,
                now=utcnow(),
            )
        yield found


def _user_id(session, email: str) -> uuid.UUID:
    return session.exec(select(User).where(User.email == email)).one().id


def _context(browser: Browser, records: RecordsApp, width: int = 1280) -> BrowserContext:
    context = browser.new_context(
        base_url=records.url, viewport={"width": width, "height": 900 if width > 600 else 844}
    )
    context.set_default_timeout(15_000)
    return context


def _admin_tab(context: BrowserContext, records: RecordsApp) -> Page:
    page = context.new_page()
    page.goto("/login")
    log_in(page, records.admin_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    return page


def _balance(records: RecordsApp, user_id: uuid.UUID) -> int:
    with session_scope(records.engine) as session:
        return credits.balance(session, user_id=user_id)


def _shortfall(records: RecordsApp, email: str, *, take: int, spend: int = 0) -> int:
    """A shortfall for `email`'s account: `spend` of their credits used, then a take-back of
    `take` (more than what is left); its id."""
    with session_scope(records.engine) as session:
        user_id = _user_id(session, email)
        tag = uuid.uuid4().hex[:8]
        if spend:
            credits.spend(
                session,
                user_id=user_id,
                amount=spend,
                idempotency_key=f"e2e-use-{tag}",
                feature="qr",
            )
        result = credits.clawback(
            session,
            user_id=user_id,
            amount=take,
            idempotency_key=f"e2e-refund-{tag}",
            description="Refund (e2e)",
        )
        assert result.shortfall > 0
        return (
            session.exec(
                select(Shortfall).where(Shortfall.user_id == user_id).order_by(Shortfall.id.desc())
            )
            .first()
            .id
        )


def test_a_failed_renewal_is_replayed_once_from_the_events_page(browser: Browser, records):
    control = records.control
    customer_ctx = _context(browser, records)
    customer = customer_ctx.new_page()
    email = f"renews-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(customer, email)
    expect(customer).to_have_url(re.compile(r"/dashboard/?$"))
    customer.goto("/pricing")
    customer.locator("#choose-pro_monthly").click()
    pay_on_checkout(customer)
    expect(customer.locator("#confirmed")).to_contain_text("Payment confirmed", timeout=30_000)
    customer.goto("/dashboard")
    expect_balance(customer, 1100)
    with session_scope(records.engine) as session:
        user_id = _user_id(session, email)
        sub_id = (
            session.exec(select(UserSubscription).where(UserSubscription.user_id == user_id))
            .one()
            .stripe_subscription_id
        )

    # The renewal's invoice.paid re-fetches the subscription first: that one call fails,
    # and "Stripe" (one attempt per event here) does not retry.
    control.wait_idle()
    control.fail_api(f"/v1/subscriptions/{sub_id}", method="GET", count=1)
    renewal = control.advance(sub_id)
    control.wait_idle()
    with session_scope(records.engine) as session:
        failed = session.exec(
            select(StripeEvent).where(
                StripeEvent.user_id == user_id, StripeEvent.outcome == "failed"
            )
        ).all()
    assert [e.type for e in failed] == ["invoice.paid"]
    event_id = failed[0].id
    assert _balance(records, user_id) == 1100

    admin_ctx = _context(browser, records)
    admin = _admin_tab(admin_ctx, records)
    stale = admin_ctx.new_page()  # a second tab, left on the failed list
    admin.goto("/admin/events")
    banner = admin.locator("#failed-events-banner")
    expect(banner).to_contain_text("1 Stripe event failed in the last 24 hours")
    banner.get_by_role("link", name="Review and replay them").click()
    expect(admin).to_have_url(re.compile(r"/admin/events/?\?outcome=failed$"))
    expect(admin.get_by_role("heading", level=1)).to_have_text("Stripe events")
    row = admin.locator(f'tr[data-event-id="{event_id}"]')
    expect(row).to_contain_text("invoice.paid")
    expect(row.locator(".outcome-badge")).to_have_text("failed")
    expect(row).to_contain_text(email)
    expect(row).to_contain_text("unknown error")
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin.screenshot(path=str(SHOTS / "admin_events_failed_1280.png"), full_page=True)
    stale.goto("/admin/events?outcome=failed")
    expect(stale.locator(f'tr[data-event-id="{event_id}"]')).to_be_visible()

    row.get_by_role("button", name=f"Replay {event_id}").click()
    expect(admin.locator("#replay-result")).to_contain_text("applied:")
    expect(admin.locator("#events-empty")).to_contain_text("No events match these filters")
    expect(banner).to_have_count(0)
    # The customer's open tab shows the renewal's credits at once.
    expect_balance(customer, 2100)
    assert _balance(records, user_id) == 2100
    grant_key = keys.invoice_grant(renewal["id"])
    with session_scope(records.engine) as session:
        grants = session.exec(
            select(LedgerEntry).where(LedgerEntry.idempotency_key == grant_key)
        ).all()
        assert [g.delta for g in grants] == [1000]
        assert session.get(StripeEvent, event_id).outcome == "applied"

    # The stale tab replays it again: duplicate, nothing changes.
    stale.locator(f'tr[data-event-id="{event_id}"]').get_by_role(
        "button", name=f"Replay {event_id}"
    ).click()
    expect(stale.locator("#replay-result")).to_contain_text("duplicate:")
    assert _balance(records, user_id) == 2100

    # Its detail: the payload and what it wrote in the ledger.
    admin.bring_to_front()
    admin.goto(f"/admin/events?id={event_id}")
    dialog = admin.get_by_role("dialog")
    expect(dialog).to_contain_text("invoice.paid")
    expect(dialog.locator("#event-payload")).to_contain_text(f'"id": "{event_id}"')
    entries = dialog.locator("#event-entries")
    expect(entries).to_contain_text("+1,000")
    expect(entries).to_contain_text(grant_key)
    expect(entries).to_contain_text("2,100")
    # Escape closes it (pressed on its Close button, where the dialog put the focus).
    dialog.get_by_role("button", name="Close").press("Escape")
    expect(dialog).to_have_count(0)
    expect(admin).to_have_url(re.compile(r"/admin/events/?$"))
    # The customer filter finds their events (and only theirs).
    admin.get_by_label("Customer email").fill(email.upper())
    admin.get_by_label("Customer email").press("Enter")
    expect(admin).to_have_url(re.compile(r"customer="))
    expect(admin.locator("tr.event-row").first).to_contain_text(email)
    rows = admin.locator("tr.event-row")
    for i in range(rows.count()):
        expect(rows.nth(i)).to_contain_text(email)
    records.done.update(replayed=event_id, subscriber=email)
    customer_ctx.close()
    admin_ctx.close()


def test_a_shortfall_is_written_off_and_another_set_to_recover(browser: Browser, records):
    context = _context(browser, records)
    owes = f"owes-{uuid.uuid4().hex[:8]}@example.com"
    customer = context.new_page()
    sign_up(customer, owes)
    expect(customer).to_have_url(re.compile(r"/dashboard/?$"))
    first = _shortfall(records, owes, spend=80, take=50)  # 20 taken, 30 short
    second = _shortfall(records, owes, take=5)  # nothing left: 5 short
    context.close()
    context = _context(browser, records)
    admin = _admin_tab(context, records)
    admin.goto("/admin/shortfalls")
    expect(admin.get_by_role("heading", level=1)).to_have_text("Shortfalls")
    row = admin.locator(f'tr[data-shortfall-id="{first}"]')
    expect(row).to_contain_text(owes)
    expect(row.locator(".shortfall-status")).to_have_text("Open")
    expect(row).to_contain_text("30")

    row.get_by_role("button", name=f"Write off the shortfall of {owes}").click()
    dialog = admin.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Give up on 30 outstanding credits")
    dialog.get_by_role("button", name="Write off").click()  # no reason yet
    expect(dialog.locator("#shortfall-reason-error")).to_contain_text("Give a reason")
    dialog.get_by_label("Reason (kept in the audit log)").fill("Goodwill: long-time customer")
    # What a customer owes changes only with the admin's password typed again.
    dialog.get_by_role("button", name="Write off").click()
    expect(dialog.locator("#shortfall-action-error")).to_contain_text("Enter your password")
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_role("button", name="Write off").click()
    expect(dialog).to_have_count(0)
    expect(admin.locator("#shortfalls-message")).to_contain_text(
        f"Wrote off 30 outstanding credits of {owes}"
    )
    expect(row).to_have_count(0)  # the default list is what still needs a decision

    second_row = admin.locator(f'tr[data-shortfall-id="{second}"]')
    second_row.get_by_role("button", name=re.compile("^Recover the shortfall")).click()
    dialog.get_by_label("Reason (kept in the audit log)").fill("Will renew next week")
    dialog.get_by_role("button", name="Recover from next payment").click()
    expect(admin.locator("#shortfalls-message")).to_contain_text("from their next payment")
    expect(second_row.locator(".shortfall-status")).to_have_text("Recovering")
    # Recovering: only a write-off is left to decide.
    expect(second_row.get_by_role("button", name=re.compile("^Recover"))).to_have_count(0)

    admin.get_by_label("Status").click()
    admin.get_by_role("option", name="Written off").click()
    expect(admin).to_have_url(re.compile(r"status=written_off"))
    expect(admin.locator(f'tr[data-shortfall-id="{first}"] .shortfall-status')).to_have_text(
        "Written off"
    )

    with session_scope(records.engine) as session:
        assert session.get(Shortfall, first).status == "written_off"
        assert session.get(Shortfall, second).status == "recovering"
        user_id = _user_id(session, owes)
        written = audit.entries(
            session, where=audit.AuditFilter(action="write_off", target_user_id=user_id)
        )
        assert [(r.target_ref, r.reason) for r in written] == [
            (f"shortfall:{first}", "Goodwill: long-time customer")
        ]
        assert written[0].actor == f"admin {records.admin_email}"
        recovering = audit.entries(
            session, where=audit.AuditFilter(action="recover", target_user_id=user_id)
        )
        assert [r.target_ref for r in recovering] == [f"shortfall:{second}"]
    records.done.update(owes=owes, written_off=str(first))
    context.close()


def test_the_audit_log_lists_those_actions(browser: Browser, records):
    assert records.done.get("replayed") and records.done.get("written_off"), (
        "runs after the events and shortfalls tests"
    )
    context = _context(browser, records)
    admin = _admin_tab(context, records)
    admin.goto("/admin/audit")
    expect(admin.get_by_role("heading", level=1)).to_have_text("Audit log")
    rows = admin.locator("tr.audit-row")
    # Newest first: the recovery, the write-off, the replay, then the CLI making the admin.
    expect(rows.first.locator(".audit-action")).to_have_text("recover")
    expect(rows.nth(1)).to_contain_text("write_off")
    expect(rows.nth(1)).to_contain_text(f"admin {records.admin_email}")
    expect(rows.nth(1)).to_contain_text(records.done["owes"])
    expect(rows.nth(1)).to_contain_text("Goodwill: long-time customer")
    expect(rows.nth(1).locator(".audit-change")).to_contain_text('"status": "open"')
    expect(rows.nth(1).locator(".audit-change")).to_contain_text('"status": "written_off"')
    # Two replays of the event: the one that applied it, then the stale tab's duplicate.
    replays = admin.locator("tr.audit-row", has_text=records.done["replayed"])
    expect(replays).to_have_count(2)
    expect(replays.first.locator(".audit-change")).to_contain_text('"outcome": "duplicate"')
    applied = replays.nth(1)
    expect(applied.locator(".audit-action")).to_have_text("replay")
    expect(applied).to_contain_text(records.done["subscriber"])
    expect(applied.locator(".audit-change")).to_contain_text('{"outcome": "failed"}')
    expect(applied.locator(".audit-change")).to_contain_text('"outcome": "applied"')
    made = admin.locator("tr.audit-row", has_text="make_admin")
    expect(made).to_contain_text("cli (")

    # Filters in the URL: an action, then a customer.
    admin.get_by_label("Action").click()
    admin.get_by_role("option", name="write off").click()
    expect(admin).to_have_url(re.compile(r"action=write_off"))
    expect(rows.first.locator(".audit-action")).to_have_text("write_off")
    for i in range(rows.count()):
        expect(rows.nth(i).locator(".audit-action")).to_have_text("write_off")
    admin.goto(f"/admin/audit?customer={records.done['owes']}")
    expect(rows).to_have_count(2)
    admin.goto("/admin/audit?customer=nobody-here@example.com")
    expect(admin.locator("#filter-customer-error")).to_have_text("No customer has this address.")
    expect(admin.locator("#audit-empty")).to_contain_text("No audit entries match")

    # "Load more": the next rows below the last one shown.
    with session_scope(records.engine) as session:
        target = _user_id(session, records.done["owes"])
        for n in range(55):
            audit.record(
                session,
                actor=audit.Actor.cli(),
                action=audit.Action.SETTINGS,
                target_user_id=target,
                target_ref=f"e2e-{n}",
                after={"n": n},
                reason="paging",
            )
        total = len(audit.entries(session, where=audit.AuditFilter(), limit=1000))
    admin.goto("/admin/audit")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("e2e-54")
    admin.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(min(total, 100))
    expect(admin.locator("#audit-count")).to_have_text(f"{min(total, 100)} shown")
    context.close()


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"the page scrolls sideways: {width} > {viewport}"


@pytest.mark.parametrize("width", [1280, 390])
def test_screenshots_of_the_record_pages(browser: Browser, records, width: int):
    assert records.done.get("replayed"), "runs after the events test"
    # An open shortfall, so the page has a row to act on.
    with session_scope(records.engine) as session:
        email = session.exec(select(User).where(User.email.like("owes-%"))).first().email
    _shortfall(records, email, take=10)
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = _context(browser, records, width)
    admin = _admin_tab(context, records)
    for name, path, ready in (
        ("events", "/admin/events", "tr.event-row"),
        ("shortfalls", "/admin/shortfalls", "tr.shortfall-row"),
        ("audit", "/admin/audit", "tr.audit-row"),
    ):
        admin.goto(path)
        expect(admin.locator(ready).first).to_be_visible()
        expect(admin.get_by_role("heading", level=1)).to_have_count(1)
        _no_sideways_scroll(admin)
        # The console's own bar is admin_layout's, checked with it (its solid "Admin"
        # badge is a known contrast failure, reported); this scans the page's content.
        found = _axe.run(admin, context={"exclude": [["header"]]}).response["violations"]
        blocking = [
            f"{v['impact']} {v['id']} at {v['nodes'][0]['target']}"
            for v in found
            if v["impact"] in BLOCKING
        ]
        assert blocking == [], f"{path}: {blocking}"
        admin.screenshot(path=str(SHOTS / f"admin_{name}_{width}.png"), full_page=True)
    # The table's box is in the tab order and scrolls sideways with the arrow keys.
    table = admin.locator("#shortfalls-table")
    if width < 600:
        admin.goto("/admin/shortfalls")
        table.focus()
        expect(table).to_be_focused()
        table.press("ArrowRight")
        table.press("ArrowRight")
        # (Polled here: wait_for_function would eval a string, which the CSP refuses.)
        deadline = time.monotonic() + 5
        while table.evaluate("el => el.scrollLeft") == 0:
            assert time.monotonic() < deadline, "the arrow keys did not scroll the table"
            time.sleep(0.05)
    admin.goto(f"/admin/events?id={records.done['replayed']}")
    expect(admin.locator("#event-payload")).to_be_visible()
    expect(admin.get_by_role("dialog")).to_be_visible()
    _no_sideways_scroll(admin)
    admin.screenshot(path=str(SHOTS / f"admin_events_detail_{width}.png"))
    context.close()
