"""The running app's /metrics, scraped directly (a loopback peer) after a person signs
up in the browser: the events that page sent were timed by handler, the sign-up's
welcome credits were counted at commit and pushed to the open tab."""

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import RunningApp
from tests.e2e.helpers import sign_up

pytestmark = pytest.mark.e2e


def _scrape(app: RunningApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{app.url}/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _handler_count(samples, handler: str) -> float:
    return samples.get(("credit_app_event_handler_seconds_count", (("handler", handler),)), 0.0)


def _pushes(samples) -> float:
    return samples.get(("credit_app_live_push_seconds_count", (("push", "snapshot"),)), 0.0)


def test_event_handlers_and_grants_show_in_the_metrics(app: RunningApp, page: Page, new_email):
    before = _scrape(app)
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"), timeout=15_000)
    deadline = time.monotonic() + 20
    while True:
        after = _scrape(app)
        timed = {
            handler: _handler_count(after, handler) - _handler_count(before, handler)
            for handler in ("SignupState.submit", "AccountState.load")
        }
        # The welcome credits' entry, seen by the ledger follower, pushed to the new tab.
        timed["live push"] = _pushes(after) - _pushes(before)
        if all(count >= 1 for count in timed.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert all(count >= 1 for count in timed.values()), timed
    # Reflex's own events are counted, under one label.
    assert _handler_count(after, "other") >= 1
    welcome = ("credit_app_grants_total", (("kind", "grant"), ("source", "signup")))
    assert after.get(welcome, 0) >= before.get(welcome, 0) + 1
    # Proxied requests never see the page.
    proxied = httpx.get(f"{app.url}/metrics", headers={"X-Forwarded-For": "1.2.3.4"})
    assert "credit_app_" not in proxied.text
