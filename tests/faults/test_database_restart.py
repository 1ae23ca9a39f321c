"""PostgreSQL stopped and started again while 16 clients spend through the credits API:
while it is down every request gets a clear 503 within seconds (never a crash, never a
hang), nothing is half-written, the server recovers by itself when the database is back,
and every spend is in the ledger exactly once after clients retry with their keys."""

import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from credit_app import credits, migrations
from credit_app.db import make_engine, read_scope
from credit_app.models import LedgerEntry
from tests.factories import make_user
from tests.integration.api_server import serve_api

pytestmark = pytest.mark.postgres

CLIENTS = 16
START = 100_000
# A person (or a client library) must hear back within this long, database or not.
ANSWER_WITHIN_SECONDS = 10.0


@dataclass
class Outcomes:
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Idempotency-Key -> (status, error code, seconds) of each attempt; 0: no HTTP answer.
    attempts: dict[str, list[tuple[int, str, float]]] = field(default_factory=dict)

    def add(self, key: str, status: int, code: str, seconds: float) -> None:
        with self.lock:
            self.attempts.setdefault(key, []).append((status, code, seconds))

    def count(self, status: int) -> int:
        with self.lock:
            return sum(s == status for tries in self.attempts.values() for s, _, _ in tries)


def _spend(http: httpx.Client, key: str, outcomes: Outcomes) -> int:
    started = time.monotonic()
    try:
        response = http.post(
            "/spend",
            json={"amount": 1, "feature": "qr"},
            headers={"Idempotency-Key": key},
            timeout=30,
        )
        status = response.status_code
        code = response.json().get("error", {}).get("code", "") if status != 200 else ""
        if status == 503:
            assert response.headers["Retry-After"].isdigit()
    except httpx.HTTPError as exc:
        status, code = 0, repr(exc)
    outcomes.add(key, status, code, time.monotonic() - started)
    return status


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_database_restart_mid_load_loses_and_doubles_nothing(private_postgres):
    url = private_postgres.new_database()
    migrations.upgrade(url)
    engine = make_engine(url)
    users = [make_user(engine, initial_credits=START) for _ in range(CLIENTS)]
    outcomes = Outcomes()
    stop = threading.Event()
    keys_of: dict[uuid.UUID, list[str]] = {user: [] for user in users}

    with serve_api(url, api_rate_limit="1000000/minute") as server:
        api_keys = [server.issue_key(user) for user in users]

        def client(index: int) -> None:
            with server.client(api_keys[index]) as http:
                while not stop.is_set():
                    key = f"{index}-{uuid.uuid4().hex}"
                    keys_of[users[index]].append(key)
                    if _spend(http, key, outcomes) != 200:
                        time.sleep(0.05)  # a client backing off after an error

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            _wait_for(lambda: outcomes.count(200) >= 100, 60, "spends before the restart")
            private_postgres.stop("fast")
            _wait_for(lambda: outcomes.count(503) >= 20, 60, "refusals while it is down")
            before_restart = outcomes.count(200)
            private_postgres.start()
            # The server recovers by itself: no restart, no operator.
            _wait_for(lambda: outcomes.count(200) >= before_restart + 100, 60, "recovery")
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)

        answers = [attempt for tries in outcomes.attempts.values() for attempt in tries]
        assert {status for status, _, _ in answers} <= {200, 503}, [
            a for a in answers if a[0] not in (200, 503)
        ][:5]
        assert {code for status, code, _ in answers if status == 503} == {"service_unavailable"}
        assert max(seconds for _, _, seconds in answers) < ANSWER_WITHIN_SECONDS

        # Clients retry what was not answered 200, with the same keys: each is charged once.
        for index, user in enumerate(users):
            with server.client(api_keys[index]) as http:
                for key in keys_of[user]:
                    if outcomes.attempts[key][-1][0] != 200:
                        assert _spend(http, key, outcomes) == 200

    with read_scope(engine) as session:
        for user in users:
            entries = session.query(LedgerEntry).filter_by(user_id=user, kind="spend").count()
            assert entries == len(keys_of[user]), "a spend lost or made twice"
            assert credits.balance(session, user_id=user) == START - len(keys_of[user])
        assert credits.find_drift(session) == []
        assert credits.find_lot_drift(session) == []
    engine.dispose()
