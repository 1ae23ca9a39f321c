"""Premium tools in Chromium: costs, running out, the upgrade dialog, one charge per
action, live balance across tabs, and the usage page with its CSV."""

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from credit_app import credits
from credit_app.auth.accounts import user_id_by_email
from credit_app.credits import holds
from credit_app.db import session_scope
from credit_app.models import LedgerEntry
from tests.e2e.helpers import sign_up

pytestmark = pytest.mark.e2e

TEXT = (
    "Honeybees are facing colony losses across Europe and North America. Varroa mites "
    "weaken worker bees and spread viruses. Beekeepers monitor varroa mite levels and treat "
    "colonies in late summer. Healthy worker bees need diverse pollen from many plants."
)


def _user(app, email: str) -> uuid.UUID:
    with session_scope(app.engine) as session:
        return user_id_by_email(session, email)


def _spend_out_of_band(app, user_id, amount):
    with session_scope(app.engine) as session:
        credits.spend(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=uuid.uuid4().hex,
            feature="test",
        )


def _badge(page: Page):
    return page.locator("#balance-badge")


def _open_tools(page: Page, email: str, app, keep: int | None = None) -> uuid.UUID:
    sign_up(page, email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    user_id = _user(app, email)
    if keep is not None:
        _spend_out_of_band(app, user_id, 100 - keep)
    page.goto("/tools")
    expect(page.locator("#run-qr")).to_contain_text("1 credit")
    return user_id


def test_spend_down_to_zero_then_see_why_tools_are_disabled(page: Page, new_email, app):
    _open_tools(page, new_email, app, keep=1)
    expect(page.locator("#run-keywords")).to_be_disabled()
    expect(page.locator("#keywords-disabled-reason")).to_contain_text(
        "Needs 3 credits; you have 1 credit."
    )
    expect(page.locator("#low-balance-banner")).to_be_visible()
    page.get_by_label("Text or link").fill("https://example.com")
    page.locator("#run-qr").click()
    expect(page.locator("#qr-image")).to_be_visible()
    expect(_badge(page)).to_contain_text("0 credits")
    expect(page.locator("#run-qr")).to_be_disabled()
    expect(page.locator("#qr-disabled-reason")).to_contain_text(
        "Needs 1 credit; you have 0 credits."
    )


def test_a_lost_race_opens_the_dialog_with_upgrade_and_buy(page: Page, new_email, app):
    user_id = _open_tools(page, new_email, app, keep=3)
    # Another device reserves the credits; this tab has not heard of it yet.
    with session_scope(app.engine) as session:
        holds.reserve(session, user_id=user_id, amount=3, idempotency_key="other", feature="report")
    page.get_by_label("Text to analyse").fill(TEXT)
    # Submitted as if the click was already on its way when the other device reserved the
    # credits (the live push may disable the button first; the request is what counts).
    page.evaluate("document.querySelector('#keywords-text').form.requestSubmit()")
    expect(page.locator("#insufficient-text")).to_contain_text("needs 3 credits and you have 0")
    expect(page.get_by_role("link", name="Buy credits")).to_have_attribute(
        "href", "/pricing?plan=pack_500"
    )
    page.get_by_role("link", name="Upgrade plan").click()
    expect(page).to_have_url(re.compile(r"/pricing/?\?plan=pro_monthly"))
    expect(page.locator("#plan-pro")).to_have_css("outline-style", "solid")
    with session_scope(app.engine) as session:
        assert credits.balance(session, user_id=user_id) == 3


def test_a_double_submission_charges_once(page: Page, new_email, app):
    user_id = _open_tools(page, new_email, app)
    page.get_by_label("Text or link").fill("double")
    # Two submissions of the same form before the first one's answer arrives.
    page.evaluate(
        "() => { const form = document.querySelector('#qr-text').form;"
        " form.requestSubmit(); form.requestSubmit(); }"
    )
    expect(page.locator("#qr-image")).to_be_visible()
    expect(_badge(page)).to_contain_text("99 credits")
    page.locator("#run-qr").dblclick()
    expect(_badge(page)).to_contain_text("98 credits")
    with session_scope(app.engine) as session:
        spends = session.scalars(
            select(LedgerEntry.delta).where(
                LedgerEntry.user_id == user_id, LedgerEntry.feature == "qr"
            )
        ).all()
    assert spends == [-1, -1]


def test_two_tabs_see_each_others_spends_and_operator_grants(page: Page, new_email, app):
    user_id = _open_tools(page, new_email, app)
    other = page.context.new_page()
    other.goto("/dashboard")
    expect(other.locator("#dashboard-balance")).to_have_text("100")
    page.get_by_label("Text to analyse").fill(TEXT)
    page.locator("#run-keywords").click()
    expect(other.locator("#dashboard-balance")).to_have_text("97", timeout=1000)
    # A change made by another process (an operator's grant) reaches both tabs as well.
    with session_scope(app.engine) as session:
        credits.grant(session, user_id=user_id, amount=50, idempotency_key="ops-1", source="admin")
    expect(other.locator("#dashboard-balance")).to_have_text("147", timeout=2000)
    expect(_badge(page)).to_contain_text("147 credits", timeout=2000)


def test_the_report_shows_progress_and_usage_lists_everything(page: Page, new_email, app):
    _open_tools(page, new_email, app)
    with page.expect_download() as download:
        page.locator("#run-report").click()
    assert download.value.suggested_filename.endswith(".pdf")
    expect(page.locator("#report-status")).to_contain_text("Done")
    expect(_badge(page)).to_contain_text("90 credits")

    page.get_by_role("link", name="Usage").click()
    expect(page.locator("#usage-ledger")).to_contain_text("Credit usage report (PDF)")
    expect(page.locator("#usage-ledger")).to_contain_text("Used")  # the word, not "capture"
    expect(page.locator("#period-spent")).to_have_text("10")
    expect(page.locator("#usage-page")).to_contain_text("2 entries")
    with page.expect_download() as csv_download:
        page.get_by_role("button", name="Export CSV").click()
    text = Path(csv_download.value.path()).read_text()
    assert "capture" in text and "report" in text and "Welcome credits" in text
    assert text.splitlines()[0].endswith(",type") and ",Used" in text
