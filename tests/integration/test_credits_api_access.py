"""Who may do what through the credits API, over real HTTP on SQLite and PostgreSQL: a
read key never spends, a user's key never reads or spends another's credits (nor learns
their holds exist), a service key acts for the account it names, revoked and expired keys
stop at once, an account that must verify its address first cannot spend, and every key
has its own rate limit (429 with Retry-After), as does a client that keeps failing."""

import os
from datetime import timedelta

import limits
import pytest
import redis

from credit_app import credits
from credit_app.accounts import deletion
from credit_app.api.v1.limits import FAILED_AUTH_LIMIT
from credit_app.auth import api_keys, email_tokens, verification
from credit_app.db import read_scope, session_scope
from credit_app.models import ApiKey, Hold, User, utcnow
from tests.factories import make_user
from tests.integration.api_server import serve_api

FAILURES_ALLOWED = limits.parse(FAILED_AUTH_LIMIT).amount


@pytest.fixture
def server(database_url):
    with serve_api(database_url) as running:
        yield running


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def _spend(client, key, **body):
    return client.post("/spend", json={"feature": "chat", **body}, headers={"Idempotency-Key": key})


def _hold(client, key, **body):
    return client.post("/holds", json={"feature": "chat", **body}, headers={"Idempotency-Key": key})


def test_a_read_key_reads_and_never_moves_credits(server):
    user = make_user(server.engine, initial_credits=100)
    with server.client(server.issue_key(user)) as spender:
        hold = _hold(spender, "h", amount=10).json()
    with server.client(server.issue_key(user, scope="read")) as client:
        assert client.get("/balance").status_code == 200
        assert client.get("/ledger").status_code == 200
        assert _error(_spend(client, "s", amount=1)) == (403, "forbidden")
        assert _error(_hold(client, "h2", amount=1)) == (403, "forbidden")
        assert _error(client.post(f"/holds/{hold['hold_id']}/capture", json={})) == (
            403,
            "forbidden",
        )
        assert _error(client.post(f"/holds/{hold['hold_id']}/release")) == (403, "forbidden")
    assert server.balance(user) == 100


def test_a_users_key_never_acts_for_another_account(server):
    alice = make_user(server.engine, initial_credits=100)
    bob = make_user(server.engine, initial_credits=100)
    with server.client(server.issue_key(bob)) as bobs:
        bobs_hold = _hold(bobs, "h", amount=10).json()["hold_id"]
    with server.client(server.issue_key(alice)) as client:
        theirs = {"user_id": str(bob)}
        assert _error(client.get("/balance", params=theirs)) == (403, "forbidden")
        assert _error(client.get("/ledger", params=theirs)) == (403, "forbidden")
        assert _error(_spend(client, "s", amount=5, **theirs)) == (403, "forbidden")
        assert _error(_hold(client, "h", amount=5, **theirs)) == (403, "forbidden")
        # Bob's hold is not there for Alice: the same 404 as a hold that never was.
        for path in (f"/holds/{bobs_hold}/capture", f"/holds/{bobs_hold}/release"):
            refused = client.post(path, json={})
            assert _error(refused) == (404, "not_found")
            assert (
                refused.json()
                == client.post(path.replace(str(bobs_hold), "999999"), json={}).json()
            )
            assert _error(client.post(path, json=theirs)) == (403, "forbidden")
    assert (server.balance(alice), server.balance(bob)) == (100, 100)
    with read_scope(server.engine) as session:
        assert session.get(Hold, bobs_hold).status == "active"


def test_a_service_key_acts_for_the_account_it_names(server):
    user = make_user(server.engine, initial_credits=100)
    other = make_user(server.engine, initial_credits=100)
    with server.client(server.issue_key(None)) as client:
        assert _error(client.get("/balance")) == (400, "invalid_request")
        assert client.get("/balance").json()["error"]["param"] == "user_id"
        assert _error(_spend(client, "s-0", amount=5)) == (400, "invalid_request")

        spent = _spend(client, "s-1", amount=5, user_id=str(user))
        assert spent.status_code == 200 and spent.json()["user_id"] == str(user)
        assert client.get("/balance", params={"user_id": str(user)}).json()["available"] == 95
        # The service's keys are one key space: s-1 for another account is another request.
        assert _error(_spend(client, "s-1", amount=5, user_id=str(other))) == (
            409,
            "idempotency_conflict",
        )
        hold = _hold(client, "h-1", amount=10, user_id=str(user)).json()["hold_id"]
        # A hold is captured for the account it belongs to, and no other.
        capture = f"/holds/{hold}/capture"
        assert _error(client.post(capture, json={"user_id": str(other)})) == (404, "not_found")
        assert client.post(capture, json={"user_id": str(user)}).json()["captured"] == 10

        nobody = "00000000-0000-4000-8000-000000000000"
        assert _error(client.get("/balance", params={"user_id": nobody})) == (404, "not_found")
        assert _error(_spend(client, "s-2", amount=1, user_id=nobody)) == (404, "not_found")
        assert _error(_spend(client, "s-3", amount=1, user_id="not-a-uuid")) == (
            400,
            "invalid_request",
        )
        with session_scope(server.engine) as session:
            deletion.erase_account(session, other, utcnow())
        assert _error(client.get("/ledger", params={"user_id": str(other)})) == (404, "not_found")
        assert _error(_spend(client, "s-4", amount=1, user_id=str(other))) == (404, "not_found")
    assert server.balance(user) == 85


def test_a_revoked_key_is_refused_on_its_next_request(server):
    user = make_user(server.engine)
    raw = server.issue_key(user)
    with server.client(raw) as client:
        assert client.get("/balance").status_code == 200
        with session_scope(server.engine) as session:
            key_id = session.query(ApiKey).one().id
            api_keys.revoke(session, key_id=key_id, owner=user, now=utcnow(), any_owner=False)
        refused = client.get("/balance")
        assert _error(refused) == (401, "unauthorized")
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert _error(_spend(client, "s", amount=1)) == (401, "unauthorized")
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer cak_"}):
        with server.client(headers=headers) as anonymous:
            assert _error(anonymous.get("/balance")) == (401, "unauthorized")


def test_an_expired_key_is_refused(database_url):
    # The server's clock runs an hour ahead: a key that expires in ten minutes is past it.
    with serve_api(database_url, clock_offset_seconds=3600) as server:
        user = make_user(server.engine)
        soon = server.issue_key(user, expires_at=utcnow() + timedelta(minutes=10))
        later = server.issue_key(user, expires_at=utcnow() + timedelta(hours=2))
        with server.client(soon) as client:
            assert _error(client.get("/balance")) == (401, "unauthorized")
        with server.client(later) as client:
            assert client.get("/balance").status_code == 200


def test_spending_waits_for_a_verified_address_when_the_app_requires_it(database_url):
    with serve_api(database_url, require_verified_email=True) as server:
        user = make_user(server.engine, initial_credits=100)
        with server.client(server.issue_key(user)) as client:
            assert client.get("/balance").status_code == 200
            assert _error(_spend(client, "s", amount=1)) == (403, "forbidden")
            assert _error(_hold(client, "h", amount=1)) == (403, "forbidden")
            # Refusals of the caller are not stored: once verified, the same key works.
            with session_scope(server.engine) as session:
                email = session.get(User, user).email
                token = email_tokens.issue(
                    session, user_id=user, purpose=verification.PURPOSE, new_email=email
                )
                assert verification.confirm_address(session, token)
            assert _spend(client, "s", amount=1).status_code == 200


def test_each_key_has_its_own_rate_limit(database_url):
    with serve_api(database_url, api_rate_limit="3/minute") as server:
        user = make_user(server.engine, initial_credits=100)
        with server.client(server.issue_key(user)) as client:
            assert [client.get("/balance").status_code for _ in range(3)] == [200] * 3
            limited = _spend(client, "s", amount=1)
            assert _error(limited) == (429, "rate_limited")
            wait = int(limited.headers["Retry-After"])
            assert 1 <= wait <= 60 and limited.json()["error"]["retry_after"] == wait
        with server.client(server.issue_key(user)) as another:
            assert another.get("/balance").status_code == 200
        assert server.balance(user) == 100


def test_a_client_that_keeps_failing_to_authenticate_is_held_off(server):
    user = make_user(server.engine)
    good = server.issue_key(user)
    with server.client("cak_" + "x" * 40) as guessing:
        statuses = [guessing.get("/balance").status_code for _ in range(FAILURES_ALLOWED)]
        assert statuses == [401] * FAILURES_ALLOWED
        # The budget is a sliding-window estimate: requests that straddle a minute's end
        # may earn a few more tries, never many.
        more = [guessing.get("/balance").status_code for _ in range(10)]
    assert more[-1] == 429 and set(more) <= {401, 429}
    with server.client("cak_" + "y" * 40) as guessing_again:
        refused = guessing_again.get("/balance")
    assert _error(refused) == (429, "rate_limited") and int(refused.headers["Retry-After"]) >= 1
    # A valid key from the same address (a proxy, a shared NAT) is never held off by it.
    with server.client(good) as client:
        assert client.get("/balance").status_code == 200


def test_behind_trusted_proxies_the_forwarded_address_is_the_one_held_off(database_url):
    """With TRUSTED_PROXY_HOPS=1, the address the proxy saw (the last X-Forwarded-For
    entry) is the one counted; what a client writes further left changes nothing."""
    with serve_api(database_url, trusted_proxy_hops=1) as server:
        guesser = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
        other = {"X-Forwarded-For": "198.51.100.7, 203.0.113.10"}
        with server.client("cak_" + "x" * 40) as guessing:
            for _ in range(FAILURES_ALLOWED + 10):
                last = guessing.get("/balance", headers=guesser)
            assert last.status_code == 429
            assert guessing.get("/balance", headers=other).status_code == 401


def test_workers_sharing_redis_share_each_keys_budget(database_url):
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI but unreachable: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    # Several workers need real Stripe (the embedded sandbox is one process's): test keys,
    # never contacted here.
    shared = {
        "redis_url": redis_url,
        "api_rate_limit": "4/minute",
        "payments": "stripe",
        "stripe_secret_key": "sk_test_" + "0" * 24,
        "stripe_webhook_secret": "whsec_" + "0" * 24,
        "stripe_api_base": "http://127.0.0.1:9",
    }
    with serve_api(database_url, **shared) as one, serve_api(database_url, **shared) as two:
        key = one.issue_key(make_user(one.engine))
        with one.client(key) as first, two.client(key) as second:
            answers = [client.get("/balance").status_code for client in (first, second) * 2]
            assert answers == [200] * 4
            assert _error(second.get("/balance")) == (429, "rate_limited")
            assert _error(first.get("/balance")) == (429, "rate_limited")


def test_the_api_settles_only_holds_its_own_keys_made(server):
    """A hold a premium tool holds while it runs (or one a service key made) is not the
    user key's to capture: captured early for 1 credit, the tool's own capture of its
    price would otherwise have been taken for a replay of it (the 10-credit report for 1).
    The ledger refuses that replay too: a second capture for another amount."""
    user = make_user(server.engine, initial_credits=100)
    with session_scope(server.engine) as session:
        tools_hold = credits.reserve(
            session, user_id=user, amount=10, idempotency_key="tool:report:1", feature="report"
        ).hold_id
    with server.client(server.issue_key(None)) as service:
        service_hold = _hold(service, "svc-1", amount=5, user_id=str(user)).json()["hold_id"]
    with server.client(server.issue_key(user)) as mine:
        for hold_id in (tools_hold, service_hold):
            capture = mine.post(f"/holds/{hold_id}/capture", json={"amount": 1})
            release = mine.post(f"/holds/{hold_id}/release")
            assert _error(capture) == _error(release) == (404, "not_found")
    with session_scope(server.engine) as session:
        first = credits.capture(
            session, user_id=user, hold_id=tools_hold, amount=1, description="early"
        )
        assert (first.captured, first.replayed) == (1, False)
    with pytest.raises(credits.HoldNotActive), session_scope(server.engine) as session:
        credits.capture(session, user_id=user, hold_id=tools_hold, amount=10, description="x")
    with session_scope(server.engine) as session:
        again = credits.capture(
            session, user_id=user, hold_id=tools_hold, amount=1, description="early"
        )
        assert again.replayed
        assert credits.balance(session, user_id=user) == 99
