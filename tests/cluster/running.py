"""A whole cluster (`scripts/cluster up`: nginx with TLS, two backends, PostgreSQL, Redis,
the standalone Stripe sandbox) in a temporary directory, on its own database, Redis
database number and free ports, stopped with `scripts/cluster down` afterwards: for the
cluster's browser test (tests/e2e/test_cluster_smoke.py) and the fault tests."""

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import PG_ADMIN_DSN, drop_postgres_database, require_postgres

ROOT = Path(__file__).resolve().parents[2]
NGINX = "/usr/sbin/nginx"
# Redis database numbers 0-6 belong to the other suites and the default cluster (5).
REDIS_URL = os.environ.get("TEST_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/7")
UP_TIMEOUT = 900  # a first export installs the frontend's packages


@dataclass
class RunningCluster:
    directory: Path
    env: dict[str, str]  # DIR/cluster.env
    up_seconds: float

    @property
    def app_url(self) -> str:
        return self.env["APP_URL"]

    @property
    def backend_ports(self) -> list[int]:
        return [int(url.rsplit(":", 1)[1]) for url in self.env["BACKEND_URLS"].split(",")]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.app_url, verify=self.env["CA_CERT"], timeout=10)


def require_nginx() -> None:
    _require(Path(NGINX).exists(), f"nginx not found at {NGINX} (apt-get install nginx)")


def _require(condition: bool, reason: str) -> None:
    """Missing infrastructure skips outside CI; in CI the cluster test must run."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def free_ports(count: int) -> list[int]:
    """`count` consecutive free ports below the kernel's ephemeral range, where outgoing
    connections (this busy machine makes many) never take one between our check and the
    server binding it."""
    low, _ = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for _ in range(200):
        base = random.randrange(10_000, low - count)
        try:
            with contextlib.ExitStack() as held:
                for port in range(base, base + count):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return list(range(base, base + count))
    raise RuntimeError(f"no {count} consecutive free ports")


def cluster_command(command: str, directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "cluster.py"),
            command,
            "--dir",
            str(directory),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=UP_TIMEOUT,
    )


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@contextmanager
def running_cluster(directory: Path) -> Iterator[RunningCluster]:
    """Two backends on the shared PostgreSQL (a database of its own) and Redis (db 7)."""
    require_nginx()
    require_postgres()
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _require(False, f"Redis unreachable: {exc}")
    name = f"credit_cluster_test_{uuid.uuid4().hex[:10]}"
    database_url = PG_ADMIN_DSN.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+psycopg://", 1
    )
    database_url = f"{database_url}/{name}"
    redis.Redis.from_url(REDIS_URL).flushdb()
    https, http, sandbox, backends = free_ports(5)[:4]
    args = [
        "--backends",
        "2",
        "--workers",
        "1",
        "--https-port",
        str(https),
        "--http-port",
        str(http),
        "--sandbox-port",
        str(sandbox),
        "--backend-base-port",
        str(backends),
        "--database-url",
        database_url,
        "--redis-url",
        REDIS_URL,
    ]
    started = time.monotonic()
    try:
        up = cluster_command("up", directory, *args)
        up_seconds = time.monotonic() - started
        assert up.returncode == 0, f"{up.stdout}\n{up.stderr}\n{cluster_logs(directory)}"
        yield RunningCluster(directory, read_env(directory / "cluster.env"), up_seconds)
    finally:
        down = cluster_command("down", directory)
        drop_postgres_database(database_url)
        redis.Redis.from_url(REDIS_URL).flushdb()
        # The project copy and its node_modules are large; the logs are small.
        shutil.rmtree(directory / "project", ignore_errors=True)
        assert down.returncode == 0, down.stderr


def cluster_logs(directory: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
        for log in sorted((directory / "logs").glob("*.log"))
    )
