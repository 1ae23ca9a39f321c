"""The credits API (/api/v1) over real HTTP on SQLite and PostgreSQL: idempotent spends
(20 concurrent repeats charge once and get one answer), 409 for another body under a key,
402 with its numbers (and replayed as 402), holds captured in part or released, the
balance by lot, the ledger paged by cursor, open tabs told of changes, and the ledger's
invariants holding after all of it."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from credit_app import credits
from credit_app.credits import limits
from credit_app.db import read_scope, session_scope
from credit_app.models import ApiRequest, EntryKind, Hold, LedgerEntry, utcnow
from tests.factories import make_user
from tests.integration.api_server import ApiServer, serve_api


@pytest.fixture
def server(database_url):
    with serve_api(database_url) as running:
        yield running


def _spend(client: httpx.Client, key: str, **body) -> httpx.Response:
    return client.post("/spend", json=body, headers={"Idempotency-Key": key})


def _entries(server: ApiServer, user_id: uuid.UUID, kind: EntryKind) -> list[LedgerEntry]:
    with read_scope(server.engine) as session:
        return list(
            session.scalars(
                select(LedgerEntry).where(
                    col(LedgerEntry.user_id) == user_id, col(LedgerEntry.kind) == kind
                )
            )
        )


def _assert_invariants(server: ApiServer) -> None:
    with read_scope(server.engine) as session:
        assert credits.find_drift(session) == []
        assert credits.find_hold_drift(session) == []
        assert credits.find_lot_drift(session) == []


def test_twenty_concurrent_identical_spends_charge_once_and_answer_alike(server):
    user = make_user(server.engine, initial_credits=100)
    key = server.issue_key(user)
    start = threading.Barrier(20)

    def one_request(_: int) -> httpx.Response:
        with server.client(key) as client:
            start.wait()
            return _spend(client, "order-1138", amount=30, feature="image.generate")

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(one_request, range(20)))

    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    first = [r for r in responses if r.headers.get("Idempotent-Replayed") != "true"]
    assert len(first) == 1  # one request ran; 19 got its stored answer
    body = responses[0].json()
    assert body["amount"] == 30 and body["balance"] == 70 and body["available"] == 70
    assert body["user_id"] == str(user)
    (spend,) = _entries(server, user, EntryKind.SPEND)
    assert (spend.id, spend.delta, spend.feature) == (body["entry_id"], -30, "image.generate")
    assert server.balance(user) == 70
    with read_scope(server.engine) as session:
        assert session.scalar(select(func.count(col(ApiRequest.id)))) == 1
    assert server.pushed == [str(user)]  # one change, one refresh of the open tabs
    _assert_invariants(server)


def test_twenty_concurrent_identical_holds_reserve_once(server):
    user = make_user(server.engine, initial_credits=100)
    key = server.issue_key(user)
    start = threading.Barrier(20)

    def one_request(_: int) -> httpx.Response:
        with server.client(key) as client:
            start.wait()
            return client.post(
                "/holds",
                json={"amount": 60, "feature": "video"},
                headers={"Idempotency-Key": "render-7"},
            )

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(one_request, range(20)))

    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    hold = responses[0].json()
    assert (hold["amount"], hold["available"]) == (60, 40)
    with read_scope(server.engine) as session:
        assert credits.available(session, user_id=user) == 40
        assert session.scalar(select(func.count(col(Hold.id)))) == 1
    _assert_invariants(server)


def test_concurrent_different_bodies_under_one_key_charge_once(server):
    user = make_user(server.engine, initial_credits=100)
    key = server.issue_key(user)
    start = threading.Barrier(20)

    def one_request(n: int) -> httpx.Response:
        with server.client(key) as client:
            start.wait()
            return _spend(client, "order-2", amount=5 + n % 2, feature="chat")

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(one_request, range(20)))

    winners = [r for r in responses if r.status_code == 200]
    assert sorted(r.status_code for r in responses) == [200] * 10 + [409] * 10
    assert len({r.content for r in winners}) == 1
    (spend,) = _entries(server, user, EntryKind.SPEND)
    assert -spend.delta == winners[0].json()["amount"]
    assert server.balance(user) == 100 + spend.delta
    _assert_invariants(server)


def test_the_same_key_with_another_body_is_a_conflict_and_changes_nothing(server):
    user = make_user(server.engine, initial_credits=100)
    with server.client(server.issue_key(user)) as client:
        assert _spend(client, "k-1", amount=5, feature="chat").status_code == 200
        for body in (
            {"amount": 6, "feature": "chat"},
            {"amount": 5, "feature": "chat", "description": "another"},
            {"amount": 5, "feature": "search"},
        ):
            refused = _spend(client, "k-1", **body)
            assert refused.status_code == 409
            assert refused.json()["error"]["code"] == "idempotency_conflict"
        held = client.post(
            "/holds", json={"amount": 5, "feature": "chat"}, headers={"Idempotency-Key": "k-1"}
        )
        assert held.status_code == 409
        # Naming one's own account is the same request as naming none.
        again = _spend(client, "k-1", amount=5, feature="chat", user_id=str(user))
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert server.balance(user) == 95
    assert len(_entries(server, user, EntryKind.SPEND)) == 1


def test_insufficient_credits_is_402_with_numbers_and_replayed_as_402(server):
    user = make_user(server.engine, initial_credits=10)
    with server.client(server.issue_key(user)) as client:
        refused = _spend(client, "big-1", amount=50, feature="render")
        assert refused.status_code == 402
        assert refused.json() == {
            "error": {
                "code": "insufficient_credits",
                "message": "Needs 50 credits; 10 available.",
                "required": 50,
                "available": 10,
            }
        }
        with session_scope(server.engine) as session:
            credits.grant(
                session, user_id=user, amount=100, idempotency_key="admin:t", source="admin"
            )
        # The stored answer stands, though the credits are there now ...
        replay = _spend(client, "big-1", amount=50, feature="render")
        assert (replay.status_code, replay.content) == (402, refused.content)
        assert replay.headers["Idempotent-Replayed"] == "true"
        # ... and a new key is a new request.
        assert _spend(client, "big-2", amount=50, feature="render").status_code == 200
    assert server.balance(user) == 60
    _assert_invariants(server)


def test_the_monthly_spending_limit_is_402_spending_limit(server):
    user = make_user(server.engine, initial_credits=100)
    with session_scope(server.engine) as session:
        limits.set_spend_limit(session, user_id=user, limit=10, now=utcnow())
    with server.client(server.issue_key(user)) as client:
        assert _spend(client, "l-1", amount=4, feature="chat").status_code == 200
        refused = _spend(client, "l-2", amount=7, feature="chat")
        held = client.post(
            "/holds", json={"amount": 7, "feature": "chat"}, headers={"Idempotency-Key": "l-3"}
        )
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "spending_limit"
    assert (error["required"], error["available"], error["limit"], error["used"]) == (7, 6, 10, 4)
    assert held.status_code == 402 and held.json()["error"]["code"] == "spending_limit"
    assert server.balance(user) == 96


def test_a_hold_captured_in_part_gives_the_rest_back(server):
    user = make_user(server.engine, initial_credits=100)
    with server.client(server.issue_key(user)) as client:
        made = client.post(
            "/holds", json={"amount": 30, "feature": "video"}, headers={"Idempotency-Key": "h-1"}
        )
        assert made.status_code == 201
        hold = made.json()
        assert (hold["amount"], hold["available"], hold["user_id"]) == (30, 70, str(user))
        assert hold["expires_at"]
        again = client.post(
            "/holds", json={"amount": 30, "feature": "video"}, headers={"Idempotency-Key": "h-1"}
        )
        assert (again.status_code, again.content) == (201, made.content)
        balance = client.get("/balance").json()
        assert (balance["balance"], balance["held"], balance["available"]) == (100, 30, 70)
        # No spend can use the held credits meanwhile.
        assert _spend(client, "s-1", amount=71, feature="chat").status_code == 402

        too_much = client.post(f"/holds/{hold['hold_id']}/capture", json={"amount": 31})
        assert too_much.status_code == 400
        assert too_much.json()["error"] | {"message": ""} == {
            "code": "invalid_request",
            "message": "",
            "param": "amount",
            "held": 30,
        }
        captured = client.post(
            f"/holds/{hold['hold_id']}/capture", json={"amount": 12, "description": "3 min"}
        )
        assert captured.status_code == 200
        done = captured.json()
        assert (done["captured"], done["released"], done["balance"], done["available"]) == (
            12,
            18,
            88,
            88,
        )
        # A retry of the capture answers as it did; another amount is refused.
        retry = client.post(
            f"/holds/{hold['hold_id']}/capture", json={"amount": 12, "description": "3 min"}
        )
        assert (retry.status_code, retry.json()) == (200, done)
        other = client.post(f"/holds/{hold['hold_id']}/capture", json={"amount": 5})
        assert other.status_code == 409
        assert other.json()["error"] == {
            "code": "hold_not_active",
            "message": "The hold is captured.",
            "status": "captured",
        }
        assert client.post(f"/holds/{hold['hold_id']}/release").status_code == 409
    (capture,) = _entries(server, user, EntryKind.CAPTURE)
    assert (capture.id, capture.delta, capture.description) == (done["entry_id"], -12, "3 min")
    assert server.balance(user) == 88
    _assert_invariants(server)


def test_a_released_hold_spends_nothing_and_a_released_hold_cannot_be_captured(server):
    user = make_user(server.engine, initial_credits=100)
    with server.client(server.issue_key(user)) as client:
        hold = client.post(
            "/holds", json={"amount": 40, "feature": "video"}, headers={"Idempotency-Key": "h-2"}
        ).json()
        released = client.post(
            f"/holds/{hold['hold_id']}/release", headers={"Idempotency-Key": "r-1"}
        )
        assert released.status_code == 200
        assert released.json() == {
            "hold_id": hold["hold_id"],
            "user_id": str(user),
            "status": "released",
            "released": 40,
            "available": 100,
        }
        stored = client.post(
            f"/holds/{hold['hold_id']}/release", headers={"Idempotency-Key": "r-1"}
        )
        assert (
            stored.headers["Idempotent-Replayed"] == "true" and stored.content == released.content
        )
        assert client.post(f"/holds/{hold['hold_id']}/release").status_code == 200
        refused = client.post(f"/holds/{hold['hold_id']}/capture", json={})
        assert refused.status_code == 409 and refused.json()["error"]["status"] == "released"
        whole = client.post(
            "/holds", json={"amount": 25, "feature": "video"}, headers={"Idempotency-Key": "h-3"}
        ).json()
        captured = client.post(f"/holds/{whole['hold_id']}/capture", json={}).json()
        assert (captured["captured"], captured["released"], captured["balance"]) == (25, 0, 75)
    assert server.balance(user) == 75
    _assert_invariants(server)


def test_the_balance_by_lot(server):
    user = make_user(server.engine, initial_credits=100)
    with session_scope(server.engine) as session:
        credits.grant(
            session, user_id=user, amount=500, idempotency_key="admin:pack", source="pack"
        )
    with server.client(server.issue_key(user, scope="read")) as client:
        balance = client.get("/balance").json()
    assert (balance["user_id"], balance["balance"], balance["held"], balance["available"]) == (
        str(user),
        600,
        0,
        600,
    )
    # Welcome credits expire, so they are spent first; pack credits never expire.
    assert [(lot["source"], lot["remaining"]) for lot in balance["lots"]] == [
        ("signup", 100),
        ("pack", 500),
    ]
    assert balance["lots"][0]["expires_at"] is not None
    assert balance["lots"][1]["expires_at"] is None


def test_the_ledger_pages_by_cursor_every_entry_once_with_usage_filters(server):
    user = make_user(server.engine, initial_credits=100)
    with session_scope(server.engine) as session:
        for n in range(7):
            credits.spend(
                session,
                user_id=user,
                amount=1,
                idempotency_key=f"t-{n}",
                feature="qr" if n % 2 else "keywords",
            )
    with read_scope(server.engine) as session:
        expected = [e.id for e in credits.recent_entries(session, user_id=user, limit=100)]
    assert len(expected) == 8
    seen: list[int] = []
    with server.client(server.issue_key(user, scope="read")) as client:
        cursor = None
        while True:
            params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = client.get("/ledger", params=params).json()
            assert len(page["entries"]) <= 3
            seen += [entry["id"] for entry in page["entries"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected  # newest first, each once

        grants = client.get("/ledger", params={"kind": "grant"}).json()["entries"]
        assert [(e["kind"], e["delta"], e["feature"]) for e in grants] == [("grant", 100, None)]
        used = client.get("/ledger", params=[("kind", "spend"), ("kind", "capture")]).json()
        assert len(used["entries"]) == 7
        qr = client.get("/ledger", params={"feature": "qr", "limit": 2}).json()
        assert [e["feature"] for e in qr["entries"]] == ["qr", "qr"]
        rest = client.get("/ledger", params={"feature": "qr", "cursor": qr["next_cursor"]})
        assert [e["feature"] for e in rest.json()["entries"]] == ["qr"]
        assert rest.json()["next_cursor"] is None

        for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "bm90LWEtY3Vyc29y"}, {"kind": "x"}):
            refused = client.get("/ledger", params=bad)
            assert refused.status_code == 400, bad
            assert refused.json()["error"]["param"] == next(iter(bad))


def test_an_api_spend_tells_the_open_tabs_and_a_replay_does_not(server):
    user = make_user(server.engine, initial_credits=100)
    with server.client(server.issue_key(user)) as client:
        _spend(client, "p-1", amount=1, feature="chat")
        _spend(client, "p-1", amount=1, feature="chat")
        _spend(client, "p-2", amount=1000, feature="chat")  # refused: nothing changed
        client.get("/balance")
    assert server.pushed == [str(user)]
