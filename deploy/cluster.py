"""The app as a small production cluster on this machine: N Reflex backends behind nginx.

    scripts/cluster up [--backends N] [--workers W] [--dir DIR] [--https-port P] ...
    scripts/cluster status [--dir DIR]
    scripts/cluster down [--dir DIR]

`up` starts PostgreSQL and Redis if they are down, creates and migrates the database,
starts the standalone Stripe sandbox and seeds the plans into it, exports the frontend
once (in a copy of the project under DIR, so a build never replaces files another app of
this checkout is serving), starts the backends (`reflex run --backend-only --env prod`,
each in its own process group) and nginx (TLS with a self-signed certificate), waits until
everything answers and writes DIR/cluster.env for tools and tests. `down` stops every
process group `up` started; `status` checks each component.

Layout under DIR: project/ (the copy the backends run), frontend/ (the export nginx
serves), nginx/ (config, pid, temp), tls/, logs/, metrics/backend-<i>/, outbox/,
cluster.json (what `up` started), cluster.env.
"""

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
NGINX = "/usr/sbin/nginx"
MIME_TYPES = "/etc/nginx/mime.types"
# What the backends and the export need of the project; tests, docs and the venv stay out.
PROJECT_ENTRIES = (
    "credit_app",
    "stripe_sandbox",
    "assets",
    "alembic",
    "alembic.ini",
    "rxconfig.py",
    "pyproject.toml",
)
SANDBOX_PREFIX = "/stripe-sandbox"  # where nginx exposes the sandbox's hosted pages
STARTUP_TIMEOUT = 180.0
EXPORT_TIMEOUT = 900.0


@dataclass
class Cluster:
    """What `up` was asked for and what it started (DIR/cluster.json)."""

    dir: str
    backends: int = 2
    workers: int = 1
    https_port: int = 8443
    http_port: int = 8080
    https_address: str = "127.0.0.1"
    backend_base_port: int = 8101
    sandbox_port: int = 12111
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/credit_cluster"
    redis_url: str = "redis://127.0.0.1:6379/5"
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    # component name -> process group id (the leader's pid), and the leader's start time
    # (so a pid the system has since given to another process is never signalled)
    processes: dict[str, int] = field(default_factory=dict)
    start_times: dict[str, int] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def app_url(self) -> str:
        # 127.0.0.1, not localhost: Reflex's pages send an API URL on host "localhost" to
        # the page's own host on the default https port (they assume a load balancer on
        # 443), which would lose this port.
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def backend_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.backend_base_port + i}" for i in range(self.backends)]

    @property
    def ca_cert(self) -> Path:
        return self.path / "tls" / "cert.pem"

    @property
    def access_log(self) -> Path:
        return self.path / "logs" / "nginx-access.log"

    def save(self) -> None:
        # It holds the sandbox's key and signing secret.
        write_private(self.path / "cluster.json", json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: Path) -> "Cluster | None":
        state = directory / "cluster.json"
        if not state.exists():
            return None
        return cls(**json.loads(state.read_text()))


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by this user only from the first byte."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    directory = _resolve(args.dir)
    if args.command == "up":
        return up(directory, args)
    if args.command == "down":
        return down(directory)
    return status(directory)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the cluster (or say it is running)")
    defaults = Cluster(dir="")
    start.add_argument("--backends", type=int, default=defaults.backends)
    start.add_argument("--workers", type=int, default=defaults.workers, help="per backend")
    start.add_argument("--https-port", type=int, default=defaults.https_port)
    start.add_argument(
        "--https-address",
        default=defaults.https_address,
        help="loopback address nginx's https listener binds (127.0.0.1 or ::1; the cluster "
        "simulates payments, so it never serves a network)",
    )
    start.add_argument("--http-port", type=int, default=defaults.http_port)
    start.add_argument("--backend-base-port", type=int, default=defaults.backend_base_port)
    start.add_argument("--sandbox-port", type=int, default=defaults.sandbox_port)
    start.add_argument("--database-url", default=defaults.database_url)
    start.add_argument("--redis-url", default=defaults.redis_url)
    start.add_argument(
        "--no-frontend",
        action="store_true",
        help="serve no pages, only the websocket and the API (load and fault tests: no export)",
    )
    for command in (start, commands.add_parser("status"), commands.add_parser("down")):
        command.add_argument("--dir", default=".cluster")
    return parser


def _resolve(directory: str) -> Path:
    # scripts/cluster changes into the project; a relative --dir is the caller's.
    base = Path(os.environ.get("CLUSTER_CALLER_CWD", os.getcwd()))
    return (base / directory).resolve()


# --- up ------------------------------------------------------------------------------------


def up(directory: Path, args: argparse.Namespace) -> int:
    if args.https_address not in ("127.0.0.1", "::1", "localhost"):
        # This layout simulates payments (the sandbox) and names itself 127.0.0.1 in its
        # pages: served to a network, anyone could "buy" credits with a test card.
        print(
            "error: this cluster simulates payments and serves this machine only; a public "
            "deployment runs real Stripe (README: Production, On several machines)",
            file=sys.stderr,
        )
        return 2
    running = Cluster.load(directory)
    if running is not None:
        if all(ok for _, ok, _ in _checks(running)):
            print(f"The cluster in {directory} is already running: {running.app_url}")
            return 0
        print("Part of the cluster is down: stopping the rest, then starting it again")
        down(directory)
    started = time.monotonic()
    cluster = Cluster(
        dir=str(directory),
        backends=args.backends,
        workers=args.workers,
        https_port=args.https_port,
        https_address=args.https_address,
        http_port=args.http_port,
        backend_base_port=args.backend_base_port,
        sandbox_port=args.sandbox_port,
        database_url=args.database_url,
        redis_url=args.redis_url,
        # Made up per start: the sandbox keeps its state in memory, so a restarted sandbox
        # is a new "Stripe account" anyway.
        stripe_secret_key="sk_test_" + secrets.token_hex(16),
        stripe_webhook_secret="whsec_" + secrets.token_hex(24),
    )
    # Logs and state files name secrets: the cluster's directory is this user's alone.
    cluster.path.mkdir(parents=True, exist_ok=True)
    cluster.path.chmod(0o700)
    for sub in ("logs", "tls", "nginx/tmp", "outbox"):
        (cluster.path / sub).mkdir(parents=True, exist_ok=True)
    try:
        _start_services()
        _create_database(cluster.database_url)
        project = _sync_project(cluster.path / "project")
        _step("migrating the database")
        _run_python(project, ["-m", "credit_app.cli", "migrate"], _app_env(cluster))
        _start_sandbox(cluster, project)
        _step("seeding the plans into the sandbox")
        _run_python(project, ["-m", "credit_app.cli", "seed-plans"], _app_env(cluster))
        if args.no_frontend:
            (cluster.path / "frontend").mkdir(exist_ok=True)
        else:
            _export_frontend(cluster, project)
        _make_certificate(cluster)
        for index in range(cluster.backends):
            _start_backend(cluster, project, index)
        _start_nginx(cluster, project)
        _wait_until_up(cluster)
    except BaseException:
        cluster.save()
        print(f"Start failed: stopping what was started (logs in {cluster.path / 'logs'})")
        down(directory)
        raise
    cluster.save()
    _write_env(cluster)
    print(
        f"Cluster up in {time.monotonic() - started:.0f} s: {cluster.app_url} "
        f"({cluster.backends} backends x {cluster.workers} workers); "
        f"settings in {cluster.path / 'cluster.env'}"
    )
    return 0


def _step(text: str) -> None:
    print(f"- {text}", flush=True)


def _start_services() -> None:
    """PostgreSQL and Redis as .ci/run starts them, when they are not answering."""
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode != 0:
        _step("starting PostgreSQL")
        version = sorted(os.listdir("/etc/postgresql"))[0]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True
        )
        _poll(lambda: subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0)
    ping = ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"]
    if subprocess.run(ping, capture_output=True).returncode != 0:
        _step("starting Redis")
        subprocess.run(
            [
                *("redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379"),
                *("--save", "", "--appendonly", "no"),
            ],
            check=True,
        )
        _poll(lambda: subprocess.run(ping, capture_output=True).returncode == 0)


def _create_database(url: str) -> None:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise SystemExit(f"--database-url names no database: {url}")
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(
        admin.render_as_string(hide_password=False), autocommit=True
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            _step(f"creating database {name}")
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _sync_project(project: Path) -> Path:
    """The project's current code copied to `project`; its .web (Node modules, the build)
    is kept, so only the first export installs the frontend's packages."""
    project.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.db*", ".*cache")
    for entry in PROJECT_ENTRIES:
        source, target = ROOT / entry, project / entry
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    return project


def _base_env() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "REFLEX_USE_NPM": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
    }


def _app_env(cluster: Cluster) -> dict[str, str]:
    """What every backend and every `credit-app` command of the cluster runs with."""
    return {
        **_base_env(),
        "DATABASE_URL": cluster.database_url,
        "REDIS_URL": cluster.redis_url,
        "APP_URL": cluster.app_url,
        "PAYMENTS": "stripe",
        "STRIPE_SECRET_KEY": cluster.stripe_secret_key,
        "STRIPE_WEBHOOK_SECRET": cluster.stripe_webhook_secret,
        "STRIPE_API_BASE": cluster.sandbox_url,
        "TRUSTED_PROXY_HOPS": "1",
        # A loopback APP_URL: mail is written as .eml files here instead of sent.
        "OUTBOX_DIR": str(cluster.path / "outbox"),
        # Backends listen on loopback; only nginx is reached from outside.
        "BACKEND_HOST": "127.0.0.1",
    }


def _run_python(project: Path, args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, *args], cwd=project, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def _spawn(cluster: Cluster, name: str, command: list[str], *, cwd: Path, env: dict) -> None:
    """A long-running component in its own session (so `down` stops everything it started
    by its process group), its output in logs/<name>.log."""
    with (cluster.path / "logs" / f"{name}.log").open("a") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cluster.processes[name] = process.pid
    cluster.start_times[name] = _start_time(process.pid) or 0


def _start_sandbox(cluster: Cluster, project: Path) -> None:
    """The standalone sandbox (one process: its state is in memory). Browsers reach its
    hosted pages through nginx under SANDBOX_PREFIX, so it links to the proxy's origin;
    it delivers webhooks to nginx's loopback http listener, round-robin to the backends."""
    _step(f"starting the Stripe sandbox on {cluster.sandbox_url}")
    command = [
        sys.executable,
        "-m",
        "stripe_sandbox",
        "--port",
        str(cluster.sandbox_port),
        "--api-key",
        cluster.stripe_secret_key,
        "--webhook-secret",
        cluster.stripe_webhook_secret,
        "--webhook-url",
        f"{cluster.http_url}/api/webhooks/stripe",
        "--public-url",
        cluster.app_url + SANDBOX_PREFIX,
        "--allowed-return-origin",
        cluster.app_url,
        "--retry-base-seconds",
        "1",
    ]
    _spawn(cluster, "sandbox", command, cwd=project, env=_base_env())
    _poll(lambda: _answers(f"{cluster.sandbox_url}/_sandbox/health"), what="the sandbox")


def _export_frontend(cluster: Cluster, project: Path) -> None:
    """`reflex export --frontend-only` with the proxy as the backend's address (the pages'
    websocket and uploads go to it), copied to DIR/frontend. Skipped when the code and the
    address are those of the last export."""
    frontend = cluster.path / "frontend"
    fingerprint = _fingerprint(project, cluster.app_url)
    stamp = frontend / ".export-fingerprint"
    if stamp.exists() and stamp.read_text() == fingerprint:
        _step("frontend already exported for this code")
        return
    _step("exporting the frontend (the first time installs its packages: minutes)")
    env = {**_base_env(), "REFLEX_API_URL": cluster.app_url, "REFLEX_DEPLOY_URL": cluster.app_url}
    with (cluster.path / "logs" / "export.log").open("w") as log:
        done = subprocess.run(
            ["reflex", "export", "--frontend-only", "--no-zip", "--env", "prod"],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=EXPORT_TIMEOUT,
        )
    if done.returncode != 0:
        raise SystemExit(f"reflex export failed; see {cluster.path / 'logs' / 'export.log'}")
    fresh = cluster.path / "frontend.new"
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(project / ".web" / "build" / "client", fresh)
    (fresh / ".export-fingerprint").write_text(fingerprint)
    shutil.rmtree(frontend, ignore_errors=True)
    fresh.rename(frontend)


def _fingerprint(project: Path, api_url: str) -> str:
    digest = hashlib.sha256(api_url.encode())
    for entry in PROJECT_ENTRIES:
        for path in sorted(p for p in [project / entry, *(project / entry).rglob("*")]):
            if path.is_file():
                digest.update(str(path.relative_to(project)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _make_certificate(cluster: Cluster) -> None:
    """A self-signed certificate for localhost and 127.0.0.1 (CA_CERT for clients)."""
    key = cluster.path / "tls" / "key.pem"
    if cluster.ca_cert.exists() and key.exists():
        return
    _step("making a self-signed TLS certificate")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cluster.ca_cert)),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)


def _start_backend(cluster: Cluster, project: Path, index: int) -> None:
    port = cluster.backend_base_port + index
    _step(f"starting backend {index} on 127.0.0.1:{port} ({cluster.workers} workers)")
    metrics = cluster.path / "metrics" / f"backend-{index}"
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True)
    env = {
        **_app_env(cluster),
        "GRANIAN_WORKERS": str(cluster.workers),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    command = ["reflex", "run", "--backend-only", "--env", "prod"]
    command += ["--backend-port", str(port), "--loglevel", "warning"]
    _spawn(cluster, f"backend-{index}", command, cwd=project, env=env)


def _start_nginx(cluster: Cluster, project: Path) -> None:
    _step(f"starting nginx on {cluster.app_url} (webhooks: {cluster.http_url})")
    conf = cluster.path / "nginx" / "nginx.conf"
    conf.write_text(render_nginx_conf(cluster, _content_security_policy(cluster)))
    command = [NGINX, "-p", str(cluster.path / "nginx"), "-c", str(conf)]
    command += ["-e", str(cluster.path / "logs" / "nginx-error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    if checked.returncode != 0:
        raise SystemExit(f"nginx refused its configuration:\n{checked.stderr}")
    _spawn(cluster, "nginx", [*command, "-g", "daemon off;"], cwd=project, env=_base_env())


def _content_security_policy(cluster: Cluster) -> str:
    """The backends' policy for pages (scripts: ours and the build's inline ones)."""
    from credit_app.api.csp import inline_script_hashes
    from credit_app.api.guard import content_security_policy

    return content_security_policy(inline_script_hashes(cluster.path / "frontend"))


def render_nginx_conf(cluster: Cluster, content_security_policy: str) -> str:
    servers = "\n".join(
        f"        server 127.0.0.1:{cluster.backend_base_port + i};"
        for i in range(cluster.backends)
    )
    # As root, nginx's workers would run as `nobody`, who may not read DIR (e.g. a test's
    # private temporary directory); elsewhere the workers keep the caller's user.
    user_line = "user root;" if os.geteuid() == 0 else ""
    values = {
        "USER_LINE": user_line,
        "WORKER_PROCESSES": "1",
        "PID_FILE": str(cluster.path / "nginx" / "nginx.pid"),
        "ERROR_LOG": str(cluster.path / "logs" / "nginx-error.log"),
        "ACCESS_LOG": str(cluster.access_log),
        "MIME_TYPES": MIME_TYPES,
        "TEMP_DIR": str(cluster.path / "nginx" / "tmp"),
        "BACKEND_SERVERS": servers,
        "SANDBOX_ADDRESS": f"127.0.0.1:{cluster.sandbox_port}",
        "HTTPS_ADDRESS": cluster.https_address,
        "HTTPS_PORT": str(cluster.https_port),
        "HTTP_PORT": str(cluster.http_port),
        "TLS_CERT": str(cluster.ca_cert),
        "TLS_KEY": str(cluster.path / "tls" / "key.pem"),
        "FRONTEND_DIR": str(cluster.path / "frontend"),
        "CONTENT_SECURITY_POLICY": content_security_policy,
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    if "{{" in text:
        raise SystemExit(f"unfilled placeholder in {TEMPLATE}")
    return text


def _wait_until_up(cluster: Cluster) -> None:
    _step("waiting for every backend and nginx to answer")
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        checks = _checks(cluster)
        dead = [name for name, _, detail in checks if detail == "process exited"]
        if dead:
            raise SystemExit(f"{', '.join(dead)} exited; see {cluster.path / 'logs'}")
        if all(ok for _, ok, _ in checks):
            return
        time.sleep(0.5)
    waiting = [name for name, ok, _ in _checks(cluster) if not ok]
    raise SystemExit(f"not up in {STARTUP_TIMEOUT:.0f} s: {', '.join(waiting)}")


def _write_env(cluster: Cluster) -> None:
    values = {
        "APP_URL": cluster.app_url,
        "HTTP_URL": cluster.http_url,
        "DATABASE_URL": cluster.database_url,
        "REDIS_URL": cluster.redis_url,
        "STRIPE_API_BASE": cluster.sandbox_url,
        "STRIPE_SECRET_KEY": cluster.stripe_secret_key,
        "STRIPE_WEBHOOK_SECRET": cluster.stripe_webhook_secret,
        "SANDBOX_URL": cluster.sandbox_url,
        "BACKEND_URLS": ",".join(cluster.backend_urls),
        "CA_CERT": str(cluster.ca_cert),
        "NGINX_ACCESS_LOG": str(cluster.access_log),
    }
    # It holds the sandbox's key and signing secret.
    write_private(cluster.path / "cluster.env", "".join(f"{k}={v}\n" for k, v in values.items()))


# --- status --------------------------------------------------------------------------------


def status(directory: Path) -> int:
    cluster = Cluster.load(directory)
    if cluster is None:
        print(f"No cluster in {directory}")
        return 1
    checks = _checks(cluster)
    for name, ok, detail in checks:
        print(f"{name:<12} {'up' if ok else 'down'}  {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def _checks(cluster: Cluster) -> list[tuple[str, bool, str]]:
    """(component, up?, detail) for everything the cluster needs."""
    database = urlsplit(cluster.database_url)
    pg_host, pg_port = database.hostname or "127.0.0.1", str(database.port or 5432)
    pg = subprocess.run(["pg_isready", "-h", pg_host, "-p", pg_port, "-q"]).returncode == 0
    redis = (
        subprocess.run(["redis-cli", "-u", cluster.redis_url, "ping"], capture_output=True)
        .stdout.strip()
        .endswith(b"PONG")
    )
    checks = [
        ("postgresql", pg, f"{pg_host}:{pg_port}"),
        ("redis", redis, cluster.redis_url),
        _process_check(cluster, "sandbox", f"{cluster.sandbox_url}/_sandbox/health"),
    ]
    for index, url in enumerate(cluster.backend_urls):
        checks.append(_process_check(cluster, f"backend-{index}", f"{url}/api/health"))
    checks.append(_process_check(cluster, "nginx", f"{cluster.app_url}/api/health"))
    return checks


def _process_check(cluster: Cluster, name: str, url: str) -> tuple[str, bool, str]:
    pid = cluster.processes.get(name)
    if pid is None:
        return name, False, "not started"
    if not _alive(pid) or _start_time(pid) != cluster.start_times.get(name):
        return name, False, "process exited"
    if not _answers(url, ca_cert=cluster.ca_cert):
        return name, False, f"pid {pid}, {url} does not answer"
    return name, True, f"pid {pid}, {url}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None if there is none."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _answers(url: str, ca_cert: Path | None = None) -> bool:
    context = ssl.create_default_context(cafile=str(ca_cert)) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _poll(condition, *, what: str = "it", timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up in {timeout:.0f} s")


# --- down ----------------------------------------------------------------------------------


def down(directory: Path) -> int:
    """Stop every process group `up` started, nginx first (no new requests), the sandbox
    last (backends may still be answering its deliveries). Idempotent."""
    cluster = Cluster.load(directory)
    if cluster is None:
        print(f"No cluster in {directory}")
        return 0
    order = sorted(cluster.processes, key=lambda n: (n != "nginx", n == "sandbox", n))
    for name in order:
        pgid = cluster.processes[name]
        leader_start = _start_time(pgid)
        # A group outlives its leader (the kernel keeps its id while members remain); a
        # live process under that id that started later is someone else's.
        if leader_start is None or leader_start == cluster.start_times.get(name):
            _stop_group(pgid)
    (cluster.path / "cluster.json").unlink(missing_ok=True)
    (cluster.path / "cluster.env").unlink(missing_ok=True)
    print(f"Cluster in {directory} stopped")
    return 0


def _stop_group(pgid: int, timeout: float = 20.0) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # Members that are only zombies (their parent is gone or has not reaped them) are done.
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())
