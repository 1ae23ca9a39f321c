"""Stripe `invoice.paid` deliveries per second into the webhook route, each event sent
several times in a shuffled order by concurrent senders (Stripe delivers at least once,
in no order), and the acknowledgement latency a sender sees; then the books are checked.

The invoices are real: users are signed up in the target's database (the app's own
sign-up service), each subscribes to Pro through Checkout (the app's `start_checkout`,
then the sandbox's pay control, what its hosted form does) and is renewed `--per-user`
- 1 times (the sandbox's advance control): one paid invoice each time, 1,000 credits. The
sandbox is told to drop its own `invoice.paid` deliveries meanwhile (fault `drop_types`;
its other events reach the app as usual, so users are linked to their customers and
subscriptions), and the events are taken from its Events API as Stripe would send them,
signed here with the app's webhook secret as Stripe signs (`Stripe-Signature: t=...,
v1=HMAC-SHA256(secret, "t.body")`). The app's own Stripe sync (a minute after start, then
every STRIPE_SYNC_MINUTES) may find some of them first: the script says how many.

Two phases, the same deliveries (every event `--copies` times, shuffled) from
`--senders` concurrent senders (asyncio tasks on one aiohttp session):
- "first + copies": every event is new to the app: the first delivery of each is applied
  (its subscription fetched from Stripe, then one transaction claims the event and
  grants), the others are answered as duplicates (or wait for the first, if it is still
  running in the same process);
- "copies only" (the baseline): the same deliveries again, reshuffled: every one is a
  duplicate, answered from the event's row (no Stripe call, one indexed read).
The ratio is the first phase's deliveries/s over the baseline's. Latency is from sending
the request to reading the answer, as a sender sees it (its own queueing included). Every
answer must be 2xx.

Then: every invoice of the run has exactly one ledger grant (`stripe:invoice:<id>`, +1,000)
and every user's balance is exactly 100 + 1,000 per invoice; `credit-app reconcile` and
`credit-app stripe-check` must exit 0 against the target.

Targets:
- `--cluster DIR`: a running cluster (`scripts/cluster up --dir DIR`), read from
  DIR/cluster.env: HTTP_URL (nginx's plain-http loopback listener; else APP_URL, with
  CA_CERT to verify it), DATABASE_URL, STRIPE_API_BASE, STRIPE_SECRET_KEY (also the
  sandbox controls' key), STRIPE_WEBHOOK_SECRET, APP_URL.
- `--embedded`: the embedded default (SQLite, PAYMENTS=sandbox, one process) started here
  in a temporary directory: `build_api` under uvicorn (the webhook route and the sandbox
  it serves itself, as `scripts/run` mounts them, without the Reflex app beside them).
  The embedded sandbox makes its signing secret up per process; the server's factory
  (`embedded_app`) writes it to a file in the temporary directory (mode 0600) for the
  senders.

Run (keep runs short, one at a time on a shared machine):
  flock /tmp/bench.lock .venv/bin/python -m benchmarks.webhook_ingest --embedded
  flock /tmp/bench.lock .venv/bin/python -m benchmarks.webhook_ingest --cluster DIR
      [--invoices 300] [--per-user 3] [--copies 3] [--senders 32]
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import math
import os
import random
import shlex
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy import Engine, func, select
from sqlmodel import col
from starlette.types import ASGIApp

from credit_app import credits, migrations, routes
from credit_app.api import build_api
from credit_app.billing import checkout
from credit_app.billing.runtime import SANDBOX_PATH
from credit_app.billing.stripe_gateway import StripeConfig, StripeGateway
from credit_app.billing.webhooks import subscription_id_of
from credit_app.db import make_engine, read_scope
from credit_app.models import LedgerEntry, StripeEvent
from credit_app.settings import Settings, get_settings
from tests.factories import make_user
from tests.integration.api_server import free_port

REPO = Path(__file__).resolve().parent.parent
PLAN = "pro_monthly"
PLAN_CREDITS = 1000
WELCOME_CREDITS = 100
SECRET_FILE = "BENCH_WEBHOOK_SECRET_FILE"


def embedded_app() -> ASGIApp:
    """The embedded default's server (uvicorn --factory): `build_api` for the settings
    in the environment, and the signing secret its sandbox made up, written for the
    senders (only this benchmark's server does that)."""
    api = build_api(get_settings())
    fd = os.open(os.environ[SECRET_FILE], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(api.state.services.gateway.config.webhook_secret)
    return api


@dataclass(frozen=True)
class Target:
    name: str
    webhook_url: str  # where deliveries are POSTed
    verify: bool | str  # TLS verification for webhook_url (a CA file for the cluster)
    app_url: str  # Checkout's return URLs
    stripe_api: str  # the Stripe-compatible server: its /v1 API and /_sandbox controls
    secret_key: str
    webhook_secret: str
    database_url: str
    cli_env: dict[str, str]  # the environment `credit-app` runs in against this target

    @property
    def gateway_config(self) -> StripeConfig:
        return StripeConfig(self.secret_key, self.webhook_secret, api_base=self.stripe_api)

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.stripe_api}/_sandbox/{path}",
            headers={"Authorization": f"Bearer {self.secret_key}"},
            timeout=60,
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def wait_idle(self, timeout: float = 300) -> None:
        """Until the sandbox has no delivery in flight or waiting to retry."""
        deadline = time.monotonic() + timeout
        while self.control("GET", "idle")["pending"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox's webhook deliveries did not finish")
            time.sleep(0.1)


def _app_settings_removed(environment: dict[str, str]) -> dict[str, str]:
    names = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in environment.items() if k.upper() not in names}


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (an `export ` prefix, shell quoting and comments allowed)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ")
        key, _, value = line.partition("=")
        words = shlex.split(value)
        values[key.strip()] = words[0] if words else ""
    return values


def cluster_target(directory: Path) -> Target:
    env = read_env_file(directory / "cluster.env")
    plain = env.get("HTTP_URL")
    base = (plain or env["APP_URL"]).rstrip("/")
    verify: bool | str = True if plain else env.get("CA_CERT", True)
    cli_env = _app_settings_removed(dict(os.environ)) | {"PAYMENTS": "stripe"} | env
    return Target(
        name=f"cluster {directory}",
        webhook_url=base + routes.STRIPE_WEBHOOK,
        verify=verify,
        app_url=env["APP_URL"].rstrip("/"),
        stripe_api=env["STRIPE_API_BASE"].rstrip("/"),
        secret_key=env["STRIPE_SECRET_KEY"],
        webhook_secret=env["STRIPE_WEBHOOK_SECRET"],
        database_url=env["DATABASE_URL"],
        cli_env=cli_env,
    )


@contextmanager
def embedded_target() -> Iterator[Target]:
    """The embedded default in a temporary directory, on free ports, until the block ends."""
    with tempfile.TemporaryDirectory(prefix="webhook-ingest-") as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        database_url = f"sqlite:///{tmp}/credit_app.db"
        migrations.upgrade(database_url)
        env = _app_settings_removed(dict(os.environ)) | {
            "DATABASE_URL": database_url,
            "APP_URL": url,
            "PAYMENTS": "sandbox",
            "SANDBOX_CONTROLS": "true",
            "SANDBOX_CONTROL_KEY_FILE": f"{tmp}/control-key",
            "OUTBOX_DIR": f"{tmp}/outbox",
        }
        secret_file = Path(tmp) / "webhook-secret"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "benchmarks.webhook_ingest:embedded_app",
        ]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        command += ["--log-level", "warning", "--no-access-log"]
        server = subprocess.Popen(command, cwd=REPO, env=env | {SECRET_FILE: str(secret_file)})
        try:
            _wait_for(url + routes.HEALTH, server)
            yield Target(
                name="embedded (SQLite, PAYMENTS=sandbox, 1 process)",
                webhook_url=url + routes.STRIPE_WEBHOOK,
                verify=True,
                app_url=url,
                stripe_api=url + SANDBOX_PATH,
                secret_key=Path(env["SANDBOX_CONTROL_KEY_FILE"]).read_text().strip(),
                webhook_secret=secret_file.read_text().strip(),
                database_url=database_url,
                cli_env=env,
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_for(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.1)


# ---- the invoices ------------------------------------------------------------------


@dataclass(frozen=True)
class Invoice:
    user_id: uuid.UUID
    invoice_id: str
    event: dict[str, Any]  # its invoice.paid event, as Stripe's Events API has it


async def _subscriber(
    target: Target, engine: Engine, renewals: int, started: asyncio.Semaphore
) -> tuple[uuid.UUID, str]:
    """A new user subscribed to Pro through Checkout, renewed `renewals` times."""
    async with started:
        user_id = await asyncio.to_thread(make_user, engine)
        url = await checkout.start_checkout(
            StripeGateway(target.gateway_config),
            user_id=user_id,
            plan_id=PLAN,
            app_url=target.app_url,
            create_missing_price=True,
            engine=engine,
        )
        session_id = url.rstrip("/").rsplit("/", 1)[1]
        paid = await asyncio.to_thread(target.control, "POST", f"checkout/{session_id}/pay")
        for _ in range(renewals):
            await asyncio.to_thread(
                target.control, "POST", f"subscriptions/{paid['subscription']}/advance"
            )
        return user_id, paid["subscription"]


def make_invoices(target: Target, engine: Engine, count: int, per_user: int) -> list[Invoice]:
    faults_before = target.control("GET", "faults")
    target.control("POST", "faults", json={**faults_before, "drop_types": ["invoice.paid"]})
    try:

        async def subscribe_all() -> list[tuple[uuid.UUID, str]]:
            started = asyncio.Semaphore(8)
            users = math.ceil(count / per_user)
            # The first on its own: its checkout creates the plan's Stripe product and
            # price when they are missing, which concurrent checkouts would race to do.
            first = await _subscriber(target, engine, per_user - 1, started)
            others = await asyncio.gather(
                *(_subscriber(target, engine, per_user - 1, started) for _ in range(users - 1))
            )
            return [first, *others]

        subscribers = dict((sub, user) for user, sub in asyncio.run(subscribe_all()))
        target.wait_idle()
    finally:
        target.control("POST", "faults", json=faults_before)
    invoices: list[Invoice] = []
    params: dict[str, Any] = {"type": "invoice.paid", "limit": 100}
    headers = {"Authorization": f"Bearer {target.secret_key}"}
    wanted = len(subscribers) * per_user
    while len(invoices) < wanted:
        page = httpx.get(f"{target.stripe_api}/v1/events", params=params, headers=headers)
        page.raise_for_status()
        events = page.json()["data"]
        for event in events:
            obj = event["data"]["object"]
            if (user := subscribers.get(subscription_id_of(obj) or "")) is not None:
                invoices.append(Invoice(user, obj["id"], event))
        if not page.json()["has_more"]:
            break
        params["starting_after"] = events[-1]["id"]
    if len(invoices) != wanted:
        raise RuntimeError(f"the sandbox has {len(invoices)} paid invoices, not {wanted}")
    return invoices


# ---- sending -----------------------------------------------------------------------


def signature(body: bytes, secret: str) -> str:
    """Stripe's `Stripe-Signature` header for `body` now."""
    timestamp = int(time.time())
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, per delivery
    by_outcome: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def ms(self, q: float, latencies: list[float] | None = None) -> float:
        values = sorted(self.latencies if latencies is None else latencies)
        return 1000 * values[min(len(values) - 1, int(q * len(values)))]


async def _send_all(target: Target, bodies: list[bytes], senders: int, phase: Phase) -> None:
    queue = list(reversed(bodies))
    tls = (
        ssl.create_default_context(cafile=target.verify) if isinstance(target.verify, str) else True
    )
    connector = aiohttp.TCPConnector(limit=senders, ssl=tls)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def sender() -> None:
            while queue:
                body = queue.pop()
                headers = {
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature(body, target.webhook_secret),
                }
                began = time.perf_counter()
                async with client.post(target.webhook_url, data=body, headers=headers) as reply:
                    answer = await reply.read()
                elapsed = time.perf_counter() - began
                phase.latencies.append(elapsed)
                phase.statuses[reply.status] += 1
                outcome = json.loads(answer).get("outcome", "?") if answer else "?"
                phase.by_outcome.setdefault(outcome, []).append(elapsed)

        began = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        phase.seconds = time.perf_counter() - began


def send(target: Target, invoices: list[Invoice], copies: int, senders: int, name: str) -> Phase:
    bodies = [
        json.dumps(invoice.event, indent=2).encode() for invoice in invoices for _ in range(copies)
    ]
    random.shuffle(bodies)
    phase = Phase(name)
    asyncio.run(_send_all(target, bodies, senders, phase))
    return phase


# ---- checking ----------------------------------------------------------------------


def already_recorded(engine: Engine, invoices: list[Invoice]) -> int:
    """How many of the run's events the app has recorded already."""
    ids = [invoice.event["id"] for invoice in invoices]
    with read_scope(engine) as session:
        return session.execute(
            select(func.count()).where(col(StripeEvent.id).in_(ids))
        ).scalar_one()


def check_books(target: Target, engine: Engine, invoices: list[Invoice]) -> list[str]:
    """What is wrong with the grants and balances of this run's users (empty: nothing)."""
    problems: list[str] = []
    keys = {f"stripe:invoice:{invoice.invoice_id}": invoice for invoice in invoices}
    per_user = Counter(invoice.user_id for invoice in invoices)
    with read_scope(engine) as session:
        granted = {
            key: (count, total)
            for key, count, total in session.execute(
                select(
                    col(LedgerEntry.idempotency_key),
                    func.count(),
                    func.sum(col(LedgerEntry.delta)),
                )
                .where(col(LedgerEntry.idempotency_key).in_(list(keys)))
                .group_by(col(LedgerEntry.idempotency_key))
            )
        }
        for key in keys:
            if granted.get(key) != (1, PLAN_CREDITS):
                problems.append(f"{key}: (entries, credits) {granted.get(key)}")
        for user_id, paid in per_user.items():
            expected = WELCOME_CREDITS + PLAN_CREDITS * paid
            if (got := credits.balance(session, user_id=user_id)) != expected:
                problems.append(f"user {user_id}: balance {got}, expected {expected}")
    for command in ("reconcile", "stripe-check"):
        done = subprocess.run(
            ["credit-app", command], env=target.cli_env, capture_output=True, text=True
        )
        last = (done.stdout.strip().splitlines() or [""])[-1]
        print(f"credit-app {command}: exit {done.returncode}: {last}")
        if done.returncode != 0:
            problems.append(f"credit-app {command} exited {done.returncode}:\n{done.stdout}")
    return problems


def report(phases: list[Phase]) -> None:
    print(f"{'phase':<18}{'deliveries':>11}{'/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for phase in phases:
        print(
            f"{phase.name:<18}{len(phase.latencies):>11}{phase.rate:>8.0f}"
            f"{phase.ms(0.50):>9.1f}{phase.ms(0.95):>9.1f}{phase.ms(0.99):>9.1f}"
        )
        for outcome, latencies in sorted(phase.by_outcome.items()):
            print(
                f"  answered {outcome:<9}{len(latencies):>10}{'':>8}"
                f"{phase.ms(0.50, latencies):>9.1f}{phase.ms(0.95, latencies):>9.1f}"
                f"{phase.ms(0.99, latencies):>9.1f}"
            )
        print(f"  HTTP statuses: {dict(phase.statuses)}")
    first, baseline = phases
    print(f"ratio first + copies / copies only (deliveries/s): {first.rate / baseline.rate:.2f}")


def run(target: Target, args: argparse.Namespace) -> int:
    engine = make_engine(target.database_url)
    try:
        print(f"target: {target.name}; webhooks to {target.webhook_url}")
        began = time.perf_counter()
        invoices = make_invoices(target, engine, args.invoices, args.per_user)
        users = len({invoice.user_id for invoice in invoices})
        print(
            f"{len(invoices)} paid invoices for {users} users made in "
            f"{time.perf_counter() - began:.1f} s; each sent {args.copies} times, shuffled, "
            f"by {args.senders} senders"
        )
        if recorded := already_recorded(engine, invoices):
            print(
                f"note: {recorded} of these events were recorded before they were sent (the "
                "app's own Stripe sync found them): their first delivery is a duplicate"
            )
        phases = [
            send(target, invoices, args.copies, args.senders, "first + copies"),
            send(target, invoices, args.copies, args.senders, "copies only"),
        ]
        report(phases)
        problems = check_books(target, engine, invoices)
    finally:
        engine.dispose()
    refused = sum(n for p in phases for status, n in p.statuses.items() if status >= 300)
    if refused:
        problems.append(f"{refused} deliveries were not answered 2xx")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if not problems:
        print(f"books exact: one grant per invoice, {users} balances as expected")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--cluster", type=Path, metavar="DIR", help="DIR/cluster.env")
    where.add_argument("--embedded", action="store_true", help="start the embedded default")
    parser.add_argument("--invoices", type=int, default=300)
    parser.add_argument("--per-user", type=int, default=3, help="paid invoices per user")
    parser.add_argument("--copies", type=int, default=3, help="deliveries of each event")
    parser.add_argument("--senders", type=int, default=32)
    args = parser.parse_args()
    if args.cluster:
        return run(cluster_target(args.cluster), args)
    with embedded_target() as target:
        return run(target, args)


if __name__ == "__main__":
    sys.exit(main())
