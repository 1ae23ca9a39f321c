"""The app's HTTP side (`build_api`: the credits API at /api/v1 among the rest) served by
uvicorn on a free port against one database: real HTTP, nothing mocked. For the credits
API tests and the API benchmark.

    with serve_api(database_url, api_rate_limit="3/minute") as server:
        key = server.issue_key(user_id, scope="spend")
        server.client(key).post("/spend", json={...}, headers={"Idempotency-Key": "k1"})

Settings are given as keyword arguments (names as in credit_app.settings.Settings) and
reach the server through its environment, restored when it stops. Which users' open tabs
the app was told to refresh is in `server.pushed`.
"""

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import uvicorn
from sqlalchemy import Engine
from starlette.types import ASGIApp

from credit_app import credits, db, settings
from credit_app.api import build_api
from credit_app.api.app_services import AccountPusher
from credit_app.api.v1 import PATH
from credit_app.auth import api_keys
from credit_app.db import session_scope
from credit_app.models import utcnow

# Settings a developer's shell may carry that would change what the server does.
_CLEARED = (
    "STRIPE_SECRET_KEY",
    "STRIPE_API_BASE",
    "STRIPE_WEBHOOK_SECRET",
    "REDIS_URL",
    "SANDBOX_CONTROLS",
    "API_CORS_ORIGINS",
    "API_RATE_LIMIT",
    "REQUIRE_VERIFIED_EMAIL",
    "CLOCK_OFFSET_SECONDS",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ApiServer:
    url: str  # the server's root (http://127.0.0.1:<port>)
    engine: Engine
    pushed: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        return self.url + PATH

    def client(self, key: str | None = None, **kwargs) -> httpx.Client:
        """An HTTP client for the API (paths relative to /api/v1), with the key if given
        (`headers=` adds headers of its own)."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        headers |= kwargs.pop("headers", {})
        return httpx.Client(base_url=self.api, headers=headers, timeout=30, **kwargs)

    def issue_key(
        self,
        owner: uuid.UUID | None,
        *,
        scope: str = "spend",
        expires_at: datetime | None = None,
    ) -> str:
        """A new key (owner None: a service key), as the account page or the CLI issue it."""
        with session_scope(self.engine) as session:
            return api_keys.issue(
                session,
                owner=owner,
                name="Test backend",
                scope=scope,
                expires_at=expires_at,
                now=utcnow(),
            ).key

    def balance(self, user_id: uuid.UUID) -> int:
        with session_scope(self.engine) as session:
            return credits.balance(session, user_id=user_id)


def _build_api(app_settings: settings.Settings, push: AccountPusher) -> ASGIApp:
    return build_api(app_settings, push_account=push)


@contextmanager
def serve_api(
    database_url: str,
    *,
    build: Callable[[settings.Settings, AccountPusher], ASGIApp] = _build_api,
    **overrides: object,
) -> Iterator[ApiServer]:
    """Serve `build(settings, push)` (default: `build_api`) for `database_url` until the
    block ends; see the module doc."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment: dict[str, str | None] = dict.fromkeys(_CLEARED)
    environment |= {"DATABASE_URL": database_url, "APP_URL": url, "PAYMENTS": "sandbox"}
    environment |= {name.upper(): str(value) for name, value in overrides.items()}
    saved = {name: os.environ.get(name) for name in environment}
    _set_environment(environment)
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    uvicorn_server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        pushed: list[str] = []

        async def push(user_id: str) -> None:
            pushed.append(user_id)

        app = build(settings.get_settings(), push)
        uvicorn_server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=uvicorn_server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not uvicorn_server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        yield ApiServer(url=url, engine=db.get_engine(), pushed=pushed)
    finally:
        if uvicorn_server is not None and thread is not None:
            uvicorn_server.should_exit = True
            thread.join(timeout=10)
        db.get_engine().dispose()
        _set_environment(saved)
        settings.get_settings.cache_clear()
        db.get_engine.cache_clear()


def _set_environment(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
