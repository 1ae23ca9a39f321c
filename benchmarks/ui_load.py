"""The UI under load: N signed-in sessions spending through the QR tool at once, over
Reflex's own event protocol, with 1 backend and with 2.

Each simulated person has two sessions of their own (two sign-ins, as on a laptop and a
phone): a tab on /tools that clicks "Run" on the QR code generator again as soon as its
new balance has arrived (the same handler and form data as the page's button:
ToolsState.make_qr with the text and an action id), and a tab on /dashboard that only
watches. Two figures per click:

- click → balance: from sending the event to the first update that carries the new
  balance to the clicking tab (the live account's `balance`);
- push: from the click to the other session's tab receiving that balance (or a lower
  one: a push may carry several spends). That session is not linked to the clicking
  tab's live state, so this is the path a change made on another device takes: the
  ledger follower of a backend (background.follow_ledger, a look every 0.5 s) pushes a
  snapshot to every live session of the user, through Redis to the backend holding the
  socket.

With 2 backends the clicking tabs are spread round-robin over them (no sticky sessions)
and each person's watching tab is on the other backend, so every push crosses processes.
UI spends/s counts the balances received in the timed window, all sessions together.

Sessions are signed in through the auth service the log-in form ends in
(`sessions.create_session`, after the password check the benchmark skips: hashing 400
passwords is not what this measures), and each tab sends its session cookie in the boot
event as the browser does, so every event re-checks it exactly as for a real tab. Users
are made once through the sign-up service (`tests.factories.make_user`), with enough
credits for every phase; each phase uses the first N of them and the same two sessions.

Backends (one of):
- default: a stand-in made here: a fresh PostgreSQL database, the standalone Stripe
  sandbox with the plans seeded (the embedded one refuses REDIS_URL), Redis db
  `--redis-db` (flushed), and `reflex run --backend-only --env prod` with
  GRANIAN_WORKERS=1 in a copy of the project; the second backend starts after the
  1-backend phases.
- `--backend URL[,URL] --database-url URL`: backends already running (the 1-backend phases
  use the first); no CPU figures for them.
- `--cluster-dir DIR` (scripts/cluster up): DIR/cluster.env's APP_URL through nginx (TLS,
  CA_CERT) for 2 backends (nginx picks each tab's backend), the first of BACKEND_URLS
  directly for 1 (the other stays up, idle but for its background loops).

Each phase: connect every tab (20 at a time), one untimed click per clicking tab, then
`--seconds` of clicks (a closed loop, or `--think` seconds apart on average), then up to
3 s for the last pushes ("missed": pushes not seen by then). CPU per spend is counted
from /proc for our own backends' processes (their tool processes apart), PostgreSQL's
processes serving the database, and this client. `--profile DIR` records the 1-backend
phase at `--profile-sessions` sessions with py-spy (on PATH; not a project dependency) on
the backend's process tree and prints CPU ms per spend by where it went. `--patch DIFF`
applies a proposed change to the stand-in's copy of the project, to measure it without
touching the tree.

Run: .venv/bin/python -m benchmarks.ui_load [--sessions 10,50,200] [--seconds 10]
         [--think 0] [--backends 1,2] [--profile DIR] [--patch DIFF]
         [--backend URL[,URL] --database-url URL | --cluster-dir DIR]
"""

import argparse
import asyncio
import collections
import math
import os
import random
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import httpx
import redis
from sqlalchemy import Engine

from benchmarks.api_spend import _backends, _machine, _process_cpu
from benchmarks.reflex_sessions import Tab
from credit_app import migrations, routes
from credit_app.auth import sessions
from credit_app.db import make_engine, session_scope
from credit_app.state.tools import ToolsState
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.e2e.conftest import app_env, copy_of_project, free_port, running_process
from tests.factories import make_user

MAKE_QR = f"{ToolsState.get_full_name()}.make_qr"
TOOLS_STATE = ToolsState.get_full_name()
CREDITS_EACH = 1_000_000
CLICK_TIMEOUT = 30.0
CONNECTING_AT_ONCE = 20
LAST_PUSHES_SECONDS = 3.0
SANDBOX_KEY = "sk_test_ui_load"


@dataclass(frozen=True)
class Person:
    user_id: uuid.UUID
    clicking: str  # session token of the /tools tab
    watching: str  # session token of the /dashboard tab


@dataclass
class Backends:
    """Where tabs connect: `urls` (one per backend, or the proxy in front of `serving`
    backends) and the process ids to count CPU for (empty when the backends are not
    ours)."""

    urls: list[str]
    pids: list[int] = field(default_factory=list)
    serving: int = 0  # backends behind the urls; 0: one per url

    @property
    def count(self) -> int:
        return self.serving or len(self.urls)


@dataclass
class Phase:
    backends: int
    sessions: int
    seconds: float = 0.0
    clicks: list[float] = field(default_factory=list)  # click → balance, seconds
    pushes: list[float] = field(default_factory=list)  # click → other session, seconds
    missed_pushes: int = 0
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    served: int = 0  # clicking tabs that got every balance they asked for
    backend_cpu: float | None = None  # every process of the backends
    tool_cpu: float | None = None  # of which their tool processes (TOOL_WORKERS)
    database_cpu: float = 0.0  # PostgreSQL's processes serving the database
    client_cpu: float = 0.0
    machine_busy: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.clicks) / self.seconds if self.seconds else 0.0


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile in ms (nearest rank); NaN when there is none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return 1000 * ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# ---- one phase -------------------------------------------------------------------------


class Watcher:
    """The other session of one person: when its tab receives a balance, every click
    that balance includes has been pushed."""

    def __init__(self, phase: Phase) -> None:
        self.phase = phase
        self.pending: collections.deque[tuple[int, float]] = collections.deque()
        self.timing = False

    def clicked(self, expected: int, at: float) -> None:
        self.pending.append((expected, at))

    def saw(self, balance: int, at: float) -> None:
        while self.pending and self.pending[0][0] >= balance:
            _, clicked_at = self.pending.popleft()
            if self.timing:
                self.phase.pushes.append(at - clicked_at)


async def _clicks(
    tab: Tab, watcher: Watcher, phase: Phase, until: float | None, think: float = 0.0
) -> bool:
    """Click Run and wait for the new balance, again and again until `until` (once when
    None), `think` seconds apart on average; True when every click got its balance."""
    while True:
        assert tab.balance is not None
        expected = tab.balance - 1
        started = time.perf_counter()
        watcher.clicked(expected, started)
        await tab.send(
            MAKE_QR,
            {
                "form_data": {
                    "text": f"https://example.com/{uuid.uuid4().hex}",
                    "action_id": uuid.uuid4().hex,
                }
            },
        )
        try:
            await tab.balance_at_most(expected, timeout=CLICK_TIMEOUT)
        except TimeoutError:
            phase.failures["no balance within 30 s"] += 1
            return False
        if until is not None:
            phase.clicks.append(time.perf_counter() - started)
        if until is None or time.perf_counter() >= until:
            return True
        if think:
            await asyncio.sleep(random.uniform(0.5, 1.5) * think)


def _watch_errors(tab: Tab, phase: Phase) -> None:
    """Count what the tool card says when a run fails (the balance then never comes)."""

    def check(delta: dict) -> None:
        errors = (delta.get(TOOLS_STATE) or {}).get("errors_rx_state_") or {}
        if errors.get("qr"):
            phase.failures[errors["qr"]] += 1

    tab.on_delta = check


async def _run_phase(
    backends: Backends,
    people: Sequence[Person],
    *,
    seconds: float,
    think: float,
    http: aiohttp.ClientSession,
    engine: Engine,
    profiler: "Profiler | None" = None,
) -> Phase:
    phase = Phase(backends=backends.count, sessions=len(people))
    urls = backends.urls
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    pairs: list[tuple[Tab, Tab, Watcher]] = []

    async def open_tabs(i: int, person: Person) -> None:
        watcher = Watcher(phase)
        clicking = Tab(
            urls[i % len(urls)], session_token=person.clicking, path=routes.TOOLS, http=http
        )
        watching = Tab(
            urls[(i + 1) % len(urls)],
            session_token=person.watching,
            path=routes.DASHBOARD,
            http=http,
            on_balance=watcher.saw,
        )
        _watch_errors(clicking, phase)
        async with gate:
            await clicking.open()
            await watching.open()
        pairs.append((clicking, watching, watcher))

    await asyncio.gather(*(open_tabs(i, p) for i, p in enumerate(people)))
    try:
        # One untimed click each: first events, caches, connections of every backend.
        await asyncio.gather(*(_clicks(c, w, phase, None) for c, _, w in pairs))
        await asyncio.sleep(1.5)  # the warm-up's pushes
        for _, _, watcher in pairs:
            watcher.pending.clear()
            watcher.timing = True
        if profiler is not None:
            profiler.start()
        cpu_before, database_before = _backend_cpu(backends), _backends(engine)
        client_before, machine_before = time.process_time(), _machine()
        started = time.perf_counter()
        until = started + seconds
        served = await asyncio.gather(*(_clicks(c, w, phase, until, think) for c, _, w in pairs))
        phase.seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.stop()
        cpu_after = _backend_cpu(backends)
        phase.database_cpu = sum(
            cpu - database_before.get(pid, 0.0) for pid, cpu in _backends(engine).items()
        )
        phase.client_cpu = time.process_time() - client_before
        busy, total = (a - b for a, b in zip(_machine(), machine_before, strict=True))
        phase.machine_busy = busy / max(1, total)
        if cpu_before is not None and cpu_after is not None:
            phase.backend_cpu = cpu_after[0] - cpu_before[0]
            phase.tool_cpu = cpu_after[1] - cpu_before[1]
        phase.served = sum(served)
        deadline = time.perf_counter() + LAST_PUSHES_SECONDS
        while any(w.pending for _, _, w in pairs) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        phase.missed_pushes = sum(len(w.pending) for _, _, w in pairs)
    finally:
        await asyncio.gather(
            *(t.close() for c, w, _ in pairs for t in (c, w)), return_exceptions=True
        )
    return phase


def _descendants(pid: int) -> Iterator[int]:
    yield pid
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            yield from _descendants(int(child))


def _is_tool_process(pid: int) -> bool:
    try:
        return b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def _backend_cpu(backends: Backends) -> tuple[float, float] | None:
    """CPU seconds so far of the backends' processes, and of their tool processes."""
    if not backends.pids:
        return None
    every = [p for pid in backends.pids for p in _descendants(pid)]
    tools = [p for p in every if _is_tool_process(p)]
    return sum(map(_process_cpu, every)), sum(map(_process_cpu, tools))


# ---- where a backend's time goes (py-spy) ----------------------------------------------

# Where a sample's time is counted. The app's parts first: the first whose mark is
# anywhere in the stack. Database work runs on worker threads (db.in_read/in_transaction),
# whose stacks start at the thread, so it is told apart by the module doing it; a snapshot
# read for the follower's push therefore counts with the clicking tab's refresh reads.
TOOL_WORK = "tool work (QR, in the tool processes)"
APP_BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    (TOOL_WORK, ("_process_worker (concurrent/futures/process",)),
    ("follower: look + push to other sessions", ("follow_ledger", "push_snapshot")),
    ("session re-check (auth/sessions.py)", ("auth/sessions.py",)),
    ("verified-address check", ("auth/verification.py",)),
    ("auto top-up read (refresh)", ("billing/auto_topup.py",)),
    ("account snapshot read (refresh)", ("billing/account.py",)),
    ("charge: ledger, lots, pool hand-off", ("credit_app/credits/", "credit_app/tools/")),
    ("live state: link + apply (state/live.py)", ("state/live.py",)),
    ("transactions: checkout, BEGIN, COMMIT", ("credit_app/db.py",)),
    ("other app code and loops", ("credit_app/",)),
]
# The rest by the innermost frame that names one of these.
LIBRARY_BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("Reflex state in Redis: get, set, locks", ("redis/", "istate/manager", "pickle")),
    ("Reflex delta, serialisation, JSON", ("get_delta", "serializ", "json", "format.py")),
    ("Socket.IO, Engine.IO, Granian, websockets", ("socketio/", "engineio/", "granian/")),
    ("SQLAlchemy, psycopg (outside the app's frames)", ("sqlalchemy/", "psycopg/")),
    ("Reflex event processing", ("reflex/", "reflex_base/")),
]
OTHER = "asyncio, threads and the rest"
BUCKETS = [name for name, _ in APP_BUCKETS + LIBRARY_BUCKETS] + [OTHER]


def _bucket(stack: str) -> str:
    for name, marks in APP_BUCKETS:
        if any(mark in stack for mark in marks):
            return name
    for frame in reversed(stack.split(";")):
        for name, marks in LIBRARY_BUCKETS:
            if any(mark in frame for mark in marks):
                return name
    return OTHER


class Profiler:
    """py-spy recording a process tree for the timed window of one phase: samples of the
    thread holding each process's GIL, i.e. Python running (waits on sockets, PostgreSQL
    and queues are not counted, nor is C code that released the GIL)."""

    def __init__(self, pid: int, output: Path, rate: int = 200) -> None:
        self.pid, self.output, self.rate = pid, output, rate
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["py-spy", "record", "--pid", str(self.pid), "--subprocesses"]
        command += ["--format", "raw", "--rate", str(self.rate), "--nonblocking", "--gil"]
        command += ["--output", str(self.output)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # attached

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(2)  # SIGINT: py-spy writes its file and exits
        self.process.wait(timeout=60)

    def breakdown(self, backend_ms: float, tool_ms: float) -> list[tuple[str, float]]:
        """CPU ms a spend in each bucket: `tool_ms` (the tool processes' CPU a spend, from
        /proc) to the tool work, and the rest of `backend_ms` split by the other samples'
        shares. On a busy machine a process holding its GIL may be waiting for a core, so
        the samples say where the time went, and /proc how much CPU it was."""
        samples: collections.Counter[str] = collections.Counter()
        for line in self.output.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack:
                samples[_bucket(stack)] += int(count)
        rest = max(1, sum(n for name, n in samples.items() if name != TOOL_WORK))
        return [
            (name, tool_ms if name == TOOL_WORK else (backend_ms - tool_ms) * samples[name] / rest)
            for name in BUCKETS
        ]


# ---- backends --------------------------------------------------------------------------


def _wait_for(url: str, process: subprocess.Popen | None, log: Path | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-3000:] if log else ""
            raise RuntimeError(f"{url}: exited with {process.returncode}\n{tail}")
        try:
            if httpx.get(url, timeout=2, verify=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f}s")


class StandIn:
    """Backends started here: `reflex run --backend-only --env prod`, one Granian worker
    each, Redis state, payments through the standalone sandbox (one process for both)."""

    def __init__(
        self,
        stack: ExitStack,
        workdir: Path,
        database_url: str,
        redis_url: str,
        *,
        patch: Path | None = None,
    ) -> None:
        self.stack, self.workdir = stack, workdir
        self.project = copy_of_project(workdir)
        if patch is not None:  # a proposed change, measured without touching the tree
            subprocess.run(
                ["patch", "-p1", "--quiet", "-i", str(patch.resolve())],
                cwd=self.project,
                check=True,
            )
        self.database_url = database_url
        self.ports = [free_port(), free_port()]
        sandbox_port = free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        secret = "whsec_" + uuid.uuid4().hex
        sandbox = [sys.executable, "-m", "stripe_sandbox", "--port", str(sandbox_port)]
        sandbox += ["--api-key", SANDBOX_KEY, "--webhook-secret", secret, "--public-url"]
        sandbox += [sandbox_url, "--webhook-url"]
        sandbox += [f"http://127.0.0.1:{self.ports[0]}{routes.STRIPE_WEBHOOK}"]
        process = stack.enter_context(
            running_process(
                sandbox, cwd=self.project, env=dict(os.environ), log=workdir / "sandbox.log"
            )
        )
        _wait_for(f"{sandbox_url}/_sandbox/health", process, workdir / "sandbox.log", 30)
        self.env = {
            "PAYMENTS": "stripe",
            "STRIPE_SECRET_KEY": SANDBOX_KEY,
            "STRIPE_API_BASE": sandbox_url,
            "STRIPE_WEBHOOK_SECRET": secret,
            "REDIS_URL": redis_url,
            "GRANIAN_WORKERS": "1",
            "OUTBOX_DIR": str(workdir / "outbox"),
        }
        seeded = subprocess.run(
            [sys.executable, "-m", "credit_app.cli", "seed-plans"],
            env={**os.environ, **self.env, "DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if seeded.returncode != 0:
            raise RuntimeError(f"seed-plans failed: {seeded.stderr}")
        self.pids: list[int] = []

    def start(self) -> Backends:
        """One more backend; all started so far."""
        port = self.ports[len(self.pids)]
        command = ["reflex", "run", "--backend-only", "--env", "prod"]
        command += ["--backend-port", str(port), "--loglevel", "warning"]
        log = self.workdir / f"backend-{port}.log"
        env = app_env(port, self.database_url, **self.env)
        process = self.stack.enter_context(
            running_process(command, cwd=self.project, env=env, log=log)
        )
        _wait_for(f"http://127.0.0.1:{port}{routes.HEALTH}", process, log, 400)
        self.pids.append(process.pid)
        return Backends(
            [f"http://127.0.0.1:{p}" for p in self.ports[: len(self.pids)]], list(self.pids)
        )


def _cluster_env(directory: Path) -> dict[str, str]:
    values = {}
    for line in (directory / "cluster.env").read_text().splitlines():
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and not name.startswith("#"):
            values[name] = value.strip().strip("'\"")
    return values


# ---- set-up ----------------------------------------------------------------------------


def _people(engine: Engine, count: int) -> list[Person]:
    """`count` users with CREDITS_EACH credits and two sessions each."""
    people = []
    for _ in range(count):
        user_id = make_user(engine, initial_credits=CREDITS_EACH)
        with session_scope(engine) as session:
            tokens = [
                sessions.create_session(session, user_id=user_id, ttl=timedelta(hours=6))
                for _ in range(2)
            ]
        people.append(Person(user_id, *tokens))
    return people


def _print(phases: Sequence[Phase], breakdown: list[tuple[str, float]] | None) -> None:
    print(
        f"{'':27} {'click → balance':^15} {'push to the other session':^27}"
        f" {'':15} {'CPU ms a spend':-^32}\n"
        f"{'backends':>8} {'sessions':>8} {'spends/s':>8}  {'p50':>6} {'p99':>6}"
        f"   {'p50':>6} {'p99':>6} {'missed':>6} {'n':>6}  {'served':>8} {'failed':>6}"
        f"  {'backends':>8} {'tools':>5} {'PG':>5} {'client':>6} {'busy':>5}"
    )
    for p in phases:
        spends = max(1, len(p.clicks))
        backend = "-" if p.backend_cpu is None else f"{1000 * p.backend_cpu / spends:.1f}"
        tools = "-" if p.tool_cpu is None else f"{1000 * p.tool_cpu / spends:.1f}"
        print(
            f"{p.backends:8} {p.sessions:8} {p.rate:8.0f}  {percentile(p.clicks, 50):6.0f}"
            f" {percentile(p.clicks, 99):6.0f}   {percentile(p.pushes, 50):6.0f}"
            f" {percentile(p.pushes, 99):6.0f} {p.missed_pushes:6} {len(p.pushes):6}"
            f"  {f'{p.served}/{p.sessions}':>8} {sum(p.failures.values()):6}"
            f"  {backend:>8} {tools:>5} {1000 * p.database_cpu / spends:5.1f}"
            f" {1000 * p.client_cpu / spends:6.1f} {p.machine_busy:5.0%}"
        )
    by_key = {(p.backends, p.sessions): p for p in phases}
    for p in phases:
        if p.backends == 1 and (two := by_key.get((2, p.sessions))) is not None:
            print(
                f"  {p.sessions} sessions, 2 backends ÷ 1: spends/s {two.rate / p.rate:.2f},"
                f" sessions served {two.served}/{p.served}"
            )
    for p in phases:
        for reason, count in p.failures.items():
            print(f"  {p.backends} backend(s), {p.sessions} sessions: {count} x {reason}")
    if breakdown:
        print(
            "Where the profiled backend's CPU goes, ms a spend (py-spy samples of the thread"
            " holding each process's GIL, scaled to the CPU /proc counted):"
        )
        for name, ms in breakdown:
            print(f"  {name:48} {ms:6.2f}")
        print(f"  {'total':48} {sum(ms for _, ms in breakdown):6.2f}")


async def _configuration(
    backends: Backends,
    engine: Engine,
    people: list[Person],
    args: argparse.Namespace,
    ca_cert: str | None,
    profiler: Profiler | None,
) -> list[Phase]:
    """Every phase on these backends, in the order of --sessions."""
    tls = ssl.create_default_context(cafile=ca_cert) if ca_cert else None
    # No connection limit: every tab keeps its websocket open for the whole phase.
    connector = aiohttp.TCPConnector(limit=0, ssl=tls if tls is not None else True)
    phases = []
    async with aiohttp.ClientSession(connector=connector) as http:
        for n in args.sessions:
            watched = profiler if n == args.profile_sessions else None
            phase = await _run_phase(
                backends,
                people[:n],
                seconds=args.seconds,
                think=args.think,
                http=http,
                engine=engine,
                profiler=watched,
            )
            phases.append(phase)
            print(
                f"  {phase.backends} backend(s), {n} sessions: {phase.rate:.0f} spends/s,"
                f" p99 {percentile(phase.clicks, 99):.0f} ms",
                flush=True,
            )
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="10,50,200", help="N of each phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed clicking a phase")
    parser.add_argument("--think", type=float, default=0.0, help="mean seconds between clicks")
    parser.add_argument("--backends", default="1,2", help="1, 2 or 1,2")
    parser.add_argument("--backend", help="URL[,URL] of running backends")
    parser.add_argument("--database-url", help="their database (with --backend)")
    parser.add_argument("--cluster-dir", type=Path, help="a `scripts/cluster up` directory")
    parser.add_argument("--redis-db", type=int, default=8, help="the stand-in's Redis db")
    parser.add_argument("--profile", type=Path, help="py-spy output directory (stand-in)")
    parser.add_argument("--profile-sessions", type=int, default=50)
    parser.add_argument("--patch", type=Path, help="a diff applied to the stand-in's copy")
    args = parser.parse_args()
    args.sessions = [int(n) for n in args.sessions.split(",")]
    wanted = {int(n) for n in args.backends.split(",")}
    if args.profile and not shutil.which("py-spy"):
        parser.error("--profile needs py-spy on PATH")

    phases: list[Phase] = []
    breakdown: list[tuple[str, float]] | None = None
    with ExitStack() as stack:
        ca_cert = None
        if args.cluster_dir:
            cluster = _cluster_env(args.cluster_dir)
            database_url, ca_cert = cluster["DATABASE_URL"], cluster.get("CA_CERT")
            one = Backends([cluster["BACKEND_URLS"].split(",")[0]])
            configurations = [
                (1, lambda: one),
                (2, lambda: Backends([cluster["APP_URL"]], serving=2)),
            ]
        elif args.backend:
            if not args.database_url:
                parser.error("--backend needs --database-url")
            database_url, urls = args.database_url, args.backend.split(",")
            configurations = [(1, lambda: Backends(urls[:1]))]
            if len(urls) > 1:
                configurations.append((2, lambda: Backends(urls)))
        else:
            database_url = create_postgres_database()
            stack.callback(drop_postgres_database, database_url)
            migrations.upgrade(database_url)
            redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
            redis.Redis.from_url(redis_url).flushdb()
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ui-load-")))
            stand_in = StandIn(stack, workdir, database_url, redis_url, patch=args.patch)
            # The second backend starts after the 1-backend phases.
            configurations = [(1, stand_in.start), (2, stand_in.start)]
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        people = _people(engine, max(args.sessions))
        print(f"{len(people)} people, 2 sessions each; {os.cpu_count()} cores", flush=True)
        for count, start in configurations:
            backends = start()  # the stand-in's second backend needs its first
            if count not in wanted:
                continue
            profiler = None
            if args.profile and backends.count == 1 and backends.pids:
                args.profile.mkdir(parents=True, exist_ok=True)
                profiler = Profiler(backends.pids[0], args.profile / "one-backend.txt")
            found = asyncio.run(_configuration(backends, engine, people, args, ca_cert, profiler))
            phases += found
            if profiler is not None and profiler.process is not None:
                profiled = next(p for p in found if p.sessions == args.profile_sessions)
                assert profiled.backend_cpu is not None and profiled.tool_cpu is not None
                spends = max(1, len(profiled.clicks))
                breakdown = profiler.breakdown(
                    1000 * profiled.backend_cpu / spends, 1000 * profiled.tool_cpu / spends
                )
    pace = f"{args.think:g} s apart on average" if args.think else "closed loop"
    print(
        f"QR tool clicks, {pace} ({args.seconds:g} s a phase, 1 untimed click first);"
        " times in ms; served = clicking tabs that got every balance"
    )
    _print(phases, breakdown)


if __name__ == "__main__":
    main()
