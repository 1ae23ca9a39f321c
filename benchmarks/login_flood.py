"""Dashboard load time while 60 scripted tabs log in with random emails at once, against
the same page loads with no flood: the ratio is what the flood costs a signed-in user.

Needs a running app (the embedded default is fine) whose log-in rate limit lets one
address make 60 attempts, e.g.:

    PAYMENTS=sandbox LOGIN_RATE_LIMIT=1000/minute SIGNUP_RATE_LIMIT=1000/minute scripts/run 3200
    .venv/bin/python -m benchmarks.login_flood http://127.0.0.1:3200
"""

import argparse
import statistics
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Page, expect, sync_playwright

from credit_app.state.login import LoginState
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.helpers import sign_up
from tests.e2e.reflex_client import ReflexClient

LOGIN = LoginState.get_full_name() + ".submit"
TABS = 60


def _log_in(tab: ReflexClient) -> tuple[float, str]:
    started = time.perf_counter()
    email = f"flood-{uuid.uuid4().hex[:8]}@example.com"
    tab.send(LOGIN, {"form_data": {"email": email, "password": "x" * 12}}, path="/login")
    changes = tab.until("submitting_rx_state_", False, timeout=60)
    answer = [c["error_rx_state_"] for c in changes if "error_rx_state_" in c][-1]
    return time.perf_counter() - started, answer


def _load_dashboard(page: Page) -> float:
    started = time.perf_counter()
    page.goto("/dashboard")
    expect(page.locator("#dashboard-balance")).to_have_text("100")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(base_url=args.url).new_page()
        sign_up(page, f"bench-{uuid.uuid4().hex[:8]}@example.com")
        page.wait_for_url("**/dashboard**")
        quiet = [_load_dashboard(page) for _ in range(5)]
        with ThreadPoolExecutor(TABS) as pool:
            tabs = list(pool.map(lambda _: ReflexClient(args.url).connect(), range(TABS)))
            flood = [pool.submit(_log_in, tab) for tab in tabs]
            loud = []
            while not all(f.done() for f in flood):
                loud.append(_load_dashboard(page))
            answers = [f.result() for f in flood]
            for tab in tabs:
                tab.close()
        browser.close()
    print(
        f"dashboard, no flood:     median {statistics.median(quiet):.3f} s, max {max(quiet):.3f} s"
    )
    print(
        f"dashboard, {TABS} log-ins: median {statistics.median(loud):.3f} s, max {max(loud):.3f} s"
    )
    print(
        f"ratio of medians (flood/quiet): {statistics.median(loud) / statistics.median(quiet):.2f}"
    )
    print(f"log-in answers: median {statistics.median(t for t, _ in answers):.3f} s")
    for answer, count in Counter(a[:45] for _, a in answers).most_common():
        print(f"  {count:3d} x {answer}")


if __name__ == "__main__":
    main()
