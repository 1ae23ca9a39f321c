"""Outgoing webhooks on SQLite and PostgreSQL, over real HTTP to a receiver in the test:
signed deliveries that verify with the README's snippet, retries with growing back-off
until a receiver answers (processed once, by the documented dedupe), the outbox surviving
a process killed after its commit, the SSRF guard (when added and again when sent), no
redirects followed, the ledger's events queued with the change (and not on rollback),
one send per delivery with two deliverers at once, resend and remove (audited, never on
another's), and the operator's commands."""

import asyncio
import itertools
import json
import os
import ssl
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlmodel import Session

from credit_app import cli, clock, credits, outbound, settings
from credit_app.accounts import deletion
from credit_app.admin import audit
from credit_app.credits import LotTerms
from credit_app.credits_api import webhooks
from credit_app.db import read_scope, session_scope
from credit_app.models import (
    AuditEntry,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from credit_app.outbound import delivery
from tests.async_run import run
from tests.factories import make_user
from tests.integration.webhook_receiver import Received, Receiver
from tests.integration.webhook_receiver_snippet import handle_webhook, verify_signature

ALL = list(outbound.EVENT_TYPES)


@pytest.fixture
def private_targets(monkeypatch):
    """Sets WEBHOOKS_ALLOW_PRIVATE (the settings are read again); unset afterwards."""

    def allow(allowed: bool) -> None:
        monkeypatch.setenv("WEBHOOKS_ALLOW_PRIVATE", "true" if allowed else "false")
        settings.get_settings.cache_clear()

    yield allow
    monkeypatch.delenv("WEBHOOKS_ALLOW_PRIVATE", raising=False)
    settings.get_settings.cache_clear()


@pytest.fixture
def private_allowed(private_targets):
    """A development machine: the receiver runs on 127.0.0.1."""
    private_targets(True)


def _add(engine, owner, url, events=ALL, *, threshold=None, actor=None) -> outbound.AddedEndpoint:
    return run(
        webhooks.add_endpoint(
            owner,
            actor=actor or audit.Actor.user(owner),
            url=url,
            events=events,
            low_balance_threshold=threshold,
            engine=engine,
        )
    )


def _grant(engine, user, amount=10, key=None, **kwargs) -> credits.LedgerResult:
    with session_scope(engine) as session:
        return credits.grant(
            session,
            user_id=user,
            amount=amount,
            idempotency_key=key or f"t:{uuid.uuid4().hex}",
            source="promo",
            **kwargs,
        )


def _spend(engine, user, amount, key=None) -> credits.LedgerResult:
    with session_scope(engine) as session:
        return credits.spend(
            session,
            user_id=user,
            amount=amount,
            idempotency_key=key or f"s:{uuid.uuid4().hex}",
            feature="qr",
        )


def _deliveries(engine) -> list[WebhookDelivery]:
    with read_scope(engine) as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _deliver(engine, now=None, client=None) -> int:
    return run(outbound.deliver_due(engine=engine, now=now, client=client))


def _audit(engine, action: str) -> list[AuditEntry]:
    with read_scope(engine) as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


# --- signing, retries, the outbox ------------------------------------------------------


def test_a_delivery_is_signed_and_verifies_with_the_documented_snippet(engine, private_allowed):
    user = make_user(engine)
    with Receiver() as receiver:
        # By name: the request is pinned to the checked address, the name kept in Host.
        added = _add(engine, user, receiver.url(host="localhost"), ["credits.granted"])
        assert added.secret.startswith("whsec_") and len(added.secret) > 40
        granted = _grant(engine, user, 25, description="Welcome back")
        assert _deliver(engine) == 1
        assert _deliver(engine) == 0, "nothing is sent twice"

    (request,) = receiver.requests
    assert request.path == "/hook"
    assert request.headers["Host"] == f"localhost:{receiver.port}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "CreditApp-Webhooks/1"
    signature = request.headers["Credit-App-Signature"]
    assert verify_signature(added.secret, request.body, signature)
    assert not verify_signature("whsec_" + "x" * 43, request.body, signature)
    assert not verify_signature(added.secret, request.body + b" ", signature)
    assert not verify_signature(added.secret, request.body, "t=1,v1=00")
    assert outbound.signing.verify(added.secret, request.body, signature)

    event = json.loads(request.body)
    assert set(event) == {"id", "type", "created", "user_id", "data"}
    assert event["id"] == request.headers["Credit-App-Event-Id"]
    assert event["id"].startswith("evt_") and len(event["id"]) == 36
    assert (event["type"], event["user_id"]) == ("credits.granted", str(user))
    assert event["created"] == int(granted.created_at.timestamp())
    assert event["data"] == {
        "entry_id": granted.entry_id,
        "kind": "grant",
        "amount": 25,
        "delta": 25,
        "balance_after": 125,
        "feature": None,
        "description": "Welcome back",
    }
    # Sent byte for byte as queued (compact, sorted keys).
    (row,) = _deliveries(engine)
    assert request.body == row.payload.encode()
    assert row.payload == json.dumps(event, separators=(",", ":"), sort_keys=True)

    page = run(webhooks.deliveries_of(user, engine=engine))
    (shown,) = page.deliveries
    assert (shown.status, shown.attempts, shown.event_id) == ("delivered", 1, event["id"])
    assert shown.delivered_at is not None and shown.next_attempt_at is None
    assert [a.status_code for a in shown.last_attempts] == [200]
    assert page.next_before_id is None


def test_a_receiver_failing_twice_gets_the_event_processed_once(engine, private_allowed):
    user = make_user(engine)
    processed: list[dict] = []
    seen: set[str] = set()
    added: outbound.AddedEndpoint

    def respond(request: Received) -> tuple[int, dict[str, str]]:
        # The receiver processes each delivery (the documented pattern), but its first
        # two answers are lost as 500s (it crashed after committing, say).
        status = handle_webhook(added.secret, request.body, request.headers, seen, processed.append)
        return (500 if len(receiver.requests) <= 2 else status), {}

    with Receiver(respond=respond) as receiver:
        added = _add(engine, user, receiver.url(), ["credits.spent"])
        _spend(engine, user, 5)
        start = clock.now()
        assert _deliver(engine, now=start) == 1
        (row,) = _deliveries(engine)
        first_delay = row.next_attempt_at - start
        assert row.status == "pending" and row.attempts == 1
        assert timedelta(seconds=27) <= first_delay <= timedelta(seconds=33)
        # Not due before its back-off ends...
        assert _deliver(engine, now=row.next_attempt_at - timedelta(seconds=1)) == 0
        # ...and due when it has.
        second = row.next_attempt_at
        assert _deliver(engine, now=second) == 1
        (row,) = _deliveries(engine)
        second_delay = row.next_attempt_at - second
        assert timedelta(seconds=54) <= second_delay <= timedelta(seconds=66)
        assert second_delay > first_delay
        assert _deliver(engine, now=row.next_attempt_at) == 1
        assert _deliver(engine, now=row.next_attempt_at + timedelta(days=1)) == 0

    assert len(receiver.requests) == 3
    assert len({r.headers["Credit-App-Event-Id"] for r in receiver.requests}) == 1
    assert [e["type"] for e in processed] == ["credits.spent"], "processed once"
    (row,) = _deliveries(engine)
    assert (row.status, row.attempts) == ("delivered", 3)
    (shown,) = run(webhooks.deliveries_of(user, engine=engine)).deliveries
    assert [a.status_code for a in shown.last_attempts] == [200, 500, 500]
    # The status only, not the answer's body (the receiver's "nope").
    assert shown.last_attempts[1].error == "HTTP 500"


def test_retries_end_after_three_days(engine, private_allowed):
    user = make_user(engine)
    with Receiver(respond=lambda _r: (503, {})) as receiver:
        _add(engine, user, receiver.url(), ["credits.granted"])
        _grant(engine, user)
        (row,) = _deliveries(engine)
        assert row.retry_until - row.created_at == timedelta(days=3)
        now, delays = clock.now(), []
        while True:
            assert _deliver(engine, now=now) == 1
            (row,) = _deliveries(engine)
            if row.status != "pending":
                break
            delays.append(row.next_attempt_at - now)
            now = row.next_attempt_at
    assert row.status == "failed" and row.delivered_at is None
    assert row.attempts == len(receiver.requests) == len(delays) + 1
    # Every try was within the window; the next would have fallen after it.
    assert now <= row.retry_until < now + timedelta(hours=6) * 1.1
    # 30 s doubling, jittered, capped at 6 h: about twenty tries in three days.
    assert 15 <= row.attempts <= 25
    assert all(b > a for a, b in itertools.pairwise(delays[:10])), "doubling up to the cap"
    assert max(delays) <= timedelta(hours=6) * 1.1
    assert _deliver(engine, now=now + timedelta(days=10)) == 0


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys, uuid
    from credit_app import credits
    from credit_app.db import session_scope
    with session_scope() as session:
        credits.grant(session, user_id=uuid.UUID(sys.argv[1]), amount=7,
                      idempotency_key="killed-writer", source="promo")
    # Committed; now die before anything could be sent.
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_the_outbox_survives_a_process_killed_after_its_commit(
    database_url, engine, private_allowed
):
    user = make_user(engine)
    with Receiver() as receiver:
        _add(engine, user, receiver.url(), ["credits.granted"])
        env = {**os.environ, "DATABASE_URL": database_url}
        killed = subprocess.run(
            [sys.executable, "-c", KILLED_WRITER, str(user)], env=env, timeout=60
        )
        assert killed.returncode == -9
        assert receiver.requests == []
        (row,) = _deliveries(engine)
        assert row.status == "pending" and row.attempts == 0
        # The restarted worker sends it, once.
        assert _deliver(engine) == 1
        assert _deliver(engine) == 0
    (request,) = receiver.requests
    event = json.loads(request.body)
    assert (event["type"], event["data"]["amount"]) == ("credits.granted", 7)


# --- the SSRF guard -----------------------------------------------------------------


REFUSED = [
    ("https://127.0.0.1/hook", "not on the public internet"),
    ("https://localhost/hook", "not on the public internet"),
    ("https://10.0.0.1/hook", "not on the public internet"),
    ("https://192.168.1.20/hook", "not on the public internet"),
    ("https://169.254.169.254/latest/meta-data/", "not on the public internet"),
    ("https://[::1]/hook", "not on the public internet"),
    ("https://[::ffff:127.0.0.1]/hook", "not on the public internet"),
    ("https://[fd00::1]/hook", "not on the public internet"),
    ("https://[fe80::1]/hook", "not on the public internet"),
    ("https://0.0.0.0/hook", "not on the public internet"),
    ("https://224.0.0.1/hook", "not on the public internet"),
    ("https://100.64.0.1/hook", "not on the public internet"),
    ("https://2130706433/hook", "not on the public internet"),  # 127.0.0.1 as a number
    ("https://127.1/hook", "not on the public internet"),
    ("http://127.0.0.1/hook", "must start with https://"),
    ("http://93.184.215.14/hook", "must start with https://"),
    ("file:///etc/passwd", "must start with https://"),
    ("ftp://93.184.215.14/hook", "must start with https://"),
    ("gopher://93.184.215.14/", "must start with https://"),
    ("https://user:secret@93.184.215.14/hook", "user name or password"),
    ("https://93.184.215.14@127.0.0.1/hook", "user name or password"),
    ("https://93.184.215.14/hook#frag", "'#...'"),
    ("https://93.184.215.14\\@127.0.0.1/", "may not contain"),
    ("https://93.184.215.14/ hook", "may not contain"),
    ("https:///hook", "needs a host"),
    ("https://bad_host.example/hook", "host name is not valid"),
    ("https://93.184.215.14:0/hook", "port"),
    ("https://93.184.215.14:70000/hook", "port"),
    ("https://93.184.215.14/" + "a" * 2048, "too long"),
    ("", "Enter the URL"),
]


def test_private_and_non_http_targets_are_refused_when_added(engine):
    user = make_user(engine)
    for url, why in REFUSED:
        with pytest.raises(outbound.EndpointRefused) as refused:
            _add(engine, user, url, ["credits.spent"])
        assert why in str(refused.value), (url, str(refused.value))
    # A public address is accepted (nothing is sent when adding).
    public = _add(engine, user, "https://93.184.215.14:8443/hooks?src=credit", ["credits.spent"])
    assert public.info.url == "https://93.184.215.14:8443/hooks?src=credit"
    with read_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 1
    assert len(_audit(engine, audit.Action.WEBHOOK_ADD)) == 1


def test_a_target_that_is_private_when_sent_is_not_sent(engine, private_targets):
    user = make_user(engine)
    with Receiver() as receiver:
        private_targets(True)
        _add(engine, user, receiver.url(), ["credits.granted"])
        # An https endpoint whose name resolves inward (as after a DNS change), written
        # directly: nothing at add time stood in its way.
        with session_scope(engine) as session:
            session.add(
                WebhookEndpoint(
                    user_id=user,
                    url=f"https://localhost:{receiver.port}/rebound",
                    events="credits.granted",
                    secret="whsec_test",
                )
            )
        # The operator turns private targets off.
        private_targets(False)
        _grant(engine, user)
        assert _deliver(engine) == 2
    assert receiver.requests == [], "no request reached the private address"
    assert [r.status for r in _deliveries(engine)] == ["pending", "pending"], "retried later"
    with read_scope(engine) as session:
        errors = sorted(session.scalars(select(WebhookAttempt.error)))
        codes = set(session.scalars(select(WebhookAttempt.status_code)))
    assert codes == {None}
    # Generic: the address the name resolved to is not shown.
    assert errors == [
        "address not allowed",
        "address not allowed: The URL must start with https:// (plain http is only for "
        "local development).",
    ]


def test_redirects_are_not_followed(engine, private_allowed):
    user = make_user(engine)

    def redirect(request: Received) -> tuple[int, dict[str, str]]:
        if request.path == "/hook":
            return 302, {"Location": receiver.url("/elsewhere")}
        return 200, {}

    with Receiver(respond=redirect) as receiver:
        _add(engine, user, receiver.url(), ["credits.granted"])
        _grant(engine, user)
        assert _deliver(engine) == 1
    assert [r.path for r in receiver.requests] == ["/hook"]
    (row,) = _deliveries(engine)
    assert row.status == "pending"
    (shown,) = run(webhooks.deliveries_of(user, engine=engine)).deliveries
    (attempt,) = shown.last_attempts
    assert attempt.status_code == 302
    assert (attempt.error or "").startswith("redirect not followed (HTTP 302)")


@pytest.fixture(scope="module")
def localhost_certificate(tmp_path_factory):
    """A self-signed certificate for the name `localhost` only (no IP address in it)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_is_pinned_to_the_address_and_verified_against_the_name(
    engine, private_allowed, localhost_certificate
):
    """The request connects to the checked address, yet the certificate is checked
    against the endpoint's host name (TLS SNI): valid for `localhost`, refused when the
    URL names the address itself, which the certificate does not cover."""
    cert, key = localhost_certificate
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    user = make_user(engine)
    with Receiver(tls=server) as receiver:
        _add(engine, user, receiver.url(host="localhost"), ["credits.granted"])
        _add(engine, user, receiver.url("/by-address"), ["credits.granted"])
        _grant(engine, user)

        async def deliver() -> int:
            trusting = ssl.create_default_context(cafile=str(cert))
            async with httpx.AsyncClient(verify=trusting, follow_redirects=False) as client:
                return await outbound.deliver_due(engine=engine, client=client)

        assert run(deliver()) == 2
    assert [r.path for r in receiver.requests] == ["/hook"]
    by_name, by_address = _deliveries(engine)
    assert by_name.status == "delivered" and by_address.status == "pending"
    with read_scope(engine) as session:
        error = session.scalar(
            select(WebhookAttempt.error).where(WebhookAttempt.delivery_id == by_address.id)
        )
    assert error == "TLS certificate not valid for the host", "no TLS library's details"


# --- the ledger's events ----------------------------------------------------------------


def _events(engine) -> list[tuple[int, str, str, dict]]:
    return [
        (row.endpoint_id, row.type, row.event_id, json.loads(row.payload))
        for row in _deliveries(engine)
    ]


def test_ledger_changes_queue_their_events_for_subscribed_endpoints(engine, private_allowed):
    ada, bob = make_user(engine), make_user(engine)  # 100 credits each
    url = "http://127.0.0.1:9/hook"
    spent = _add(engine, ada, url, ["credits.spent", "credits.low_balance"], threshold=50).info
    also_spent = _add(engine, ada, url, ["credits.spent"]).info
    granted = _add(engine, ada, url, ["credits.granted", "credits.expired"]).info
    bobs = _add(engine, bob, url, ALL, threshold=1000).info

    # A grant: to Ada's granted endpoint only (not Bob's, not the spend ones).
    grant = _grant(engine, ada, 30, terms=LotTerms(expires_at=utcnow() + timedelta(hours=1)))
    ((endpoint, kind, _, body),) = _events(engine)
    assert (endpoint, kind, body["data"]["entry_id"]) == (
        granted.id,
        "credits.granted",
        grant.entry_id,
    )

    # A spend: one event, the same id for both spend endpoints.
    spend = _spend(engine, ada, 40)  # 130 -> 90
    queued = _events(engine)[1:]
    assert sorted((e, k) for e, k, _, _ in queued) == [
        (spent.id, "credits.spent"),
        (also_spent.id, "credits.spent"),
    ]
    assert queued[0][2] == queued[1][2], "one event id, shared"
    assert queued[0][3]["data"] == {
        "entry_id": spend.entry_id,
        "kind": "spend",
        "amount": 40,
        "delta": -40,
        "balance_after": 90,
        "feature": "qr",
        "description": None,
    }

    # Crossing the threshold (90 -> 45, below 50): spent twice and low_balance once.
    _spend(engine, ada, 45)
    low = [q for q in _events(engine)[3:] if q[1] == "credits.low_balance"]
    ((endpoint, _, _, body),) = low
    assert endpoint == spent.id
    assert body["data"]["balance"] == 45 and body["data"]["threshold"] == 50
    # Already below: no second low_balance.
    _spend(engine, ada, 5)
    assert sum(1 for q in _events(engine) if q[1] == "credits.low_balance") == 1

    # Expiry (the background job's path): to the expired endpoint. The grant took the
    # balance back over 50, so the expiry crosses the threshold again.
    _grant(engine, ada, 20, terms=LotTerms(expires_at=utcnow() + timedelta(hours=1)))
    before = len(_events(engine))
    credits.expire_lots(now=utcnow() + timedelta(hours=2), engine=engine)
    expired = {kind: (endpoint, body) for endpoint, kind, _, body in _events(engine)[before:]}
    assert set(expired) == {"credits.expired", "credits.low_balance"}
    endpoint, body = expired["credits.expired"]
    assert endpoint == granted.id
    assert (body["data"]["kind"], body["data"]["delta"], body["data"]["balance_after"]) == (
        "expire",
        -20,
        40,
    )

    # A change rolled back queues nothing, at its rollback nor at a later commit of the
    # same session (on SQLite the next entry even gets the rolled-back entry's id).
    before = len(_events(engine))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        credits.spend(session, user_id=ada, amount=1, idempotency_key="rolled", feature="qr")
        raise RuntimeError("the request failed after the spend")
    assert len(_events(engine)) == before
    with Session(engine) as session:
        credits.spend(session, user_id=ada, amount=1, idempotency_key="undone", feature="qr")
        session.rollback()
        kept = credits.spend(session, user_id=ada, amount=2, idempotency_key="kept", feature="qr")
        session.commit()
    assert [
        (q[1], q[3]["data"]["entry_id"], q[3]["data"]["amount"]) for q in _events(engine)[before:]
    ] == [
        ("credits.spent", kept.entry_id, 2),
        ("credits.spent", kept.entry_id, 2),
    ]

    # Bob's endpoint only ever got Bob's events: none here.
    assert all(e != bobs.id for e, _, _, _ in _events(engine))
    assert {q[3]["user_id"] for q in _events(engine)} == {str(ada)}


def test_an_operator_endpoint_gets_every_users_events_and_removed_ones_get_none(
    engine, private_allowed
):
    ada, bob = make_user(engine), make_user(engine)
    with session_scope(engine) as session:
        everyone = webhooks.add(
            session,
            actor=audit.Actor.cli(),
            owner=None,
            url=outbound.check_url("http://127.0.0.1:9/all"),
            events=["credits.spent"],
            low_balance_threshold=None,
            now=utcnow(),
        ).info
    adas = _add(engine, ada, "http://127.0.0.1:9/ada", ["credits.spent"]).info
    _spend(engine, ada, 1)
    _spend(engine, bob, 1)
    run(webhooks.remove_endpoint(ada, adas.id, actor=audit.Actor.user(ada), engine=engine))
    _spend(engine, ada, 1)
    got = [(e, q["user_id"]) for e, _, _, q in _events(engine)]
    assert got == [
        (everyone.id, str(ada)),
        (adas.id, str(ada)),
        (everyone.id, str(bob)),
        (everyone.id, str(ada)),
    ]
    # The operator's endpoint is not in a customer's list or log.
    assert [e.id for e in run(webhooks.endpoints_of(ada, engine=engine))] == []
    page = run(webhooks.deliveries_of(ada, engine=engine))
    assert [d.endpoint_id for d in page.deliveries] == [adas.id]


def test_a_deleted_accounts_last_changes_are_sent_to_nobody(engine, private_allowed):
    """Deleting an account forfeits its credits (a low balance, for an operator's
    endpoint with a threshold): nothing about the person is queued any more."""
    user = make_user(engine)
    with session_scope(engine) as session:
        webhooks.add(
            session,
            actor=audit.Actor.cli(),
            owner=None,
            url=outbound.check_url("http://127.0.0.1:9/all"),
            events=ALL,
            low_balance_threshold=50,
            now=utcnow(),
        )
    with session_scope(engine) as session:
        assert deletion.erase_account(session, user, utcnow()) == 100
    assert _deliveries(engine) == []


def test_a_spend_nobody_listens_to_costs_one_select_at_commit(engine):
    user, other = make_user(engine), make_user(engine)
    _add(engine, other, "https://93.184.215.14/hook", ALL)  # someone else's endpoint
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with session_scope(engine) as session:
        session.connection()  # begin first: only the spend's statements are counted
        event.listen(engine, "before_cursor_execute", count)
        try:
            credits.spend(session, user_id=user, amount=1, idempotency_key="hot", feature="qr")
            during = len(statements)
            session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", count)
    at_commit = statements[during:]
    assert len(at_commit) == 1 and "webhook_endpoints" in at_commit[0]
    assert _deliveries(engine) == []


# --- several deliverers ----------------------------------------------------------------


def test_two_deliverers_at_once_never_send_one_delivery_twice(engine, private_allowed):
    users = [make_user(engine) for _ in range(3)]
    with Receiver() as receiver:
        for user in users:
            _add(engine, user, receiver.url(), ["credits.granted"])
            for n in range(15):
                _grant(engine, user, 1 + n)
        assert len(_deliveries(engine)) == 45

        async def together() -> list[int]:
            return await asyncio.gather(
                outbound.deliver_due(engine=engine), outbound.deliver_due(engine=engine)
            )

        tried = run(together())
    assert sum(tried) == 45
    ids = [r.headers["Credit-App-Event-Id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 45
    assert {row.status for row in _deliveries(engine)} == {"delivered"}


def test_a_lease_keeps_a_claimed_delivery_from_another_worker_until_it_ends(engine):
    user = make_user(engine)
    with session_scope(engine) as session:
        session.add(
            WebhookEndpoint(
                user_id=user, url="https://93.184.215.14/", events="credits.granted", secret="s"
            )
        )
    _grant(engine, user)
    now = clock.now()
    with session_scope(engine) as session:
        (claimed,) = delivery.claim_due(session, now=now, limit=10)
    with session_scope(engine) as session:
        assert delivery.claim_due(session, now=now + timedelta(seconds=59), limit=10) == []
    with session_scope(engine) as session:
        # The worker died: after the lease, another takes it.
        (again,) = delivery.claim_due(session, now=now + timedelta(seconds=61), limit=10)
    assert again.id == claimed.id


# --- resend and remove ----------------------------------------------------------------


def test_resend_and_remove_are_audited_and_never_reach_anothers(engine, private_allowed):
    ada, eve = make_user(engine), make_user(engine)
    admin = make_user(engine)
    processed: list[dict] = []
    seen: set[str] = set()

    def respond(request: Received) -> tuple[int, dict[str, str]]:
        return handle_webhook(
            added.secret, request.body, request.headers, seen, processed.append
        ), {}

    with Receiver(respond=respond) as receiver:
        added = _add(engine, ada, receiver.url(), ["credits.spent"])
        eves = _add(engine, eve, receiver.url("/eve"), ["credits.spent"])
        _spend(engine, ada, 3)
        assert _deliver(engine) == 1
        (sent,) = run(webhooks.deliveries_of(ada, engine=engine)).deliveries
        assert sent.status == "delivered"

        # Eve can neither resend Ada's delivery nor remove Ada's endpoint.
        with pytest.raises(outbound.EndpointRefused, match="No such delivery"):
            run(webhooks.resend(eve, sent.id, actor=audit.Actor.user(eve), engine=engine))
        with pytest.raises(outbound.EndpointRefused, match="No such endpoint"):
            run(
                webhooks.remove_endpoint(
                    eve, added.info.id, actor=audit.Actor.user(eve), engine=engine
                )
            )
        with pytest.raises(outbound.EndpointRefused, match="No such delivery"):
            run(webhooks.resend(ada, 10_000, actor=audit.Actor.user(ada), engine=engine))
        assert run(webhooks.deliveries_of(eve, engine=engine)).deliveries == []

        # Ada resends: the same event again; the receiver processes it once.
        again = run(webhooks.resend(ada, sent.id, actor=audit.Actor.user(ada), engine=engine))
        assert (again.status, again.attempts, again.event_id) == ("pending", 1, sent.event_id)
        with pytest.raises(outbound.EndpointRefused, match="already waiting"):
            run(webhooks.resend(ada, sent.id, actor=audit.Actor.user(ada), engine=engine))
        assert _deliver(engine) == 1
        assert [r.headers["Credit-App-Event-Id"] for r in receiver.requests] == [sent.event_id] * 2
        assert len(processed) == 1

        # An admin removes Ada's endpoint on her behalf: a later spend queues nothing for it.
        removed = run(
            webhooks.remove_endpoint(
                ada, added.info.id, actor=audit.Actor.admin(admin), engine=engine
            )
        )
        assert removed.removed_at is not None
        assert run(webhooks.endpoints_of(ada, engine=engine)) == []
        assert [e.id for e in run(webhooks.endpoints_of(eve, engine=engine))] == [eves.info.id]
        with pytest.raises(outbound.EndpointRefused, match="No such endpoint"):
            run(
                webhooks.remove_endpoint(
                    ada, added.info.id, actor=audit.Actor.user(ada), engine=engine
                )
            )
        with pytest.raises(outbound.EndpointRefused, match="endpoint was removed"):
            run(webhooks.resend(ada, sent.id, actor=audit.Actor.user(ada), engine=engine))

    resent = _audit(engine, audit.Action.WEBHOOK_RESEND)
    assert [(r.actor_kind, r.actor_user_id, r.target_user_id) for r in resent] == [
        ("user", ada, ada)
    ]
    assert resent[0].target_ref == f"webhook_delivery:{sent.id}"
    removals = _audit(engine, audit.Action.WEBHOOK_REMOVE)
    assert [(r.actor_kind, r.actor_user_id, r.target_user_id) for r in removals] == [
        ("admin", admin, ada)
    ]
    adds = _audit(engine, audit.Action.WEBHOOK_ADD)
    assert [(r.actor_kind, r.target_user_id) for r in adds] == [("user", ada), ("user", eve)]
    assert "127.0.0.1" not in (adds[0].after or ""), "no URL in the append-only audit log"


def test_a_removed_endpoints_waiting_deliveries_are_given_up(engine, private_allowed):
    user = make_user(engine)
    with Receiver(respond=lambda _r: (500, {})) as receiver:
        added = _add(engine, user, receiver.url(), ["credits.spent"])
        _spend(engine, user, 1)
        assert _deliver(engine) == 1
        run(
            webhooks.remove_endpoint(
                user, added.info.id, actor=audit.Actor.user(user), engine=engine
            )
        )
        assert _deliver(engine, now=clock.now() + timedelta(days=1)) == 0
    assert len(receiver.requests) == 1
    (shown,) = run(webhooks.deliveries_of(user, engine=engine)).deliveries
    assert shown.status == "failed" and shown.next_attempt_at is None
    assert [a.error for a in shown.last_attempts] == ["endpoint removed", "HTTP 500"]


def test_what_an_endpoint_may_be(engine, private_allowed):
    user = make_user(engine)
    url = "http://127.0.0.1:9/hook"
    for events, why in (
        ([], "at least one event"),
        (["credits.spent", "credits.stolen"], "Unknown event type 'credits.stolen'"),
    ):
        with pytest.raises(outbound.EndpointRefused, match=why):
            _add(engine, user, url, events)
    for threshold in (-1, 1_000_000_001, True):
        with pytest.raises(outbound.EndpointRefused, match="low-balance threshold"):
            _add(engine, user, url, ["credits.spent"], threshold=threshold)
    first = _add(engine, user, url, [" credits.spent", "credits.granted", "credits.spent"])
    assert first.info.events == ("credits.granted", "credits.spent"), "display order, once"
    assert first.info.low_balance_threshold == settings.get_settings().low_balance_threshold
    for _ in range(4):
        _add(engine, user, url, ["credits.spent"], threshold=0)
    with pytest.raises(outbound.EndpointRefused, match="at most 5 endpoints"):
        _add(engine, user, url, ["credits.spent"])
    listed = run(webhooks.endpoints_of(user, engine=engine))
    assert len(listed) == 5 and listed[0].id > listed[-1].id, "newest first"
    with read_scope(engine) as session:
        assert len(set(session.scalars(select(WebhookEndpoint.secret)))) == 5


def test_the_delivery_log_pages_newest_first(engine, private_allowed):
    user = make_user(engine)
    endpoint = _add(engine, user, "http://127.0.0.1:9/hook", ["credits.granted"]).info
    for n in range(5):
        _grant(engine, user, n + 1)
    first = run(webhooks.deliveries_of(user, limit=2, engine=engine))
    second = run(
        webhooks.deliveries_of(user, limit=2, before_id=first.next_before_id, engine=engine)
    )
    third = run(
        webhooks.deliveries_of(
            user, endpoint_id=endpoint.id, limit=2, before_id=second.next_before_id, engine=engine
        )
    )
    ids = [d.id for page in (first, second, third) for d in page.deliveries]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)
    assert third.next_before_id is None
    assert (
        run(webhooks.deliveries_of(user, endpoint_id=endpoint.id + 99, engine=engine)).deliveries
        == []
    )


# --- the operator's commands ------------------------------------------------------------


def test_the_webhook_commands(app_db, private_allowed, capsys):
    engine = app_db
    make_user(engine, email="cust@example.com")
    with Receiver() as receiver:
        steps = [
            (
                [
                    "webhook",
                    "add",
                    receiver.url(),
                    "--events",
                    "credits.granted",
                    "--email",
                    "cust@example.com",
                    "--low-balance",
                    "5",
                ],
                "signing secret: whsec_",
            ),
            (
                [
                    "webhook",
                    "add",
                    receiver.url("/all"),
                    "--events",
                    "credits.granted,bogus",
                    "--all-users",
                ],
                "error: Unknown event type 'bogus'",
            ),
            (
                [
                    "webhook",
                    "add",
                    receiver.url("/all"),
                    "--events",
                    "credits.granted",
                    "--all-users",
                ],
                "for every customer",
            ),
            (
                ["webhook", "list", "--email", "cust@example.com"],
                "[credits.granted] low balance below 5",
            ),
            (["webhook", "list"], "/all"),
            (["grant", "cust@example.com", "3", "--reason", "Goodwill"], "granted 3"),
            (["webhook", "deliver"], "2 delivery attempt(s)"),
            (["webhook", "deliver"], "0 delivery attempt(s)"),
            (["webhook", "log", "--email", "cust@example.com"], "delivered after 1 attempt(s)"),
            (["webhook", "resend", "1"], "queued again"),
            (["webhook", "resend", "99"], "error: No such delivery."),
            (["webhook", "deliver"], "1 delivery attempt(s)"),
            (["webhook", "remove", "1"], "endpoint #1 removed"),
            (["webhook", "remove", "1"], "error: No such endpoint."),
            (["webhook", "list", "--email", "cust@example.com"], "no endpoints"),
        ]
        for args, expected in steps:
            cli.main(args)
            out, err = capsys.readouterr()
            assert expected in out + err, (args, out, err)
    paths = [r.path for r in receiver.requests]
    assert sorted(paths) == ["/all", "/hook", "/hook"]
    with read_scope(engine) as session:
        rows = audit.entries(session, where=audit.AuditFilter(), limit=20)
    actions = [r.action for r in rows if r.action.startswith("webhook")]
    assert actions == ["webhook_remove", "webhook_resend", "webhook_add", "webhook_add"]
    assert {r.actor for r in rows} == {f"cli ({audit.Actor.cli().os_user})"}
