"""The app in production mode (`reflex run --env prod`) on its own database, driven by
Debian's Chromium through Playwright."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from credit_app import migrations
from credit_app.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT = 400  # the first production build installs and bundles the frontend


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if (
                httpx.get(f"{url}/api/health", timeout=2).status_code == 200
                and httpx.get(f"{url}/login", timeout=2, follow_redirects=True).status_code == 200
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"app did not start in {STARTUP_TIMEOUT}s:\n{log.read_text()[-4000:]}")


class RunningApp:
    def __init__(self, url: str, database_url: str, outbox_dir: Path | None = None) -> None:
        self.url = url
        self.database_url = database_url
        # Where the app writes its mail (.eml files; OUTBOX_DIR), read by the tests.
        self.outbox_dir = outbox_dir
        # A standalone Stripe sandbox's URL, when the app runs against one.
        self.sandbox_url: str | None = None
        self.engine = make_engine(database_url)
        self.process: subprocess.Popen | None = None


@contextmanager
def running_process(command: list[str], *, cwd: Path, env: dict, log: Path):
    """A process in its own session, so stopping it stops everything it started."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def app_env(port: int, database_url: str, **extra: str) -> dict:
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "REFLEX_USE_NPM": "1",
        "DATABASE_URL": database_url,
        "APP_URL": f"http://127.0.0.1:{port}",
        "INITIAL_CREDITS": "100",
        "PAYMENTS": "sandbox",
        # Every browser of the suite signs up and logs in from 127.0.0.1.
        "SIGNUP_RATE_LIMIT": "1000/minute",
        "LOGIN_RATE_LIMIT": "1000/minute",
        # The browser tests' webhook receivers listen on 127.0.0.1.
        "WEBHOOKS_ALLOW_PRIVATE": "true",
    }
    for name in (
        "REDIS_URL",
        "STRIPE_SECRET_KEY",
        "STRIPE_API_BASE",
        "STRIPE_WEBHOOK_SECRET",
        "SANDBOX_CONTROLS",
        "ALLOW_PUBLIC_SANDBOX",
        "SMTP_URL",
        "REQUIRE_VERIFIED_EMAIL",
    ):
        env.pop(name, None)
    return {**env, **extra}


def copy_of_project(workdir: Path) -> Path:
    """The project copied into `workdir`, for a second app: `reflex run` builds the frontend
    in its working directory, and a build in ROOT would replace the files the session's
    app is serving (its pages would then load scripts that no longer exist)."""
    project = workdir / "project"
    shutil.copytree(
        ROOT,
        project,
        ignore=shutil.ignore_patterns(".venv", ".web", ".git", "*.db*", "__pycache__", ".*cache"),
    )
    return project


@contextmanager
def start_app(workdir: Path, *, cwd: Path = ROOT, port: int | None = None, **extra_env: str):
    """`reflex run --env prod` on a (free) port with its own SQLite database."""
    database_url = f"sqlite:///{workdir / 'e2e.db'}"
    migrations.upgrade(database_url)
    port = port or free_port()
    command = [
        "reflex",
        "run",
        "--env",
        "prod",
        "--frontend-port",
        str(port),
        "--backend-port",
        str(port),
        "--loglevel",
        "warning",
    ]
    log = workdir / "app.log"
    env = app_env(port, database_url, **{"OUTBOX_DIR": str(workdir / "outbox"), **extra_env})
    with running_process(command, cwd=cwd, env=env, log=log) as process:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, process, log)
        running = RunningApp(url, database_url, Path(env["OUTBOX_DIR"]))
        running.process = process
        try:
            yield running
        finally:
            running.engine.dispose()


def _wait_for_sandbox(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the sandbox exited"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout}s")


@contextmanager
def start_standalone_sandbox(
    workdir: Path, *, api_key: str, sandbox_args: list[str], **app_env: str
) -> Iterator[tuple[RunningApp, str]]:
    """The Stripe sandbox started standalone (its own process, `sandbox_args` added to its
    command line) and the app on a copy of the project against it, with the plans seeded.
    Yields the app and the sandbox's URL."""
    project = copy_of_project(workdir)
    port, sandbox_port = free_port(), free_port()
    secret = "whsec_" + uuid.uuid4().hex
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    sandbox = [
        sys.executable,
        "-m",
        "stripe_sandbox",
        "--port",
        str(sandbox_port),
        "--api-key",
        api_key,
        "--webhook-secret",
        secret,
        "--webhook-url",
        f"http://127.0.0.1:{port}/api/webhooks/stripe",
        "--public-url",
        sandbox_url,
        *sandbox_args,
    ]
    with running_process(
        sandbox, cwd=project, env=dict(os.environ), log=workdir / "sandbox.log"
    ) as proc:
        _wait_for_sandbox(f"{sandbox_url}/_sandbox/health", proc)
        stripe_env = {
            "PAYMENTS": "stripe",
            "STRIPE_SECRET_KEY": api_key,
            "STRIPE_API_BASE": sandbox_url,
            "STRIPE_WEBHOOK_SECRET": secret,
        }
        # As an operator would before going live: products and prices in "Stripe".
        seeded = subprocess.run(
            [sys.executable, "-m", "credit_app.cli", "seed-plans"],
            env={**os.environ, **stripe_env, "DATABASE_URL": f"sqlite:///{workdir / 'e2e.db'}"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert seeded.returncode == 0, seeded.stderr
        with start_app(workdir, cwd=project, port=port, **stripe_env, **app_env) as running:
            yield running, sandbox_url


@pytest.fixture(scope="session")
def app(tmp_path_factory) -> Iterator[RunningApp]:
    """The app on the embedded default: SQLite and the Stripe sandbox it serves itself."""
    with start_app(tmp_path_factory.mktemp("app")) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; run scripts/test, which installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, app: RunningApp) -> Iterator[Page]:
    """A fresh browser profile (no cookies) per test."""
    context = browser.new_context(base_url=app.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def new_email() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}@example.com"
