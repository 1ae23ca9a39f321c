"""Outgoing webhooks under a customer who tries to hold the sender up, on SQLite and
PostgreSQL: an endpoint that accepts connections and never answers delays only its own
deliveries (one in flight per endpoint, every other endpoint in the same round); a
nameserver that never answers ties up the lookup threads only, never the app's database
calls, and a full lookup queue fails the try at once; the delivery log shows generic
errors, not the network's details."""

import asyncio
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from credit_app import clock, credits, outbound, settings
from credit_app.db import in_read, read_scope, session_scope
from credit_app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from credit_app.outbound import addresses, delivery
from credit_app.outbound.delivery import Claimed, Timeouts
from tests.async_run import run
from tests.factories import make_user
from tests.integration.webhook_receiver import Received, Receiver

# Short enough for a test, in the proportions of the real ones (10 s, 3 s, 5 s).
QUICK = Timeouts(total=1.0, connect=0.5, dns=0.5)


@pytest.fixture
def private_allowed(monkeypatch):
    """A development machine: the receivers run on 127.0.0.1."""
    monkeypatch.setenv("WEBHOOKS_ALLOW_PRIVATE", "true")
    settings.get_settings.cache_clear()
    yield
    monkeypatch.delenv("WEBHOOKS_ALLOW_PRIVATE", raising=False)
    settings.get_settings.cache_clear()


@dataclass
class Nameserver:
    """socket.getaddrinfo for names ending in `.stuck.test` (it blocks until released,
    as a nameserver that never answers would) and `.missing.test` (no such name); other
    names go to the real resolver."""

    released: threading.Event = field(default_factory=threading.Event)
    threads: list[str] = field(default_factory=list)
    blocked: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def getaddrinfo(self, real, host, *args, **kwargs):
        if isinstance(host, str) and host.endswith((".stuck.test", ".missing.test")):
            with self.lock:
                self.threads.append(threading.current_thread().name)
            if host.endswith(".stuck.test"):
                with self.lock:
                    self.blocked += 1
                self.released.wait(timeout=60)
                with self.lock:
                    self.blocked -= 1
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)


@pytest.fixture
def nameserver(monkeypatch) -> Iterator[Nameserver]:
    server = Nameserver()
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **kw: server.getaddrinfo(real, *a, **kw))
    try:
        yield server
    finally:
        server.released.set()
        # The blocked lookups end: the lookup threads are free for the next test.
        deadline = time.monotonic() + 10
        while addresses._lookups.taken and time.monotonic() < deadline:
            time.sleep(0.01)
        assert addresses._lookups.taken == 0


class Silent:
    """A server on 127.0.0.1 that accepts connections and never answers (or, with
    `hang_up`, reads the request and closes the connection without a word). Records when
    each connection was accepted."""

    def __init__(self, *, hang_up: bool = False) -> None:
        self.hang_up = hang_up
        self.accepted: list[float] = []
        self._held: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            self.accepted.append(time.monotonic())
            if self.hang_up:
                connection.recv(65536)
                connection.close()
            else:
                self._held.append(connection)

    def __enter__(self) -> "Silent":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        # Wakes the accept() (closing alone would not).
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in self._held:
            connection.close()
        self._thread.join(timeout=5)


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return listener.getsockname()[1]


def _endpoint(engine, user: uuid.UUID, url: str) -> int:
    """An endpoint of `user` for credits.granted, written directly (no limit of 5, no
    lookup when added)."""
    with session_scope(engine) as session:
        row = WebhookEndpoint(user_id=user, url=url, events="credits.granted", secret="whsec_t")
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def _grant(engine, user: uuid.UUID) -> None:
    with session_scope(engine) as session:
        credits.grant(
            session,
            user_id=user,
            amount=1,
            idempotency_key=f"t:{uuid.uuid4().hex}",
            source="promo",
        )


def _errors(engine) -> dict[int, list[str | None]]:
    """Each endpoint's attempts' errors, oldest first."""
    with read_scope(engine) as session:
        rows = session.execute(
            select(WebhookDelivery.endpoint_id, WebhookAttempt.error)
            .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
            .order_by(WebhookAttempt.id)
        ).all()
    errors: dict[int, list[str | None]] = {}
    for endpoint_id, error in rows:
        errors.setdefault(endpoint_id, []).append(error)
    return errors


@contextmanager
def _in_flight(monkeypatch) -> Iterator[Counter]:
    """Counts, by endpoint, the most of its deliveries being sent at once."""
    now: Counter = Counter()
    most: Counter = Counter()
    send = delivery.send

    async def counted(client, claimed, **kwargs):
        now[claimed.endpoint_id] += 1
        most[claimed.endpoint_id] = max(most[claimed.endpoint_id], now[claimed.endpoint_id])
        try:
            return await send(client, claimed, **kwargs)
        finally:
            now[claimed.endpoint_id] -= 1

    monkeypatch.setattr(delivery, "send", counted)
    yield most


# --- one delivery per endpoint at a time --------------------------------------------


def test_an_endpoint_that_never_answers_holds_up_only_its_own_deliveries(
    engine, private_allowed, monkeypatch
):
    attacker, victim = make_user(engine), make_user(engine)
    with Silent() as silent, Receiver() as receiver, _in_flight(monkeypatch) as most:
        slow = _endpoint(engine, attacker, silent.url())
        fast = _endpoint(engine, victim, receiver.url())
        # The attacker's deliveries are queued first, the victim's last.
        for _ in range(4):
            _grant(engine, attacker)
        _grant(engine, victim)

        started = time.monotonic()
        tried = run(outbound.deliver_due(engine=engine, timeouts=QUICK))
        took = time.monotonic() - started

    assert tried == 5
    # The victim's event went out in the first round, beside the attacker's first try,
    # not after the attacker's four (which would take 4 s here, 40 s for real).
    (request,) = receiver.requests
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    # One try of the slow endpoint at a time: each connection opened after the last
    # timed out; so four rounds in all.
    assert most == {slow: 1, fast: 1}
    assert len(silent.accepted) == 4
    gaps = [b - a for a, b in zip(silent.accepted, silent.accepted[1:], strict=False)]
    assert all(gap >= QUICK.total * 0.9 for gap in gaps), gaps
    assert took >= 4 * QUICK.total * 0.9
    errors = _errors(engine)
    assert errors[fast] == [None]
    assert errors[slow] == ["timed out"] * 4


def test_the_victims_event_is_sent_within_one_round(engine, private_allowed):
    attacker, victim = make_user(engine), make_user(engine)
    arrived: list[float] = []

    def stamp(_request: Received) -> tuple[int, dict[str, str]]:
        arrived.append(time.monotonic())
        return 200, {}

    with Silent() as silent, Receiver(respond=stamp) as receiver:
        for n in range(5):
            _endpoint(engine, attacker, silent.url(f"/{n}"))
        for _ in range(3):
            _grant(engine, attacker)  # 15 deliveries queued, 3 per endpoint
        _endpoint(engine, victim, receiver.url())
        _grant(engine, victim)
        started = time.monotonic()
        assert run(outbound.deliver_due(engine=engine, timeouts=QUICK)) == 16
    assert len(arrived) == 1
    assert arrived[0] - started < QUICK.total, "in the first round"


def test_two_deliverers_at_once_keep_one_delivery_per_endpoint_in_flight(
    engine, private_allowed, monkeypatch
):
    user = make_user(engine)
    with Silent() as silent, Receiver() as receiver, _in_flight(monkeypatch) as most:
        slow = _endpoint(engine, user, silent.url())
        fast = _endpoint(engine, user, receiver.url())
        for _ in range(3):
            _grant(engine, user)

        async def together() -> list[int]:
            return await asyncio.gather(
                outbound.deliver_due(engine=engine, timeouts=QUICK),
                outbound.deliver_due(engine=engine, timeouts=QUICK),
            )

        tried = run(together())
    assert sum(tried) == 6
    assert most == {slow: 1, fast: 1}
    assert len(receiver.requests) == 3
    assert len(silent.accepted) == 3


def test_a_claim_takes_one_delivery_per_endpoint_and_none_of_one_being_sent(engine):
    user = make_user(engine)
    first = _endpoint(engine, user, "https://93.184.215.14/first")
    second = _endpoint(engine, user, "https://93.184.215.14/second")
    for _ in range(3):
        _grant(engine, user)
    with read_scope(engine) as session:
        oldest = {
            endpoint_id: min(
                session.scalars(
                    select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
                )
            )
            for endpoint_id in (first, second)
        }
    now = clock.now()
    with session_scope(engine) as session:
        claimed = delivery.claim_due(session, now=now, limit=10)
    assert sorted((c.endpoint_id, c.id) for c in claimed) == sorted(oldest.items())
    with session_scope(engine) as session:
        # Both endpoints have a delivery being sent: nothing more until it is recorded.
        assert not delivery.any_due(session, now=now)
        assert delivery.claim_due(session, now=now, limit=10) == []
    (done,) = [c for c in claimed if c.endpoint_id == second]
    with session_scope(engine) as session:
        delivery.record_attempt(session, done, delivery.Attempt(200, None, 5), now=now)
    with session_scope(engine) as session:
        (following,) = delivery.claim_due(session, now=now, limit=10)
    assert following.endpoint_id == second and following.id > done.id
    with session_scope(engine) as session:
        # The first endpoint's sender died: when its lease ends, that delivery is next.
        again = delivery.claim_due(session, now=now + timedelta(seconds=61), limit=10)
    assert sorted((c.endpoint_id, c.id) for c in again) == [
        (first, oldest[first]),
        (second, following.id),
    ]


def test_a_connection_gets_the_short_connect_timeout(engine, private_allowed):
    user = make_user(engine)
    _endpoint(engine, user, "http://127.0.0.1:9/hook")
    _grant(engine, user)
    seen: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(204)

    async def deliver() -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await outbound.deliver_due(engine=engine, client=client)

    assert run(deliver()) == 1
    assert seen == [{"connect": 3.0, "read": 10.0, "write": 10.0, "pool": 10.0}]


# --- DNS ------------------------------------------------------------------------------


def test_a_nameserver_that_never_answers_does_not_hold_the_apps_threads(
    engine, private_allowed, nameserver
):
    user = make_user(engine)
    for n in range(6):
        _endpoint(engine, user, f"http://hooks{n}.stuck.test:9/hook")
    _grant(engine, user)

    async def scenario() -> tuple[float, int]:
        # The app's database calls get one thread here: had a lookup taken it, they would
        # wait for the lookup.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))
        timeouts = Timeouts(total=5.0, connect=0.5, dns=1.5)
        sending = asyncio.create_task(outbound.deliver_due(engine=engine, timeouts=timeouts))
        deadline = time.monotonic() + 10
        while nameserver.blocked < addresses.DNS_WORKERS:
            assert time.monotonic() < deadline, "the lookups started"
            await asyncio.sleep(0.01)
        started = time.monotonic()
        count = await in_read(
            lambda s: s.scalar(select(func.count()).select_from(WebhookDelivery)), engine=engine
        )
        answered = time.monotonic() - started
        assert count == 6
        return answered, await sending

    answered, tried = run(scenario())
    assert answered < 0.5, "a database read did not wait for DNS"
    assert tried == 6
    # Four lookups ran (and still block), on the lookup threads only; two waited for a
    # thread and were dropped when their time was up.
    assert len(nameserver.threads) == addresses.DNS_WORKERS
    assert all(name.startswith("webhook-dns") for name in nameserver.threads)
    errors = _errors(engine)
    assert (
        sorted(e for endpoint_errors in errors.values() for e in endpoint_errors)
        == ["DNS lookup timed out"] * 6
    )
    with read_scope(engine) as session:
        durations = list(session.scalars(select(WebhookAttempt.duration_ms)))
    assert all(1400 <= d < 3000 for d in durations), durations


def test_lookups_beyond_the_queue_fail_the_try_at_once(private_allowed, nameserver):
    places = addresses.DNS_WORKERS + addresses.DNS_QUEUE

    async def scenario() -> tuple[float, delivery.Attempt, float]:
        holding = [
            asyncio.create_task(addresses.resolve_async(f"h{n}.stuck.test", 443, timeout=30))
            for n in range(places)
        ]
        await asyncio.sleep(0)
        assert addresses._lookups.taken == places
        started = time.monotonic()
        with pytest.raises(addresses.LookupBusy):
            await addresses.resolve_async("another.stuck.test", 443, timeout=30)
        refused_in = time.monotonic() - started
        claimed = Claimed(
            id=1,
            endpoint_id=1,
            event_id="evt_" + "0" * 32,
            payload="{}",
            attempts=0,
            retry_until=clock.now() + timedelta(days=3),
            url="http://hooks.stuck.test:9/hook",
            secret="whsec_t",
        )
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            attempt = await delivery.send(client, claimed)
        sent_in = time.monotonic() - started
        nameserver.released.set()
        ended = await asyncio.gather(*holding, return_exceptions=True)
        assert all(isinstance(e, addresses.LookupFailed) for e in ended)
        return refused_in, attempt, sent_in

    refused_in, attempt, sent_in = run(scenario())
    assert refused_in < 0.2 and sent_in < 0.2
    assert (attempt.status_code, attempt.error) == (None, "DNS lookup busy, retried later")


def test_a_blocking_lookup_from_sync_code_is_given_up_in_time(nameserver):
    started = time.monotonic()
    with pytest.raises(addresses.LookupTimedOut, match="could not be looked up in time"):
        addresses.resolve("hooks.stuck.test", 443, timeout=0.3)
    assert time.monotonic() - started < 1.0
    with pytest.raises(addresses.LookupFailed, match="could not be found"):
        addresses.resolve("hooks.missing.test", 443)
    assert set(nameserver.threads) <= {f"webhook-dns_{n}" for n in range(addresses.DNS_WORKERS)}


# --- the delivery log -------------------------------------------------------------------


def test_the_log_shows_generic_errors_and_the_detail_stays_in_ours(
    engine, private_allowed, nameserver, caplog
):
    user = make_user(engine)
    with (
        Silent() as silent,
        Silent(hang_up=True) as hanging_up,
        Receiver(respond=lambda _r: (500, {})) as failing,
    ):
        refused = _endpoint(engine, user, f"http://127.0.0.1:{_closed_port()}/hook")
        timing_out = _endpoint(engine, user, silent.url())
        hangs_up = _endpoint(engine, user, hanging_up.url())
        erring = _endpoint(engine, user, failing.url())
        unknown = _endpoint(engine, user, "http://hooks.missing.test:9/hook")
        _grant(engine, user)
        with caplog.at_level(logging.DEBUG, logger="credit_app.outbound.delivery"):
            assert run(outbound.deliver_due(engine=engine, timeouts=QUICK)) == 5

    errors = {endpoint: e for endpoint, (e,) in _errors(engine).items()}
    assert errors == {
        refused: "connection refused or failed",
        timing_out: "timed out",
        hangs_up: "connection refused or failed",
        erring: "HTTP 500",  # not the answer's body ("nope")
        unknown: "DNS lookup failed",
    }
    # The details are ours, at debug level.
    details = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    assert "ConnectError" in details and "could not be found" in details
