"""Real servers for sandbox tests: ASGI apps served by granian in a background thread, and a
webhook receiver that verifies every delivery with `stripe.Webhook.construct_event`."""

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import stripe
from granian.constants import Interfaces
from granian.server.embed import Server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(interval)


ROOT = Path(__file__).resolve().parents[2]


def sandbox_process(*args: str) -> subprocess.Popen:
    """`python -m stripe_sandbox ARGS` as an operator starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "stripe_sandbox", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@contextmanager
def standalone_sandbox(*args: str) -> Iterator[str]:
    """The standalone sandbox on a free port, once it answers; yields its URL."""
    port = free_port()
    proc = sandbox_process("--port", str(port), *args)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/_sandbox/health").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=20)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def serve(app: Any, port: int) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1:port in a thread with its own event loop."""
    server = Server(
        app, address="127.0.0.1", port=port, interface=Interfaces.ASGINL, log_enabled=False
    )
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())
        # Let background tasks (webhook workers) end cleanly before the loop closes.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            httpx.get(url + "/", timeout=1)
            return True
        except httpx.HTTPError:
            return False

    wait_until(up)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(server.stop)
        thread.join(10)


@dataclass
class Delivery:
    body: bytes
    signature: str
    event: dict[str, Any]


@dataclass
class Receiver:
    """Records verified events; answers 500 to the first `fail_first` requests."""

    secret: str
    fail_first: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    rejected: int = 0
    requests: int = 0

    def clear(self) -> None:
        self.deliveries.clear()
        self.rejected = 0
        self.requests = 0
        self.fail_first = 0

    @property
    def types(self) -> list[str]:
        return [d.event["type"] for d in self.deliveries]

    @property
    def ids(self) -> list[str]:
        return [d.event["id"] for d in self.deliveries]

    def app(self) -> Starlette:
        async def webhook(request: Request) -> Response:
            self.requests += 1
            body = await request.body()
            header = request.headers.get("stripe-signature", "")
            try:
                event = stripe.Webhook.construct_event(body.decode(), header, self.secret)
            except (ValueError, stripe.SignatureVerificationError):
                self.rejected += 1
                return JSONResponse({"error": "bad signature"}, status_code=400)
            if self.requests <= self.fail_first:
                return JSONResponse({"error": "try later"}, status_code=500)
            self.deliveries.append(Delivery(body, header, event.to_dict()))
            return JSONResponse({"received": True})

        async def ping(_: Request) -> Response:
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/", ping), Route("/webhook", webhook, methods=["POST"])])
