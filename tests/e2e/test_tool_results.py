"""Tool results stay available in Chromium: a paid report downloads again from the tools
page without a second charge; the QR code downloads as SVG and as a print-size PNG; an
over-long QR text is refused with a message and charges nothing."""

import io
import re
import uuid
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select

from credit_app import credits
from credit_app.auth.accounts import user_id_by_email
from credit_app.db import session_scope
from credit_app.models import LedgerEntry
from credit_app.tools import qr
from tests.e2e.helpers import sign_up

pytestmark = pytest.mark.e2e


def _open_tools(page: Page, email: str, app) -> uuid.UUID:
    sign_up(page, email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    with session_scope(app.engine) as session:
        user_id = user_id_by_email(session, email)
    page.goto("/tools")
    expect(page.locator("#run-qr")).to_contain_text("1 credit")
    return user_id


def _balance(app, user_id) -> int:
    with session_scope(app.engine) as session:
        return credits.balance(session, user_id=user_id)


def _tool_entries(app, user_id, feature: str) -> list[int]:
    with session_scope(app.engine) as session:
        return list(
            session.scalars(
                select(LedgerEntry.delta).where(
                    LedgerEntry.user_id == user_id, LedgerEntry.feature == feature
                )
            ).all()
        )


def test_a_report_downloads_again_without_a_second_charge(page: Page, new_email, app):
    user_id = _open_tools(page, new_email, app)
    with page.expect_download() as first:
        page.locator("#run-report").click()
    first_pdf = Path(first.value.path()).read_bytes()
    assert first_pdf.startswith(b"%PDF")
    expect(page.locator("#report-status")).to_contain_text("Done")
    expect(page.locator("#balance-badge")).to_contain_text("90 credits")

    with page.expect_download() as again:
        page.locator("#report-download").click()
    assert again.value.suggested_filename.endswith(".pdf")
    assert Path(again.value.path()).read_bytes() == first_pdf

    recent = page.locator("#recent-reports")
    expect(recent.get_by_role("button", name=re.compile("Download"))).to_have_count(1)
    with page.expect_download() as from_list:
        recent.get_by_role("button", name=re.compile("Download")).click()
    assert Path(from_list.value.path()).read_bytes() == first_pdf

    # Still kept after a reload (it lives in the database, not the tab).
    page.reload()
    expect(page.locator("#recent-reports")).to_contain_text("KB")
    expect(page.locator("#balance-badge")).to_contain_text("90 credits")
    assert _balance(app, user_id) == 90
    assert _tool_entries(app, user_id, "report") == [-10]  # paid once


def test_the_qr_code_downloads_as_svg_and_print_png(page: Page, new_email, app):
    user_id = _open_tools(page, new_email, app)
    page.get_by_label("Text or link").fill("https://example.com/print")
    page.locator("#run-qr").click()
    expect(page.locator("#qr-image")).to_be_visible()

    with page.expect_download() as svg:
        page.get_by_role("link", name="Download SVG").click()
    assert svg.value.suggested_filename == "qr-code.svg"
    text = Path(svg.value.path()).read_text()
    assert text.startswith("<?xml") and "<svg" in text and text.rstrip().endswith("</svg>")

    with page.expect_download() as png:
        page.get_by_role("button", name="Download PNG (print)").click()
    image = Image.open(io.BytesIO(Path(png.value.path()).read_bytes()))
    assert image.size[0] >= qr.PRINT_PIXELS and image.size[0] == image.size[1]
    assert _tool_entries(app, user_id, "qr") == [-1]


def test_over_long_qr_text_is_refused_and_charges_nothing(page: Page, new_email, app):
    user_id = _open_tools(page, new_email, app)
    too_long = "x" * (qr.MAX_CHARS + 1)
    page.get_by_label("Text or link").fill(too_long)
    # The field keeps all of it: nothing is cut silently.
    assert page.locator("#qr-text").input_value() == too_long
    page.locator("#run-qr").click()
    expect(page.locator("#qr-error")).to_contain_text("1,001 characters")
    expect(page.locator("#qr-error")).to_contain_text("at most 1,000")
    expect(page.locator("#qr-image")).to_have_count(0)
    expect(page.locator("#balance-badge")).to_contain_text("100 credits")
    assert _tool_entries(app, user_id, "qr") == []
    assert _balance(app, user_id) == 100
