"""`credit-app` as an operator runs it: a real process against a real database."""

import os
import subprocess
import sys

from sqlalchemy import text

from credit_app.db import session_scope
from tests.factories import make_user


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
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
