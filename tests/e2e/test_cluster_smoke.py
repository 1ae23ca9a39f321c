"""The cluster behind nginx, as a person and an attacker meet it: two tabs of one person on
two different backends see each other's spends and a webhook's grant within a second, and
nginx shows nothing private (metrics, the sandbox's API and test controls)."""

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.cluster.running import RunningCluster, running_cluster
from tests.e2e.helpers import log_in, pay_on_checkout, sign_up

pytestmark = pytest.mark.e2e

MAX_CONTEXTS = 8  # round-robin alternates backends: two or three tries suffice


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[RunningCluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def test_private_paths_are_refused_and_answers_carry_hsts(cluster: RunningCluster):
    with cluster.client() as client:
        for path in ("/", "/dashboard", "/api/health"):
            answer = client.get(path)
            assert answer.status_code == 200, path
            assert answer.headers["strict-transport-security"].startswith("max-age=")
        assert client.get("/dashboard").headers["content-security-policy"]
        # The backends' metrics, the sandbox's API and its test controls.
        for path in (
            "/metrics",
            "/metrics/",
            "/v1/customers",
            "/_sandbox/health",
            "/stripe-sandbox/v1/customers",
            "/stripe-sandbox/_sandbox/health",
        ):
            assert client.get(path).status_code == 404, path
        assert client.post("/stripe-sandbox/_sandbox/reset").status_code == 404
        # An unknown page gets the app's 404 page with status 404.
        assert client.get("/no-such-page").status_code == 404
    print(f"\ncluster up in {cluster.up_seconds:.1f} s")


def test_tabs_on_two_backends_see_spends_and_webhook_grants(
    cluster: RunningCluster, browser: Browser
):
    backends = cluster.backend_ports
    email = f"cluster-{uuid.uuid4().hex[:8]}@example.com"
    first = _context(browser, cluster)
    tools = first.new_page()
    sign_up(tools, email)
    expect(tools).to_have_url(re.compile(r"/dashboard/?$"), timeout=20_000)
    tools.goto("/tools")
    expect(tools.get_by_label("Text or link")).to_be_visible()
    tools_backend = _only_socket(backends)

    # Another browser of the same person, until its socket is on the other backend.
    for _ in range(MAX_CONTEXTS):
        second = _context(browser, cluster)
        dashboard = second.new_page()
        dashboard.goto("/login")
        log_in(dashboard, email)
        expect(dashboard.locator("#dashboard-balance")).to_have_text("100")
        dashboard_backend = _new_socket(backends, known=Counter({tools_backend: 1}))
        if dashboard_backend != tools_backend:
            break
        second.close()
        _wait_for_sockets(backends, Counter({tools_backend: 1}))
    else:
        pytest.fail(f"{MAX_CONTEXTS} browsers all landed on backend {tools_backend}")

    tools.get_by_label("Text or link").fill("https://example.com/cluster")
    tools.locator("#run-qr").click()
    # The run may wait for its backend's tool process to start; the push to the other
    # backend's tab must then take at most a second.
    expect(tools.locator("#balance-badge")).to_contain_text("99 credit", timeout=30_000)
    expect(dashboard.locator("#dashboard-balance")).to_have_text("99", timeout=1000)

    # A credit pack bought through the sandbox's hosted checkout (served through nginx);
    # its webhook reaches a backend through nginx's loopback listener.
    buyer = second.new_page()
    buyer.goto("/pricing")
    buyer.locator("#choose-pack_500").click()
    expect(buyer).to_have_url(re.compile(r"/stripe-sandbox/checkout/"))
    assert buyer.url.startswith(cluster.app_url)
    pay_on_checkout(buyer)
    expect(buyer.locator("#confirmed")).to_be_visible(timeout=30_000)
    expect(tools.locator("#balance-badge")).to_contain_text("599 credit", timeout=1000)
    expect(dashboard.locator("#dashboard-balance")).to_have_text("599", timeout=1000)

    first.close()
    second.close()
    # nginx logs a websocket when it closes: both backends served this person's tabs.
    _wait_for_sockets(backends, Counter())
    served = _event_upstreams(Path(cluster.env["NGINX_ACCESS_LOG"]))
    assert {f"127.0.0.1:{port}" for port in (tools_backend, dashboard_backend)} <= served


def _context(browser: Browser, cluster: RunningCluster) -> BrowserContext:
    context = browser.new_context(base_url=cluster.app_url, ignore_https_errors=True)
    context.set_default_timeout(20_000)
    return context


def _sockets(ports: list[int]) -> Counter[int]:
    """Open TCP connections to each backend port (from nginx: nothing else talks to the
    backends during the test, and only websockets stay open)."""
    counts: Counter[int] = Counter()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port, state = int(fields[2].rsplit(":", 1)[1], 16), fields[3]
        if state == "01" and remote_port in ports:  # ESTABLISHED
            counts[remote_port] += 1
    return counts


def _wait_for_sockets(ports: list[int], expected: Counter[int], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _sockets(ports) != expected:
        assert time.monotonic() < deadline, f"sockets {_sockets(ports)}, expected {expected}"
        time.sleep(0.1)


def _only_socket(ports: list[int]) -> int:
    """The backend of the one tab open (after its page's earlier socket has closed)."""
    deadline = time.monotonic() + 10
    while sum((counts := _sockets(ports)).values()) != 1:
        assert time.monotonic() < deadline, f"expected one socket, found {counts}"
        time.sleep(0.1)
    return next(iter(counts))


def _new_socket(ports: list[int], known: Counter[int]) -> int:
    deadline = time.monotonic() + 10
    while sum((added := _sockets(ports) - known).values()) != 1:
        assert time.monotonic() < deadline, f"expected one new socket, found {added}"
        time.sleep(0.1)
    return next(iter(added))


def _event_upstreams(access_log: Path) -> set[str]:
    found = set()
    for line in access_log.read_text().splitlines():
        if " /_event" in line and (match := re.search(r"upstream=(\S+)", line)):
            found.add(match[1])
    return found
