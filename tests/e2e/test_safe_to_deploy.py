"""The app in production mode, tried as an attacker would: with a browser, plain HTTP and
scripted Socket.IO clients (issue: safe to deploy)."""

import re
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import socketio.exceptions
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from credit_app import credits
from credit_app.auth.sessions import revoke_all_sessions
from credit_app.db import session_scope
from credit_app.models import GrantSource, LedgerEntry, User
from credit_app.state.login import LoginState
from credit_app.state.signup import SignupState
from credit_app.state.tools import ToolsState
from credit_app.tools import keywords, qr
from tests.e2e.conftest import ROOT, RunningApp, app_env, free_port
from tests.e2e.helpers import PASSWORD, expect_balance, sign_up
from tests.e2e.reflex_client import ReflexClient

# The key the embedded sandbox accepted before it was sealed (it was in the source).
OLD_SANDBOX_KEY = "sk_test_embedded_sandbox"
LOGIN = LoginState.get_full_name() + ".submit"


def _user(app: RunningApp, email: str) -> User:
    with session_scope(app.engine) as session:
        return session.scalar(select(User).where(User.email == email))


def _grant(app: RunningApp, user_id: uuid.UUID, amount: int, description: str) -> None:
    """As an operator or another worker would: committed outside the app's process."""
    with session_scope(app.engine) as session:
        credits.grant(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=f"test:{uuid.uuid4()}",
            source=GrantSource.ADMIN,
            description=description,
        )


def _ledger_rows(app: RunningApp, user_id: uuid.UUID) -> int:
    with session_scope(app.engine) as session:
        return session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.user_id == user_id)
        )


@pytest.mark.parametrize("key", [None, OLD_SANDBOX_KEY])
def test_the_embedded_sandbox_has_no_controls_and_refuses_the_old_key(app, key):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    for path in ("subscriptions/sub_1/advance", "charges/ch_1/dispute", "reset", "faults"):
        response = httpx.post(f"{app.url}/stripe-sandbox/_sandbox/{path}", headers=headers)
        assert response.status_code == 404, path
    customers = httpx.get(f"{app.url}/stripe-sandbox/v1/customers", headers=headers)
    assert customers.status_code == 401
    assert "customer" not in customers.text.replace("customers", "")


def test_a_megabyte_form_post_is_refused_at_once_while_the_app_keeps_answering(app):
    body = b"a[]=1&" * (1024 * 1024 // 6)
    health_times: list[float] = []
    done = threading.Event()

    def poll_health() -> None:
        while not done.is_set():
            started = time.perf_counter()
            assert httpx.get(f"{app.url}/api/health", timeout=5).status_code == 200
            health_times.append(time.perf_counter() - started)

    poller = threading.Thread(target=poll_health)
    poller.start()
    try:
        started = time.perf_counter()
        response = httpx.post(
            f"{app.url}/stripe-sandbox/checkout/cs_anything",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
            timeout=30,
        )
        elapsed = time.perf_counter() - started
    finally:
        done.set()
        poller.join()
    assert response.status_code == 413
    assert elapsed < 1.0
    assert health_times and max(health_times) < 1.0


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"APP_URL": "https://credits.example.com"}, "not a loopback address"),
        ({"PAYMENTS": ""}, "PAYMENTS is not set"),
        ({"PAYMENTS": "stripe", "STRIPE_SECRET_KEY": "sk_live_x"}, "STRIPE_WEBHOOK_SECRET"),
    ],
)
def test_serving_refuses_unsafe_payment_settings(tmp_path, env, reason):
    database_url = f"sqlite:///{tmp_path / 'refused.db'}"
    port = free_port()
    result = subprocess.run(
        ["reflex", "run", "--env", "prod", "--backend-only", "--backend-port", str(port)],
        cwd=ROOT,
        env=app_env(port, database_url, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert reason in result.stdout + result.stderr


def test_pages_carry_security_headers_the_test_mode_ribbon_and_break_no_policy(
    page: Page, app, new_email
):
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    response = page.goto("/")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert response.headers["referrer-policy"] == "same-origin"
    expect(page.locator("#test-mode-ribbon")).to_contain_text("payments are simulated")
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    for path in ("/dashboard", "/tools", "/usage", "/pricing"):
        page.goto(path)
        expect(page).to_have_url(re.compile(f"{path}/?$"))
        expect(page.locator("header #test-mode-ribbon")).to_be_visible()
    page.goto("/tools")
    page.get_by_label("Text or link").fill("https://example.com/csp")
    page.locator("#run-qr").click()
    expect(page.locator("#balance-badge")).to_contain_text("99 credits")
    assert violations == []


def test_hostile_client_tokens_are_refused_and_cannot_take_the_victims_pushes(
    browser: Browser, app, new_email
):
    victim = browser.new_context(base_url=app.url)
    tab = victim.new_page()
    sign_up(tab, new_email)
    expect_balance(tab, 100)
    user = _user(app, new_email)
    for token in (f"user-{user.id.hex}", user.id.hex, "x" * 64):
        with pytest.raises(socketio.exceptions.ConnectionError):
            ReflexClient(app.url, token=token).connect(timeout=5)
        polled = httpx.get(f"{app.url}/_event/?EIO=4&transport=polling&token={token}")
        assert polled.status_code == 403
    # A client-token-shaped token that happens to be the victim's user id is just a new,
    # empty tab: it is told nothing about the victim.
    squatter = ReflexClient(app.url, token=str(user.id)).connect()
    squatter.send(LOGIN, {"form_data": {"email": new_email, "password": "wrong guess"}})
    leaked = str(squatter.until("submitting_rx_state_", False))
    squatter.close()
    assert new_email not in leaked and user.name not in leaked
    # The victim's own tab still gets its pushes.
    _grant(app, user.id, 5, "Support credit")
    expect_balance(tab, 105)
    victim.close()


def test_a_revoked_session_is_signed_out_and_its_tab_receives_nothing_more(
    page: Page, app, new_email
):
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    sign_up(page, new_email)
    expect_balance(page, 100)
    user = _user(app, new_email)
    with session_scope(app.engine) as session:  # as another worker or the CLI would
        revoke_all_sessions(session, user_id=user.id)
    expect(page).to_have_url(re.compile(r"/login/?$"), timeout=5000)
    after_check = len(frames)
    _grant(app, user.id, 7, "After revocation")
    page.wait_for_timeout(2000)  # four ledger-follower ticks: nothing may arrive
    later = " ".join(frames[after_check:])
    assert new_email not in later and "107" not in later and "After revocation" not in later
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login/?\?next=(/|%2F)dashboard"))
    expect(page.locator("#balance-badge")).to_have_count(0)


def test_the_return_page_ends_at_once_for_a_missing_bogus_or_foreign_checkout(
    browser: Browser, app, new_email
):
    context = browser.new_context(base_url=app.url)
    page = context.new_page()
    sign_up(page, new_email)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    for query in ("", "?session_id=cs_test_bogus", "?session_id=" + "x" * 5000):
        started = time.perf_counter()
        page.goto(f"/billing/success{query}")
        expect(page.locator("#confirm-problem")).to_have_text(
            "There is no payment of yours to confirm here.", timeout=5000
        )
        assert time.perf_counter() - started < 5
        expect(page.locator("#confirming")).to_have_count(0)
    context.close()


def _logged_in(client: ReflexClient, email: str, password: str) -> str:
    """Send one log-in from a connected scripted tab; returns the error it showed ('' when
    it signed in)."""
    client.send(LOGIN, {"form_data": {"email": email, "password": password}}, path="/login")
    changes = client.until("submitting_rx_state_", False, timeout=60)
    return [c["error_rx_state_"] for c in changes if "error_rx_state_" in c][-1]


def _login_attempt(app: RunningApp, email: str, password: str) -> str:
    client = ReflexClient(app.url).connect()
    try:
        return _logged_in(client, email, password)
    finally:
        client.close()


def test_a_login_flood_leaves_signed_in_pages_fast(page: Page, app, new_email):
    sign_up(page, new_email)
    expect_balance(page, 100)
    # Sixty tabs already open (a flood of new connections is another matter), then
    # sixty log-ins with random emails at once.
    with ThreadPoolExecutor(max_workers=60) as pool:
        tabs = list(pool.map(lambda _: ReflexClient(app.url).connect(), range(60)))
        flood = [
            pool.submit(_logged_in, tab, f"flood-{uuid.uuid4().hex[:8]}@example.com", "x" * 12)
            for tab in tabs
        ]
        load_times = []
        while not all(f.done() for f in flood):
            started = time.perf_counter()
            page.goto("/dashboard")
            expect(page.locator("#dashboard-balance")).to_have_text("100", timeout=5000)
            load_times.append(time.perf_counter() - started)
        answers = [f.result() for f in flood]
        for tab in tabs:
            tab.close()
    assert all(answers), "every flood attempt is refused one way or another"
    assert load_times and max(load_times) < 1.0, load_times


def test_simultaneous_guesses_after_a_back_off_window_are_verified_once(app, new_email, page):
    sign_up(page, new_email)
    expect_balance(page, 100)
    for _ in range(3):  # the free failures
        assert _login_attempt(app, new_email, "wrong password") != ""
    deadline = time.monotonic() + 10
    while "Too many failed attempts" in (msg := _login_attempt(app, new_email, "wrong again")):
        assert time.monotonic() < deadline, msg
    # The back-off after that failure is 2 s; wait it out, then six tabs at once.
    time.sleep(2.1)
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: _login_attempt(app, new_email, PASSWORD), range(6)))
    assert answers.count("") == 1, answers
    # The others are refused before their password is checked: by the back-off, or by a
    # full hashing queue (one Argon2 worker on this machine).
    assert all(a.startswith("Too many") for a in answers if a), answers


@pytest.mark.parametrize(
    "variant",
    ["\uff41{rest}", "{upper}"],
    ids=["fullwidth", "upper-case"],
)
def test_an_address_variant_of_an_existing_account_is_refused(page: Page, app, variant):
    rest = f"lice-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(page, "a" + rest)
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    page.context.clear_cookies()
    sign_up(page, variant.format(rest=rest, upper=("A" + rest).upper()))
    expect(page.get_by_text("An account with this email already exists")).to_be_visible()


def test_keywords_at_the_maximum_input_finish_quickly(page: Page, app, new_email):
    sign_up(page, new_email)
    expect_balance(page, 100)
    page.goto("/tools")
    # The worst case for the old summary: 10,000 one-word sentences sharing that word.
    page.get_by_label("Text to analyse").fill("Foo. " * (keywords.MAX_CHARS // 5))
    started = time.perf_counter()
    page.locator("#run-keywords").click()
    expect(page.locator("#keyphrases")).to_be_visible(timeout=10_000)
    assert time.perf_counter() - started < 10
    expect(page.locator("#balance-badge")).to_contain_text("97 credits")


def test_invalid_tool_input_writes_nothing(page: Page, app, new_email):
    sign_up(page, new_email)
    expect_balance(page, 100)
    user = _user(app, new_email)
    page.goto("/tools")
    page.get_by_label("Text to analyse").fill("Far too short to analyse.")
    page.locator("#run-keywords").click()
    expect(page.locator("#keywords-error")).to_contain_text("at least 20 words")
    # What the page's own limit stops a person from typing, a script can still send.
    tab = ReflexClient(app.url).connect()
    tab.send(
        SignupState.get_full_name() + ".submit",
        {"form_data": {"email": "x" + new_email, "name": "Script", "password": PASSWORD}},
        path="/signup",
    )
    tab.until("submitting_rx_state_", False)
    scripted = _user(app, "x" + new_email)
    tab.send(
        ToolsState.get_full_name() + ".make_qr",
        {"form_data": {"text": "q" * (qr.MAX_CHARS + 1), "action_id": uuid.uuid4().hex}},
        path="/tools",
    )
    errors = [
        c["errors_rx_state_"] for c in tab.until("running_rx_state_", "") if "errors_rx_state_" in c
    ]
    tab.close()
    assert "at most" in errors[-1]["qr"]
    assert _ledger_rows(app, user.id) == 1  # the welcome credits, nothing since
    assert _ledger_rows(app, scripted.id) == 1
    expect(page.locator("#balance-badge")).to_contain_text("100 credits")
