"""Download my data on SQLite and PostgreSQL: every table's rows of the person, and nobody
else's; no secrets; every table of the schema accounted for."""

import asyncio
import json
import uuid
from datetime import timedelta

from sqlmodel import SQLModel

from credit_app import credits, mail, outbound, settings
from credit_app.accounts import export
from credit_app.admin import adjustments, audit
from credit_app.auth import api_keys, email_tokens, sessions, throttle
from credit_app.billing import checkout
from credit_app.billing.webhooks import Facts, apply_event
from credit_app.credits import report_files, tool_runs
from credit_app.credits_api import requests, webhooks
from credit_app.db import session_scope
from credit_app.mail import messages
from credit_app.models import AutoTopUp, EmailTokenPurpose, TopUpCharge, User, utcnow
from tests import stripe_payloads as sp
from tests.factories import make_user
from tests.integration.api_server import free_port


def _fill(engine, user_id: uuid.UUID) -> dict[str, str]:
    """A row in every table that can hold one about this person, made by the services."""
    customer = sp.new_id("cus")
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        user.stripe_customer_id = customer
        email, key = user.email, user.email_key
        token = sessions.create_session(session, user_id=user_id, ttl=timedelta(hours=1))
        throttle.claim_attempt(
            session,
            email_key=key,
            client="192.0.2.1",
            now=utcnow(),
            free_failures=3,
            max_delay=60,
        )
        credits.reserve(
            session,
            user_id=user_id,
            amount=5,
            idempotency_key=f"hold-{user_id}",
            feature="report",
        )
        # More than the balance: the rest is recorded as a shortfall.
        credits.clawback(
            session,
            user_id=user_id,
            amount=500,
            idempotency_key=f"clawback-{user_id}",
            description="test",
        )
        checkout._claim_checkout_slot(session, user_id, "pro_monthly")
        tool_runs.claim(session, user_id=user_id, tool="report", run_id="r1", ttl=timedelta(1))
        report_files.store(
            session,
            user_id=user_id,
            action_key=f"tool:{user_id}:report:{uuid.uuid4().hex}",
            filename="report.pdf",
            pages=1,
            pdf=b"%PDF-1.4 secret bytes",
        )
        link_token = email_tokens.issue(
            session, user_id=user_id, purpose=EmailTokenPurpose.VERIFY_EMAIL
        )
        mail.enqueue(
            session,
            messages.password_changed(None, kept_this_session=True),
            to=email,
            user_id=user_id,
        )
    sub = sp.subscription(str(user_id), customer, "pro_monthly")
    outcome = apply_event(
        sp.event("invoice.paid", sp.invoice(sub, amount=1200)), Facts(subscription=sub), engine
    )
    assert outcome.outcome == "applied", outcome.detail
    # A yearly plan's payment schedules its monthly grants (credit_drips).
    yearly = sp.subscription(str(user_id), customer, "pro_yearly")
    outcome = apply_event(
        sp.event("invoice.paid", sp.invoice(yearly, amount=12000)),
        Facts(subscription=yearly),
        engine,
    )
    assert outcome.outcome == "applied", outcome.detail
    with session_scope(engine) as session:
        session.add(
            AutoTopUp(
                user_id=user_id,
                enabled=True,
                threshold=50,
                plan_id="pack_500",
                monthly_cap=2400,
                payment_method_id="pm_export",
                consent_text="I allow ...",
                consented_at=utcnow(),
            )
        )
        session.add(TopUpCharge(user_id=user_id, plan_id="pack_500", amount=800, currency="usd"))
        api_keys.issue(
            session, owner=user_id, name="Backend", scope="spend", expires_at=None, now=utcnow()
        )
        # Support's goodwill: an audit row about this person.
        adjustments.adjust_credits(
            session,
            actor=audit.Actor.cli(),
            user_id=user_id,
            delta=10,
            reason="Goodwill",
            key=adjustments.new_key(),
            now=utcnow(),
        )
    # Their webhook endpoint, an event queued for it by a spend, one attempt to send it
    # (nothing listens on the port: refused), and an API spend's stored answer.
    url = outbound.check_url(f"http://127.0.0.1:{free_port()}/hooks")
    with session_scope(engine) as session:
        webhooks.add(
            session,
            actor=audit.Actor.user(user_id),
            owner=user_id,
            url=url,
            events=["credits.spent"],
            low_balance_threshold=None,
            now=utcnow(),
        )
    request = requests.IdempotentRequest.of(
        owner=user_id, key="k1", method="POST", path="/spend", user_id=user_id, body={"a": 1}
    )

    def api_spend(session):
        credits.spend(
            session, user_id=user_id, amount=1, idempotency_key=request.ledger_key, feature="api"
        )
        return requests.Answer.of(200, {"spent": 1})

    asyncio.run(requests.answer_once(request, api_spend, engine=engine))
    assert asyncio.run(outbound.deliver_due(engine=engine)) == 1
    return {"email": email, "customer": customer, "token": token, "link": link_token}


def test_the_export_holds_every_table_of_the_person_and_nothing_of_anyone_else(app_db, monkeypatch):
    monkeypatch.setenv("WEBHOOKS_ALLOW_PRIVATE", "true")  # the endpoint is on 127.0.0.1
    settings.get_settings.cache_clear()
    me, them = make_user(app_db), make_user(app_db)
    mine, theirs = _fill(app_db, me), _fill(app_db, them)

    data = asyncio.run(export.export_of(me))
    assert data is not None
    document = json.loads(data)
    assert document["user_id"] == str(me)
    tables = document["tables"]
    assert set(tables) == set(export.exported_tables())
    for name, rows in tables.items():
        assert rows, f"{name}: no rows exported"
    assert tables["users"][0]["email"] == mine["email"]
    assert {row["kind"] for row in tables["ledger_entries"]} >= {"grant", "clawback"}
    assert tables["purchases"][0]["credits_granted"] == 1000
    assert tables["stripe_events"][0]["payload"]["type"] == "invoice.paid"
    assert tables["report_files"][0]["filename"] == "report.pdf"

    text = json.dumps(tables)
    # Nobody else's rows: not their id, address, customer.
    for value in (str(them), theirs["email"], theirs["customer"]):
        assert value not in text
    # No secrets and no bulk: token hashes, the password hash, the PDF.
    omitted = ("token_hash", "live_token", "password_hash", "pdf", "body", "key_hash", "secret")
    for column in omitted:
        assert f'"{column}"' not in text
    assert mine["token"] not in data.decode() and mine["link"] not in data.decode()
    assert "secret bytes" not in data.decode()


def test_every_table_is_exported_or_declared_not_personal():
    every = set(SQLModel.metadata.tables)
    assert set(export.exported_tables()) | set(export.NOT_PERSONAL) == every
    assert not set(export.exported_tables()) & set(export.NOT_PERSONAL)
    for table, columns in export.OMITTED.items():
        assert columns <= set(SQLModel.metadata.tables[table].c.keys())


def test_a_deleted_or_unknown_account_exports_nothing(app_db):
    assert asyncio.run(export.export_of(uuid.uuid4())) is None
