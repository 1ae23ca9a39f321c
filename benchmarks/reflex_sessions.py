"""Scripted browser tabs for load: asyncio Socket.IO clients speaking Reflex's event
protocol as the page's own script does (reflex_base/.templates/web/utils/state.js), many
in one process.

A tab connects with its client token in the query and its boot event in the CONNECT
packet's auth (`hydrate_and_load` carrying the browser's cookies, and the page in the
router data), so the backend hydrates it and runs the page's on_load at once, exactly as
a browser's first connect does (minus the compiled-defaults hashes, so the first answer
is the full state instead of only what differs). Events are then sent as the page sends a
form's submit: the handler's full name, the form data as `form_data`, the router data.
Each update's delta is watched for the live account's balance (state/live.py).
"""

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import reflex as rx
import socketio

from credit_app.state.live import LiveAccount
from credit_app.state.session import SessionState

NAMESPACE = "/_event"
BOOT_EVENT = f"{rx.State.get_full_name()}.hydrate_and_load"
SESSION_COOKIE_VAR = f"{SessionState.get_full_name()}.session_token"
LIVE_ACCOUNT = LiveAccount.get_full_name()
BALANCE = "balance_rx_state_"
# Set by the signed-in pages' on_load (AccountState.load) once the live account is fresh.
LOADED = "loaded_rx_state_"


def router_data(path: str) -> dict[str, str]:
    return {"pathname": path, "asPath": path}


class Tab:
    """One browser tab of a signed-in session, open on `path`. `on_balance(balance, at)`
    is called for every balance an update carries (`at`: time.perf_counter())."""

    def __init__(
        self,
        url: str,
        *,
        session_token: str,
        path: str,
        http: aiohttp.ClientSession,
        on_balance: Callable[[int, float], None] | None = None,
    ) -> None:
        self.url = url
        self.path = path
        self.token = str(uuid.uuid4())
        self.session_token = session_token
        self.balance: int | None = None
        self.loaded = False
        self.on_balance = on_balance
        self.on_delta: Callable[[dict[str, dict[str, Any]]], None] | None = None
        self._changed = asyncio.Event()
        self._sio = socketio.AsyncClient(reconnection=False, http_session=http)
        self._sio.on("event", self._on_update, namespace=NAMESPACE)

    async def _on_update(self, update: Any) -> None:
        if not isinstance(update, dict):
            return
        delta: dict[str, dict[str, Any]] = update.get("delta") or {}
        if self.on_delta is not None:
            self.on_delta(delta)
        if any(fields.get(LOADED) is True for fields in delta.values()):
            self.loaded = True
            self._changed.set()
        live = delta.get(LIVE_ACCOUNT) or {}
        if BALANCE in live and isinstance(live[BALANCE], int):
            self.balance = live[BALANCE]
            if self.on_balance is not None:
                self.on_balance(self.balance, time.perf_counter())
            self._changed.set()

    async def open(self, timeout: float = 60) -> "Tab":
        """Connect, hydrate and load the page; returns once the page has loaded and shows
        a balance (the hydrate's own snapshot carries the defaults, 0 credits, before the
        page's on_load has read the account; every simulated person has credits)."""
        boot = {
            "name": BOOT_EVENT,
            "payload": {"vars": {SESSION_COOKIE_VAR: self.session_token}},
            "router_data": router_data(self.path),
        }
        await self._sio.connect(
            f"{self.url}?token={self.token}",
            socketio_path=NAMESPACE,
            namespaces=[NAMESPACE],
            transports=["websocket"],
            auth={"event": boot},
            wait_timeout=timeout,
        )
        async with asyncio.timeout(timeout):
            while not (self.loaded and self.balance):
                self._changed.clear()
                await self._changed.wait()
        return self

    async def balance_at_most(self, wanted: int, *, timeout: float) -> None:
        """Wait until the tab shows a balance of `wanted` or less."""
        async with asyncio.timeout(timeout):
            while self.balance is None or self.balance > wanted:
                self._changed.clear()
                await self._changed.wait()

    async def send(self, handler: str, payload: dict[str, Any]) -> None:
        """Call an event handler (its full dotted name) as this tab's page would."""
        await self._sio.emit(
            "event",
            {"name": handler, "payload": payload, "router_data": router_data(self.path)},
            namespace=NAMESPACE,
        )

    async def close(self) -> None:
        await self._sio.disconnect()
