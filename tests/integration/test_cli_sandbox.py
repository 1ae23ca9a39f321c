"""`credit-app sandbox ...` against the app's embedded sandbox, as an operator runs it: a
real process that finds the test controls' key in the file the app wrote."""

import json
import os
import subprocess
import sys

import pytest
import stripe
from sqlalchemy import select

from credit_app.db import session_scope
from credit_app.models import Purchase
from tests.factories import make_user
from tests.integration.billing_server import serve


@pytest.fixture
def app(engine, database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


def _cli(*args: str) -> subprocess.CompletedProcess:
    # The server's settings (APP_URL, SANDBOX_CONTROL_KEY_FILE) are in this environment.
    return subprocess.run(
        [sys.executable, "-m", "credit_app.cli", "sandbox", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_advance_dispute_and_close_dispute_drive_the_embedded_sandbox(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    sub_id = app.subscription(user).stripe_subscription_id
    advanced = _cli("advance", sub_id)
    assert advanced.returncode == 0, advanced.stderr
    assert json.loads(advanced.stdout)["object"] == "invoice"
    app.wait_idle()
    assert app.balance(user) == 100 + 1000 + 1000

    app.checkout(user, "pack_500")
    with session_scope(app.engine) as session:
        pack = session.scalar(select(Purchase).where(Purchase.plan_id == "pack_500"))
    client = stripe.StripeClient(app.api_key, base_addresses={"api": app.sandbox})
    charge = client.v1.payment_intents.retrieve(pack.stripe_payment_intent_id).latest_charge
    disputed = _cli("dispute", charge)
    assert disputed.returncode == 0, disputed.stderr
    app.wait_idle()
    assert app.balance(user) == 2100
    closed = _cli("close-dispute", json.loads(disputed.stdout)["id"], "--status", "won")
    assert closed.returncode == 0, closed.stderr
    app.wait_idle()
    assert app.balance(user) == 2600


def test_without_the_key_file_the_cli_says_what_to_do(app, tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_CONTROL_KEY_FILE", str(tmp_path / "missing"))
    refused = _cli("deliveries")
    assert refused.returncode != 0
    assert "SANDBOX_CONTROLS=true" in refused.stderr
    assert "Traceback" not in refused.stderr
