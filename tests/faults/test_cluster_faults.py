"""Faults in a cluster of two backends behind nginx, on its own PostgreSQL and Redis, while
16 signed-in sessions spend through the QR tool:

- Redis restarted (every tab's state gone): sessions reload and go on;
- `kill -9` of one backend's whole process group while Stripe renewals arrive: sessions
  reconnect through nginx to the other backend and go on, and every renewal's webhook
  lands once (the sandbox retries what failed).

Either way every spend a session saw acknowledged (its new balance came back) is in the
ledger exactly once, none is made twice, and reconcile exits 0."""

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from benchmarks.reflex_sessions import Tab
from credit_app import routes
from credit_app.auth import sessions
from credit_app.billing import checkout
from credit_app.billing.stripe_gateway import StripeConfig, StripeGateway
from credit_app.db import make_engine, read_scope, session_scope
from credit_app.models import LedgerEntry
from credit_app.state.tools import ToolsState
from stripe_sandbox.control import SandboxControl
from tests.async_run import run
from tests.cluster.running import cluster_command, cluster_logs, free_ports, read_env, require_nginx
from tests.factories import make_user

pytestmark = pytest.mark.postgres

CLIENTS = 16
SUBSCRIBERS = 6
CREDITS = 1_000
TOOLS_STATE = ToolsState.get_full_name()
MAKE_QR = f"{TOOLS_STATE}.make_qr"
# The tool state's fields as updates name them.
ACTION_IDS, ERRORS = "action_ids_rx_state_", "errors_rx_state_"
# Acknowledged spends each session makes before the kill, and again after it.
SPENDS_BEFORE, SPENDS_AFTER = 3, 3
ACK_TIMEOUT = 8.0


@dataclass
class Cluster:
    directory: Path
    env: dict[str, str]  # DIR/cluster.env
    engine: Engine


@pytest.fixture(scope="module")
def faulty_cluster(tmp_path_factory, private_postgres, private_redis) -> Iterator[Cluster]:
    require_nginx()
    directory = tmp_path_factory.mktemp("faults-cluster")
    database_url = private_postgres.new_database()
    https, http, sandbox, backends = free_ports(5)[:4]  # the backends take the last two
    up = cluster_command(
        "up",
        directory,
        *("--backends", "2", "--workers", "1", "--no-frontend"),
        *("--https-port", str(https), "--http-port", str(http)),
        *("--sandbox-port", str(sandbox), "--backend-base-port", str(backends)),
        *("--database-url", database_url, "--redis-url", private_redis.url),
    )
    try:
        assert up.returncode == 0, f"{up.stdout}\n{up.stderr}\n{cluster_logs(directory)}"
        engine = make_engine(database_url)
        yield Cluster(directory, read_env(directory / "cluster.env"), engine)
        engine.dispose()
    finally:
        cluster_command("down", directory)


@dataclass
class Session:
    user_id: uuid.UUID
    token: str
    sent: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    reconnects: int = 0
    # Set once `acknowledged` holds `goal` spends.
    goal: int = SPENDS_BEFORE
    reached: asyncio.Event = field(default_factory=asyncio.Event)


def _people(engine) -> list[Session]:
    people = []
    for _ in range(CLIENTS):
        user_id = make_user(engine, initial_credits=CREDITS)
        with session_scope(engine) as session:
            token = sessions.create_session(session, user_id=user_id, ttl=timedelta(hours=1))
        people.append(Session(user_id, token))
    return people


def _subscribe(cluster: Cluster, control: SandboxControl) -> list[tuple[uuid.UUID, str]]:
    """SUBSCRIBERS new users on Pro, paid through the sandbox's Checkout."""
    env = cluster.env
    gateway = StripeGateway(
        StripeConfig(
            env["STRIPE_SECRET_KEY"], env["STRIPE_WEBHOOK_SECRET"], api_base=env["STRIPE_API_BASE"]
        )
    )

    async def one() -> tuple[uuid.UUID, str]:
        user_id = await asyncio.to_thread(make_user, cluster.engine)
        url = await checkout.start_checkout(
            gateway,
            user_id=user_id,
            plan_id="pro_monthly",
            app_url=env["APP_URL"],
            create_missing_price=True,
            engine=cluster.engine,
        )
        paid = await asyncio.to_thread(control.pay_checkout, url.rstrip("/").rsplit("/", 1)[1])
        return user_id, paid["subscription"]

    async def all_of_them() -> list[tuple[uuid.UUID, str]]:
        return [await one() for _ in range(SUBSCRIBERS)]

    return run(all_of_them())


def _subscription_grants(engine, user_id: uuid.UUID) -> int:
    with read_scope(engine) as session:
        return len(
            session.exec(
                select(LedgerEntry).where(
                    col(LedgerEntry.user_id) == user_id,
                    col(LedgerEntry.source) == "subscription",
                    col(LedgerEntry.delta) > 0,
                )
            ).all()
        )


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _finished_runs(tab: Tab) -> "asyncio.Queue[str]":
    """What each QR run of this tab ended with ("" or the error the card shows): the tool
    state of a tab changes only through its own events, so unlike the balance (which
    every tab of the person sees move) it tells this tab's run apart from an earlier one
    still finishing on another connection."""
    finished: asyncio.Queue[str] = asyncio.Queue()
    seen: set[str] = set()

    def on_delta(delta: dict) -> None:
        tools = delta.get(TOOLS_STATE) or {}
        # A run ends by giving the card a new action id. (A tab whose state was lost gets
        # a whole fresh state instead, with no action ids: that is no run of ours.)
        action_id = (tools.get(ACTION_IDS) or {}).get("qr")
        if action_id and action_id not in seen:
            seen.add(action_id)
            finished.put_nowait((tools.get(ERRORS) or {}).get("qr", ""))

    tab.on_delta = on_delta
    return finished


async def _spending(person: Session, app_url: str, http, stop: asyncio.Event) -> None:
    """Spend again and again; reopen the tab (a reload) through nginx when it gets no
    answer: its backend is gone, or its state was."""
    tab: Tab | None = None
    while not stop.is_set():
        if tab is None:
            tab = Tab(app_url, session_token=person.token, path=routes.TOOLS, http=http)
            try:
                await tab.open(timeout=15)
            except Exception:
                tab = None
                await asyncio.sleep(0.2)  # nginx may still be trying the dead backend
                continue
            finished = _finished_runs(tab)
        assert tab.balance is not None
        action = uuid.uuid4().hex
        expected = tab.balance - 1
        person.sent.append(action)
        try:
            form = {"text": f"https://example.com/{action}", "action_id": action}
            await tab.send(MAKE_QR, {"form_data": form})
            error = await asyncio.wait_for(finished.get(), ACK_TIMEOUT)
            await tab.balance_at_most(expected, timeout=ACK_TIMEOUT)
        except Exception:  # no answer, or the socket is closed
            person.reconnects += 1
            await asyncio.gather(tab.close(), return_exceptions=True)
            tab = None
            continue
        assert error == "", error
        person.acknowledged.append(action)
        if len(person.acknowledged) >= person.goal:
            person.reached.set()
    if tab is not None:
        await asyncio.gather(tab.close(), return_exceptions=True)


async def _under_load(people: list[Session], env: dict[str, str], fault) -> None:
    """Sessions spend until each has SPENDS_BEFORE acknowledged spends; then `fault()`
    (a coroutine function) runs while they go on, until each has SPENDS_AFTER more."""
    tls = ssl.create_default_context(cafile=env["CA_CERT"])
    stop = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http:
        clients = [
            asyncio.create_task(_spending(person, env["APP_URL"], http, stop)) for person in people
        ]
        try:
            async with asyncio.timeout(120):
                await asyncio.gather(*(person.reached.wait() for person in people))
            for person in people:
                person.goal = len(person.acknowledged) + SPENDS_AFTER
                person.reached.clear()
            await fault()
            async with asyncio.timeout(120):
                await asyncio.gather(*(person.reached.wait() for person in people))
        finally:
            stop.set()
            await asyncio.gather(*clients, return_exceptions=True)


def _check_books(cluster: Cluster, people: list[Session]) -> None:
    """Each acknowledged spend in the ledger once (and not given back); no more spends
    than were asked for; reconcile clean."""
    with read_scope(cluster.engine) as session:
        for person in people:
            keys = {
                entry.idempotency_key: entry.delta
                for entry in session.exec(
                    select(LedgerEntry).where(col(LedgerEntry.user_id) == person.user_id)
                ).all()
            }
            for action in person.acknowledged:
                assert keys.get(f"tool:{person.user_id}:qr:{action}") == -1
                assert f"tool:{person.user_id}:qr:{action}:refund" not in keys
            spends = [k for k in keys if k.startswith(f"tool:{person.user_id}:qr:")]
            assert len(spends) <= len(person.sent)
    reconcile = subprocess.run(
        [sys.executable, "-m", "credit_app.cli", "reconcile"],
        env={**os.environ, "DATABASE_URL": cluster.env["DATABASE_URL"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr


def test_a_redis_restart_loses_and_doubles_nothing(faulty_cluster: Cluster, private_redis):
    people = _people(faulty_cluster.engine)

    async def restart_redis() -> None:
        await asyncio.to_thread(private_redis.stop)
        await asyncio.to_thread(private_redis.start)

    run(_under_load(people, faulty_cluster.env, restart_redis))
    assert sum(person.reconnects for person in people) > 0, "nobody had to reload"
    _check_books(faulty_cluster, people)


def test_a_backend_killed_mid_load_loses_and_doubles_nothing(faulty_cluster: Cluster):
    cluster, env = faulty_cluster, faulty_cluster.env
    control = SandboxControl(env["SANDBOX_URL"], env["STRIPE_SECRET_KEY"])
    subscribers = _subscribe(cluster, control)
    _wait_for(
        lambda: all(_subscription_grants(cluster.engine, u) == 1 for u, _ in subscribers),
        60,
        "the first month's grants",
    )
    people = _people(cluster.engine)
    started = json.loads((cluster.directory / "cluster.json").read_text())["processes"]

    async def kill_a_backend() -> None:
        # The whole process group: reflex, granian and its worker, the tool pool.
        os.killpg(started["backend-0"], signal.SIGKILL)
        for _, subscription in subscribers:
            await asyncio.to_thread(control.advance, subscription)

    run(_under_load(people, env, kill_a_backend))
    # Every renewal lands once: the sandbox retries what the dead backend did not answer.
    _wait_for(
        lambda: all(_subscription_grants(cluster.engine, u) == 2 for u, _ in subscribers),
        90,
        "the renewals' grants",
    )
    assert sum(person.reconnects for person in people) > 0, "no session was on the killed one"
    _check_books(cluster, people)
    control.close()
