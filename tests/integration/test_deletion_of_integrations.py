"""Deleting an account ends its integrations in the deletion's transaction: its API keys
stop working, its webhook endpoints keep neither address nor secret and get nothing more
(not even an event about the deletion's own forfeit), and nothing sent or waiting to be
sent about the person, nor any stored API answer of theirs, is kept."""

import asyncio
import json

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from credit_app import credits, outbound, settings
from credit_app.accounts import export
from credit_app.accounts.deletion import erase_account
from credit_app.admin import audit
from credit_app.auth import api_keys
from credit_app.credits_api import requests, webhooks
from credit_app.db import session_scope
from credit_app.models import (
    ApiRequest,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from tests.factories import make_user
from tests.integration.api_server import free_port


@pytest.fixture
def private_targets(monkeypatch):
    monkeypatch.setenv("WEBHOOKS_ALLOW_PRIVATE", "true")  # the endpoint is on 127.0.0.1
    settings.get_settings.cache_clear()
    yield
    settings.get_settings.cache_clear()


def test_deletion_ends_keys_endpoints_deliveries_and_stored_answers(engine, private_targets):
    me, other = make_user(engine), make_user(engine)
    url = outbound.check_url(f"http://127.0.0.1:{free_port()}/hooks")
    with session_scope(engine) as session:
        key = api_keys.issue(
            session, owner=me, name="Backend", scope="spend", expires_at=None, now=utcnow()
        ).key
        for owner in (me, other):
            webhooks.add(
                session,
                actor=audit.Actor.user(owner),
                owner=owner,
                url=url,
                events=["credits.spent", "credits.low_balance"],
                low_balance_threshold=1_000_000,
                now=utcnow(),
            )
    for owner in (me, other):
        request = requests.IdempotentRequest.of(
            owner=owner, key="k1", method="POST", path="/spend", user_id=owner, body={}
        )

        def spend(session, request=request, owner=owner):
            credits.spend(
                session, user_id=owner, amount=1, idempotency_key=request.ledger_key, feature="x"
            )
            return requests.Answer.of(200, {})

        asyncio.run(requests.answer_once(request, spend, engine=engine))
    assert asyncio.run(outbound.deliver_due(engine=engine)) == 2  # a spend each, refused

    with session_scope(engine) as session:
        erase_account(session, me, utcnow())

    with session_scope(engine) as session:
        assert api_keys.authenticate(session, key, now=utcnow()) is None
        mine = session.scalars(select(WebhookEndpoint).where(col(WebhookEndpoint.user_id) == me))
        assert [(e.url, e.secret, e.removed_at is not None) for e in mine] == [("", "", True)]

        def count(model, *where):
            return session.scalar(select(func.count()).select_from(model).where(*where))

        assert count(WebhookDelivery, col(WebhookDelivery.user_id) == me) == 0
        assert count(ApiRequest, col(ApiRequest.user_id) == me) == 0
        # The other customer's keep theirs: one delivery with its attempt, one answer.
        theirs = col(WebhookDelivery.user_id) == other
        assert count(WebhookDelivery, theirs) == 1
        assert count(WebhookAttempt) == 1
        assert count(ApiRequest, col(ApiRequest.user_id) == other) == 1


def test_the_export_leaves_out_what_an_operators_endpoint_answered(engine, app_db, private_targets):
    """An operator's endpoint (sent every customer's events) answers with the operator's
    system: the person's export has the events about them, not those answers."""
    me = make_user(app_db)
    with session_scope(app_db) as session:
        for owner in (me, None):
            webhooks.add(
                session,
                actor=audit.Actor.cli(),
                owner=owner,
                url=outbound.check_url(f"http://127.0.0.1:{free_port()}/hooks"),
                events=["credits.spent"],
                low_balance_threshold=None,
                now=utcnow(),
            )
    with session_scope(app_db) as session:
        credits.spend(session, user_id=me, amount=1, idempotency_key="x1", feature="x")
    assert asyncio.run(outbound.deliver_due(engine=app_db)) == 2
    tables = json.loads(asyncio.run(export.export_of(me)))["tables"]
    assert len(tables["webhook_deliveries"]) == 2  # both events about the person
    (attempt,) = tables["webhook_attempts"]  # only the one at their own endpoint
    own = {
        d["id"]
        for d in tables["webhook_deliveries"]
        if d["endpoint_id"] in {e["id"] for e in tables["webhook_endpoints"]}
    }
    assert attempt["delivery_id"] in own
