"""Upgrading a database populated at 0004 carries its Stripe events into 0005's typed
outcomes, on both databases (see the mapping in alembic/versions/0005_webhook_outcomes.py)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from alembic import command
from credit_app.db import make_engine
from credit_app.migrations import alembic_config
from tests.conftest import create_postgres_database, drop_postgres_database, require_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url_at_0004(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        command.upgrade(alembic_config(url), "0004")
        yield url
        return
    require_postgres()
    url = create_postgres_database()
    try:
        command.upgrade(alembic_config(url), "0004")
        yield url
    finally:
        drop_postgres_database(url)


EVENTS_0004 = sa.table(
    "stripe_events",
    sa.column("id", sa.String()),
    sa.column("type", sa.String()),
    sa.column("stripe_created", sa.DateTime(timezone=True)),
    sa.column("received_at", sa.DateTime(timezone=True)),
    sa.column("outcome", sa.String()),
    sa.column("detail", sa.String()),
)

# (id, outcome at 0004, detail) -> (outcome at 0005, error mentions the old value)
ROWS = {
    ("evt_granted", "applied", "granted 1000 credits (stripe:invoice:in_1); subscription"): (
        "applied",
        False,
    ),
    ("evt_same_invoice", "applied", "already granted (stripe:invoice:in_1); subscription"): (
        "duplicate",
        False,
    ),
    ("evt_refund_again", "applied", "nothing more to take back"): ("duplicate", False),
    ("evt_foreign", "ignored", "ignored: no purchase of ours was paid by this charge"): (
        "ignored",
        False,
    ),
    ("evt_stuck", "processing", ""): ("failed", True),
    ("evt_odd", "weird", "written by hand"): ("failed", True),
}


def test_upgrade_types_old_outcomes_and_reports_the_unknown(url_at_0004, capfd):
    received = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    engine = make_engine(url_at_0004)
    with engine.begin() as conn:
        conn.execute(
            EVENTS_0004.insert(),
            [
                {
                    "id": event_id,
                    "type": "invoice.paid",
                    "stripe_created": received - timedelta(seconds=5),
                    "received_at": received,
                    "outcome": outcome,
                    "detail": detail,
                }
                for event_id, outcome, detail in ROWS
            ],
        )
    engine.dispose()

    command.upgrade(alembic_config(url_at_0004), "head")

    engine = make_engine(url_at_0004)
    try:
        with engine.connect() as conn:
            rows = {
                row.id: row
                for row in conn.execute(
                    sa.text(
                        "SELECT id, outcome, detail, error, attempts, payload, updated_at, "
                        "received_at, user_id, stripe_customer_id FROM stripe_events"
                    )
                )
            }
            with pytest.raises(sa.exc.IntegrityError):  # the vocabulary is enforced now
                conn.execute(sa.text("UPDATE stripe_events SET outcome = 'weird'"))
    finally:
        engine.dispose()
    for (event_id, old, detail), (outcome, reported) in ROWS.items():
        row = rows[event_id]
        assert (row.outcome, row.detail, row.attempts) == (outcome, detail, 1), event_id
        assert (row.payload, row.user_id, row.stripe_customer_id) == (None, None, None)
        assert row.updated_at == row.received_at
        if reported:
            assert f"recorded as {old!r}" in row.error
        else:
            assert row.error is None
    err = capfd.readouterr().err
    assert "stripe event evt_stuck (invoice.paid) had outcome 'processing'" in err
    assert "stripe event evt_odd (invoice.paid) had outcome 'weird'" in err
    assert "evt_granted" not in err
