"""`credit-app` as an operator runs it: a real process against a real database."""

import getpass
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import text

from credit_app import cli, credits
from credit_app.admin import audit
from credit_app.billing.webhook_handlers import registry
from credit_app.billing.webhooks import Facts, apply_event
from credit_app.db import read_scope, session_scope
from credit_app.models import EventOutcome, StripeEvent, User
from tests import stripe_payloads as sp
from tests.factories import make_user
from tests.sandbox.harness import standalone_sandbox

SANDBOX_KEY = "sk_test_cli_" + uuid.uuid4().hex
SANDBOX_SECRET = "whsec_cli_" + uuid.uuid4().hex


def _cli(database_url: str, *args: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, **env_vars}
    return subprocess.run(
        [sys.executable, "-m", "credit_app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_balance_grant_and_reconcile(database_url, engine):
    make_user(engine, email="ops@example.com")
    assert _cli(database_url, "balance", "OPS@example.com").stdout.strip() == "100"

    granted = _cli(
        database_url,
        "grant",
        "ops@example.com",
        "25",
        "--reason",
        "Goodwill",
        "--idempotency-key",
        "t-1",
    )
    assert granted.returncode == 0, granted.stderr
    again = _cli(
        database_url,
        "grant",
        "ops@example.com",
        "25",
        "--reason",
        "Goodwill",
        "--idempotency-key",
        "t-1",
    )
    assert "already applied" in again.stdout
    assert _cli(database_url, "balance", "ops@example.com").stdout.strip() == "125"

    # A hand-made key in one of the app's own namespaces would block that payment's grant.
    squatting = _cli(
        database_url,
        "grant",
        "ops@example.com",
        "5",
        "--reason",
        "x",
        "--idempotency-key",
        "stripe:invoice:in_1",
    )
    assert squatting.returncode == 2 and "must be non-empty and not start with" in squatting.stderr
    assert _cli(database_url, "balance", "ops@example.com").stdout.strip() == "125"

    ok = _cli(database_url, "reconcile")
    assert (ok.returncode, ok.stdout.startswith("ok")) == (0, True), ok.stdout

    with session_scope(engine) as session:
        session.execute(text("UPDATE users SET credits = credits - 3"))
    drift = _cli(database_url, "reconcile")
    assert drift.returncode == 1
    assert "ops@example.com" in drift.stdout and "drift -3" in drift.stdout


def test_errors_are_clear_and_nonzero(database_url):
    missing = _cli(database_url, "balance", "ghost@example.com")
    assert missing.returncode != 0 and "no user with email ghost@example.com" in missing.stderr
    bad_amount = _cli(database_url, "grant", "ghost@example.com", "-5", "--reason", "x")
    assert bad_amount.returncode == 2 and "positive whole number" in bad_amount.stderr


def test_stripe_events_prints_the_listen_command_for_the_registered_events(database_url):
    done = _cli(database_url, "stripe-events", APP_URL="https://credits.example.com/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == registry.stripe_listen_command(
        "https://credits.example.com/api/webhooks/stripe"
    )
    assert done.stdout.split("--events ")[1].strip().split(",") == list(registry.event_types)


def _failed_and_deferred_events(engine):
    """One event of each kind of outcome an operator looks for, recorded as the app would."""
    user_id = str(make_user(engine, email="ops@example.com"))
    customer = sp.new_id("cus")
    with session_scope(engine) as session:  # our customer: its refund waits for its payment
        session.get(User, uuid.UUID(user_id)).stripe_customer_id = customer
    sub = sp.subscription(user_id, customer, "pro_monthly")
    without_items = {key: value for key, value in sub.items() if key != "items"}
    failed = sp.event("invoice.paid", sp.invoice(sub, amount=1200))
    price = sub["items"]["data"][0]["price"]
    broken = Facts(subscription=without_items, invoice_prices={price["id"]: price})
    assert apply_event(failed, broken, engine).outcome is EventOutcome.FAILED
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    refund = sp.event(
        "charge.refunded", sp.charge(checkout["payment_intent"], 500, 500, customer=customer)
    )
    assert apply_event(refund, Facts(), engine).outcome is EventOutcome.DEFERRED
    ignored = sp.event("balance.available", {"object": "balance"})
    assert apply_event(ignored, Facts(), engine).outcome is EventOutcome.IGNORED
    return user_id, checkout, failed, refund, ignored


def test_events_lists_what_was_recorded_and_the_failures_with_their_error(database_url, engine):
    _, _, failed, refund, ignored = _failed_and_deferred_events(engine)
    listed = _cli(database_url, "events")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[4] for line in lines] == [ignored["id"], refund["id"], failed["id"]]
    assert lines[0].split()[2:6] == ["ignored", "1", ignored["id"], "balance.available"]

    only_failed = _cli(database_url, "events", "--failed").stdout.splitlines()
    assert len(only_failed) == 1
    assert only_failed[0].split()[2:6] == ["failed", "1", failed["id"], "invoice.paid"]
    assert only_failed[0].endswith("KeyError: 'items'")
    deferred = _cli(database_url, "events", "--outcome", "deferred", "--limit", "5").stdout
    assert refund["id"] in deferred and "no purchase recorded yet" in deferred
    assert _cli(database_url, "events", "--outcome", "duplicate").stdout.strip() == (
        "no duplicate events"
    )
    assert _cli(database_url, "events", "--failed", "--outcome", "applied").returncode == 2


@pytest.fixture(scope="module")
def stripe_api():
    """A Stripe-compatible API for `replay` to fetch from, as PAYMENTS=stripe would."""
    with standalone_sandbox("--api-key", SANDBOX_KEY, "--webhook-secret", SANDBOX_SECRET) as url:
        yield {
            "PAYMENTS": "stripe",
            "STRIPE_SECRET_KEY": SANDBOX_KEY,
            "STRIPE_WEBHOOK_SECRET": SANDBOX_SECRET,
            "STRIPE_API_BASE": url,
            "REDIS_URL": "",
        }


def test_replay_runs_a_stored_event_through_the_same_path(database_url, engine, stripe_api):
    user_id, checkout, failed, refund, _ = _failed_and_deferred_events(engine)

    still = _cli(database_url, "replay", refund["id"], **stripe_api)
    assert still.returncode == 3, still.stderr  # its purchase is still not recorded
    assert "deferred: no purchase recorded yet" in still.stdout

    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    replayed = _cli(database_url, "replay", refund["id"], **stripe_api)
    assert replayed.returncode == 0, replayed.stderr
    assert f"{refund['id']} (charge.refunded): applied: took back 500 credits" in replayed.stdout
    with session_scope(engine) as session:
        assert credits.balance(session, user_id=uuid.UUID(user_id)) == 100
        row = session.get(StripeEvent, refund["id"])
        assert (row.outcome, row.attempts) == (EventOutcome.APPLIED, 3)

    again = _cli(database_url, "replay", refund["id"], **stripe_api)
    assert again.returncode == 0
    assert "already processed (applied); nothing changed" in again.stdout
    with session_scope(engine) as session:
        assert session.get(StripeEvent, refund["id"]).attempts == 3

    # The failed invoice's subscription is unknown to this Stripe: a final "ignored" now
    # (retrying could never succeed), recorded with why.
    gone = _cli(database_url, "replay", failed["id"], **stripe_api)
    assert gone.returncode == 0, gone.stderr
    assert "ignored: Stripe no longer has subscription" in gone.stdout
    with session_scope(engine) as session:
        row = session.get(StripeEvent, failed["id"])
        assert (row.outcome, row.attempts) == (EventOutcome.IGNORED, 2)
    again_gone = _cli(database_url, "replay", failed["id"], **stripe_api)
    assert again_gone.returncode == 0 and "nothing changed" in again_gone.stdout

    missing = _cli(database_url, "replay", "evt_never_sent", **stripe_api)
    assert missing.returncode == 1 and "no event evt_never_sent" in missing.stderr


def test_operator_commands_are_audited_with_the_os_user(database_url, app_db, capsys):
    """The commands run in this process (`cli.main`, as the console script calls it;
    starting Python a dozen times would cost a minute), the listing as a real process."""
    engine = app_db

    user = make_user(engine, email="cust@example.com")
    make_user(engine, email="boss@example.com")
    with session_scope(engine) as session:
        credits.clawback(session, user_id=user, amount=130, idempotency_key="cb", description="t")
        sessions_before = session.execute(text("SELECT count(*) FROM auth_sessions")).scalar()
    steps = [
        (["make-admin", "boss@example.com", "--reason", "new ops hire"], "is an admin"),
        (["make-admin", "boss@example.com"], "already; nothing changed"),
        (["grant", "cust@example.com", "40", "--reason", "Goodwill"], "granted 40"),
        (["deduct", "cust@example.com", "50", "--reason", "Fraud"], "error: Only 40"),
        (
            ["deduct", "cust@example.com", "50", "--reason", "Fraud", "--take-available"],
            "deducted 40 credits from cust@example.com; balance 40 -> 0",
        ),
        (["shortfalls"], "30 of 30 credits not recovered, open"),
        (["recover", "1", "--reason", "take it back"], "next paid grants"),
        (["write-off", "1", "--reason", "not worth it"], "written off"),
        (["write-off", "1", "--reason", "again"], "error: This shortfall is already written"),
        (["revoke-sessions", "cust@example.com", "--reason", "stolen laptop"], "0 session"),
        (["revoke-admin", "boss@example.com"], "is not an admin"),
        (["reconcile"], "ok:"),
    ]
    for args, expected in steps:
        cli.main(args)
        out, err = capsys.readouterr()
        assert expected in out + err, (args, out, err)
    assert cli.main(["customer", "cust@example.com"]) == 0
    shown = capsys.readouterr().out
    assert "balance 0 (0 available, 0 held)" in shown
    assert "Adjusted by support" in shown and "written_off" in shown

    with read_scope(engine) as session:
        rows = audit.entries(session, where=audit.AuditFilter(), limit=50)
    me = f"cli ({getpass.getuser()})"
    assert {row.actor for row in rows} == {me}
    assert [row.action for row in rows] == [
        "reconcile",
        "revoke_admin",
        "revoke_sessions",
        "write_off",
        "recover",
        "deduct",
        "grant",
        "make_admin",
    ]
    listed = _cli(database_url, "audit", "--email", "cust@example.com")
    lines = listed.stdout.splitlines()
    assert len(lines) == 5 and all(me in line for line in lines)
    assert "reason: Fraud" in listed.stdout
    with session_scope(engine) as session:
        assert session.execute(text("SELECT count(*) FROM auth_sessions")).scalar() == (
            sessions_before
        )
