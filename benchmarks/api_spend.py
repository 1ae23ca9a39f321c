"""Spends per second through the credits API over real HTTP (`POST /api/v1/spend`), next
to the ledger service called in-process (`credits.spend` in a `session_scope` per spend),
for one hot user and for many users, on a fresh PostgreSQL database: what a customer's
backend gets from the API, and what the API costs on top of the ledger.

Both paths run in the same script run, against the same users, with the same
concurrency (`--concurrency`, default 16: tasks on one httpx.AsyncClient for the API,
threads for the service), 1 credit a spend. "hot" sends every spend to one user (each
waits for that user's row lock); "many" spreads them round-robin over `--users` users
(default 200; the hot user is one of them). Each API request carries its user's own key
(spend scope) and a unique Idempotency-Key, and must answer 200. Each path first gets
`--warmup` untimed spends (connection pools, FastAPI's and SQLAlchemy's caches); then
the timed spends run in `--rounds` rounds, the paths taking turns (and turns about who
goes first), so both see the same background load. Latency is per call as the caller
sees it (for the API: from sending the request to reading the answer, the client's own
queueing included).

The server is the app's `build_api` (the credits API at /api/v1 as `credit-app` mounts
it, without the Reflex app beside it; payments in sandbox mode; no Redis, so the rate
limiter counts in memory; API_RATE_LIMIT far above the load) under uvicorn in a
subprocess: `python -m uvicorn --factory benchmarks.api_spend:api_app`, with this
shell's environment minus every app setting. Not in a thread of this process
(tests/integration/api_server.py serve_api): there the server shares one GIL with the
load client, which takes about a third of the server's CPU per request, and in an
alternating run on 2 cores it served 0.74x the spends per second of the subprocess.
uvicorn runs with asyncio's loop and h11 (uvloop and httptools are not installed), one
process unless `--workers` asks for more; the API's database work runs on asyncio's
default thread pool, min(32, cores + 4) threads (6 on 2 cores).

What an API spend does beyond `credits.spend` (credit_app/api/v1/routes.py), counted
with a statement counter: 8 statements in 2 transactions where the service runs 3 in 1.

- Authentication: the key looked up by its SHA-256 (one SELECT joined with its owner)
  in a transaction of its own on a worker thread (last_used_at is written at most once
  a minute), so a second pooled connection checked out (with SQLAlchemy's pre-ping),
  BEGIN and COMMIT.
- Rate limits: the address's failed-authentication check and the key's hit, in memory
  (a Redis round trip each with REDIS_URL set).
- The body parsed twice (pydantic, and once more to refuse a field named twice).
- The idempotency row: the stored answer looked up first (SELECT api_requests) and the
  answer stored in the spend's transaction (INSERT ... ON CONFLICT DO NOTHING).
- operations.spend around the ledger: the account checked live (SELECT users), and
  `available` read for the answer (SELECT users).
- The outbox listener's query at commit (credit_app/outbound/ledger_events.py: the new
  entries joined with the webhook endpoints that may want them; no row here, since no
  endpoint is registered). It listens on every session, so the service pays it too.
- JSON out; HTTP (h11) and FastAPI's routing and dependencies.

The three CPU columns say where each path's time went, in CPU milliseconds a spend:
"app" is the process running the app's code (this one for the service, the uvicorn
server and its workers for the API), "client" the load client (this process, API only),
"PostgreSQL" the database's backends serving this benchmark's database; "machine busy"
is the share of all cores in use while the path ran (everything on the machine counts,
other work too). One uvicorn process is bound by one core's worth of Python: 1000 / its
"app" column is about the most spends a second it can serve.

At the end the ledger is checked: one spend entry per spend made (per path), one stored
answer per API spend, and every balance equal to its ledger sum (`credits.find_drift`).

Run: .venv/bin/python -m benchmarks.api_spend [--spends 2000] [--users 200] \\
         [--concurrency 16] [--warmup 200] [--rounds 4] [--workers 1]
"""

import argparse
import asyncio
import itertools
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select, text
from sqlmodel import col
from starlette.types import ASGIApp

from credit_app import credits, migrations, routes
from credit_app.api import build_api
from credit_app.api.v1 import PATH
from credit_app.auth import api_keys
from credit_app.db import make_engine, session_scope
from credit_app.models import ApiRequest, EntryKind, LedgerEntry, utcnow
from credit_app.settings import Settings, get_settings
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.factories import make_user
from tests.integration.api_server import free_port

REPO = Path(__file__).resolve().parent.parent
API_FEATURE = "bench.api"
SERVICE_FEATURE = "bench.service"


def api_app() -> ASGIApp:
    """The server's app (uvicorn --factory): `build_api` for the settings in the
    environment, /api/v1 mounted as in the app."""
    return build_api(get_settings())


@dataclass(frozen=True)
class Spender:
    user_id: uuid.UUID
    key: str  # the user's API key (spend scope)


# ---- CPU accounting (Linux /proc) ------------------------------------------------------


@dataclass(frozen=True)
class Cpu:
    """CPU seconds of this process, of the API server and of the database's backends
    (those serving the benchmark's database), and jiffies of all cores: busy and total."""

    here: float = 0.0
    server: float = 0.0
    database: float = 0.0
    busy: int = 0
    total: int = 0

    def __add__(self, other: "Cpu") -> "Cpu":
        return Cpu(
            self.here + other.here,
            self.server + other.server,
            self.database + other.database,
            self.busy + other.busy,
            self.total + other.total,
        )

    @property
    def machine_busy(self) -> float:
        return self.busy / max(1, self.total)


@dataclass
class Phase:
    """A path's timed spends in one scenario, summed over its rounds."""

    path: str  # "API" or "service"
    scenario: str  # "hot" or "many"
    latencies: list[float] = field(default_factory=list)  # seconds per call
    seconds: float = 0.0
    cpu: Cpu = field(default_factory=Cpu)  # used while the rounds ran

    def add(self, latencies: list[float], seconds: float, cpu: Cpu) -> None:
        self.latencies += latencies
        self.seconds += seconds
        self.cpu += cpu

    @property
    def spends(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.spends / self.seconds

    def ms_per_spend(self, cpu_seconds: float) -> float:
        return 1000 * cpu_seconds / self.spends

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in ms (nearest rank)."""
        ordered = sorted(self.latencies)
        return 1000 * ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


_TICK = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _tree_cpu(pid: int) -> float:
    """CPU seconds of the process and its descendants (uvicorn's workers)."""
    total = _process_cpu(pid)
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            total += _tree_cpu(int(child))
    return total


def _backends(engine: Engine) -> dict[int, float]:
    """CPU seconds so far of each backend connected to the engine's database."""
    with engine.connect() as conn:
        pids = conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).all()
    return {pid: _process_cpu(pid) for pid in pids}


def _machine() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _sampled(
    batch: Callable[[], list[float]], *, server_pid: int, engine: Engine
) -> tuple[list[float], float, Cpu]:
    """Run `batch`: its calls' latencies, its wall time and the CPU used meanwhile. A
    backend that connected meanwhile counts whole; one that left is not counted (the
    pools keep theirs for the run)."""
    backends = _backends(engine)
    here, server, (busy, total) = time.process_time(), _tree_cpu(server_pid), _machine()
    start = time.perf_counter()
    latencies = batch()
    seconds = time.perf_counter() - start
    here, server = time.process_time() - here, _tree_cpu(server_pid) - server
    busy_after, total_after = _machine()
    database = sum(cpu - backends.get(pid, 0.0) for pid, cpu in _backends(engine).items())
    cpu = Cpu(here, server, database, busy_after - busy, total_after - total)
    return latencies, seconds, cpu


# ---- the service in-process ------------------------------------------------------------


def _service_spends(
    engine: Engine, spenders: Sequence[Spender], *, label: str, count: int, threads: int
) -> list[float]:
    """`count` spends by `threads` threads, round-robin over `spenders`: the latencies."""
    numbers = itertools.count()  # next() is atomic under the GIL: each number taken once
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def worker(mine: list[float]) -> None:
        while (n := next(numbers)) < count:
            user_id = spenders[n % len(spenders)].user_id
            start = time.perf_counter()
            with session_scope(engine) as session:
                credits.spend(
                    session,
                    user_id=user_id,
                    amount=1,
                    idempotency_key=f"{label}-{n}",
                    feature=SERVICE_FEATURE,
                )
            mine.append(time.perf_counter() - start)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(worker, mine) for mine in latencies]:
            future.result()
    return [t for mine in latencies for t in mine]


# ---- the API over HTTP -----------------------------------------------------------------


async def _api_spends_async(
    api: str, spenders: Sequence[Spender], *, label: str, count: int, tasks: int
) -> list[float]:
    numbers = itertools.count()
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=tasks, max_keepalive_connections=tasks)
    async with httpx.AsyncClient(base_url=api, limits=limits, timeout=60) as client:

        async def task() -> None:
            while (n := next(numbers)) < count:
                spender = spenders[n % len(spenders)]
                start = time.perf_counter()
                response = await client.post(
                    "/spend",
                    json={"amount": 1, "feature": API_FEATURE},
                    headers={
                        "Authorization": f"Bearer {spender.key}",
                        "Idempotency-Key": f"{label}-{n}",
                    },
                )
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"spend {n}: {response.status_code} {response.text}")

        await asyncio.gather(*(task() for _ in range(tasks)))
    return latencies


def _api_spends(
    api: str, spenders: Sequence[Spender], *, label: str, count: int, tasks: int
) -> list[float]:
    """`count` spends by `tasks` concurrent requests, round-robin over `spenders`."""
    return asyncio.run(_api_spends_async(api, spenders, label=label, count=count, tasks=tasks))


@dataclass(frozen=True)
class Server:
    pid: int
    api: str  # http://127.0.0.1:<port>/api/v1


@contextmanager
def _api_server(database_url: str, *, workers: int) -> Iterator[Server]:
    """uvicorn serving `api_app` in a subprocess (with `workers` worker processes of its
    own when more than 1) until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app_settings = {name.upper() for name in Settings.model_fields}
    environment = {k: v for k, v in os.environ.items() if k.upper() not in app_settings}
    environment |= {
        "DATABASE_URL": database_url,
        "APP_URL": url,
        "PAYMENTS": "sandbox",
        "API_RATE_LIMIT": "1000000/minute",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.api_spend:api_app"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, cwd=REPO, env=environment)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the API server exited with {process.returncode}")
            try:
                if httpx.get(url + routes.HEALTH, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.1)
        yield Server(pid=process.pid, api=url + PATH)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- set-up and checks -----------------------------------------------------------------


def _spenders(engine: Engine, count: int, credits_each: int) -> list[Spender]:
    """`count` users with `credits_each` credits and a spend key each."""
    spenders = []
    for _ in range(count):
        user_id = make_user(engine, initial_credits=credits_each)
        with session_scope(engine) as session:
            issued = api_keys.issue(
                session,
                owner=user_id,
                name="Benchmark",
                scope="spend",
                expires_at=None,
                now=utcnow(),
            )
        spenders.append(Spender(user_id, issued.key))
    return spenders


def _check(engine: Engine, *, api_spends: int, service_spends: int) -> list[str]:
    """What the ledger holds against what was made; raises if anything is off."""
    with session_scope(engine) as session:
        by_feature = dict(
            session.execute(
                select(col(LedgerEntry.feature), func.count())
                .where(col(LedgerEntry.kind) == EntryKind.SPEND)
                .group_by(col(LedgerEntry.feature))
            ).all()
        )
        answers = session.scalar(select(func.count()).select_from(ApiRequest))
        drift = credits.find_drift(session)
        lot_drift = credits.find_lot_drift(session)
    lines = [
        f"  API spend entries:     {by_feature.get(API_FEATURE, 0):6} of {api_spends} made,"
        f" {answers} answers stored",
        f"  service spend entries: {by_feature.get(SERVICE_FEATURE, 0):6} of {service_spends} made",
        f"  balances differing from their ledger sum (find_drift): {len(drift)}",
        f"  balances differing from their lots (find_lot_drift): {len(lot_drift)}",
    ]
    expected = {API_FEATURE: api_spends, SERVICE_FEATURE: service_spends}
    if by_feature != expected or answers != api_spends or drift or lot_drift:
        raise AssertionError("\n".join(["the ledger does not add up:", *lines]))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spends", type=int, default=2000, help="timed spends a phase")
    parser.add_argument("--users", type=int, default=200, help="users of the many-users case")
    parser.add_argument("--concurrency", type=int, default=16, help="API tasks, threads")
    parser.add_argument("--warmup", type=int, default=200, help="untimed spends a phase")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--rounds", type=int, default=4, help="the paths alternate this often")
    args = parser.parse_args()
    total, n = args.spends, args.rounds
    rounds = [total * (r + 1) // n - total * r // n for r in range(n)]  # they add up to total
    per_path = 2 * (args.warmup + args.spends)  # both scenarios

    url = create_postgres_database()
    phases: list[Phase] = []
    try:
        migrations.upgrade(url)
        engine = make_engine(url)
        # The hot user is one of the many; everyone can afford every phase.
        spenders = _spenders(engine, args.users, credits_each=per_path * 2)
        scenarios = {"hot": spenders[:1], "many": spenders}
        with _api_server(url, workers=args.workers) as server:
            spend_with: dict[str, Callable[[list[Spender], str, int], list[float]]] = {
                "service": lambda who, label, count: _service_spends(
                    engine, who, label=label, count=count, threads=args.concurrency
                ),
                "API": lambda who, label, count: _api_spends(
                    server.api, who, label=label, count=count, tasks=args.concurrency
                ),
            }
            for scenario, who in scenarios.items():
                timed = {path: Phase(path, scenario) for path in spend_with}
                for path, spend in spend_with.items():
                    spend(who, f"{path}-{scenario}-warmup", args.warmup)
                # Alternating, so both paths see the machine's other load alike.
                for r, count in enumerate(rounds):
                    for path in list(spend_with)[:: 1 if r % 2 == 0 else -1]:
                        batch = partial(spend_with[path], who, f"{path}-{scenario}-{r}", count)
                        timed[path].add(*_sampled(batch, server_pid=server.pid, engine=engine))
                phases += timed.values()
        checks = _check(engine, api_spends=per_path, service_spends=per_path)
        engine.dispose()
    finally:
        drop_postgres_database(url)

    print(
        f"PostgreSQL, {args.concurrency} concurrent callers, {args.spends} timed spends a"
        f" phase in {args.rounds} rounds (after {args.warmup} untimed); hot = 1 user,"
        f" many = {args.users} users; API server: uvicorn,"
        f" {args.workers} {'process' if args.workers == 1 else 'worker processes'};"
        f" {os.cpu_count()} cores"
    )
    print(
        f"  {'':31} {'CPU ms a spend':-^33}\n"
        f"  {'path':8} {'users':5} {'spends/s':>8} {'p50 ms':>7} {'p95 ms':>7}"
        f" {'app':>7} {'client':>7} {'PostgreSQL':>10} {'machine busy':>13}"
    )
    for phase in phases:
        cpu = phase.cpu
        # The app runs in this process for the service, in the server for the API.
        app, client = (cpu.here, None) if phase.path == "service" else (cpu.server, cpu.here)
        print(
            f"  {phase.path:8} {phase.scenario:5} {phase.rate:8.0f}"
            f" {phase.percentile(50):7.1f} {phase.percentile(95):7.1f}"
            f" {phase.ms_per_spend(app):7.2f}"
            f" {'-' if client is None else f'{phase.ms_per_spend(client):.2f}':>7}"
            f" {phase.ms_per_spend(cpu.database):10.2f} {cpu.machine_busy:13.0%}"
        )
    rates = {(p.path, p.scenario): p.rate for p in phases}
    for scenario in scenarios:
        ratio = rates["API", scenario] / rates["service", scenario]
        print(f"  ratio API / in-process, {scenario}: {ratio:.2f}")
    print("Correctness:")
    for line in checks:
        print(line)


if __name__ == "__main__":
    main()
