"""Upgrading a database populated at 0004 carries its Stripe events into 0005's typed
outcomes, on both databases (see the mapping in alembic/versions/0005_webhook_outcomes.py)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from alembic import command
from credit_app.db import make_engine
from credit_app.migrations import alembic_config
from credit_app.models import EventOutcome
from tests.integration.conftest import DATABASES, database_at


@pytest.fixture(params=DATABASES)
def url_at_0004(request, tmp_path) -> Iterator[str]:
    with database_at(request.param, "0004", tmp_path) as url:
        yield url


EVENTS_0004 = sa.table(
    "stripe_events",
    sa.column("id", sa.String()),
    sa.column("type", sa.String()),
    sa.column("stripe_created", sa.DateTime(timezone=True)),
    sa.column("received_at", sa.DateTime(timezone=True)),
    sa.column("outcome", sa.String()),
    sa.column("detail", sa.String()),
)

# (id, outcome at 0004, detail) -> (outcome at 0005, detail and error name the old value).
# A row the old code committed was committed with its effects: never claimable again.
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
    ("evt_stuck", "processing", ""): ("ignored", True),
    ("evt_odd", "weird", "written by hand"): ("ignored", True),
}


def _insert_0004_rows(url: str, received: datetime) -> None:
    engine = make_engine(url)
    try:
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
    finally:
        engine.dispose()


def _events(url: str) -> dict[str, sa.Row]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                row.id: row
                for row in conn.execute(
                    sa.text(
                        "SELECT id, outcome, detail, error, attempts, payload, updated_at, "
                        "received_at, user_id, stripe_customer_id FROM stripe_events"
                    )
                )
            }
    finally:
        engine.dispose()


def test_upgrade_types_old_outcomes_and_reports_the_unknown(url_at_0004, capfd):
    received = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    _insert_0004_rows(url_at_0004, received)

    command.upgrade(alembic_config(url_at_0004), "head")

    rows = _events(url_at_0004)
    engine = make_engine(url_at_0004)
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.text("UPDATE stripe_events SET outcome = 'weird'"))  # enforced now
    finally:
        engine.dispose()
    for (event_id, old, detail), (outcome, reported) in ROWS.items():
        row = rows[event_id]
        assert (row.outcome, row.attempts) == (outcome, 1), event_id
        assert EventOutcome(row.outcome).final  # nothing from before 0005 is claimed again
        assert (row.payload, row.user_id, row.stripe_customer_id) == (None, None, None)
        assert row.updated_at == row.received_at
        if reported:
            assert row.detail.startswith(f"0005: recorded as {old!r} before outcomes were typed")
            assert detail in row.detail and f"recorded as {old!r}" in row.error
        else:
            assert (row.detail, row.error) == (detail, None)
    err = capfd.readouterr().err
    assert "stripe event evt_stuck (invoice.paid) had outcome 'processing'; now 'ignored'" in err
    assert "stripe event evt_odd (invoice.paid) had outcome 'weird'; now 'ignored'" in err
    assert "evt_granted" not in err


def test_upgrade_downgrade_upgrade_round_trips(url_at_0004):
    received = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    _insert_0004_rows(url_at_0004, received)
    config = alembic_config(url_at_0004)
    command.upgrade(config, "head")
    first = _events(url_at_0004)
    # Rows only 0005 can have: removed by the downgrade (0004 never kept unfinished ones).
    engine = make_engine(url_at_0004)
    try:
        with engine.begin() as conn:
            for event_id, outcome in (("evt_deferred", "deferred"), ("evt_failed", "failed")):
                conn.execute(
                    sa.text(
                        "INSERT INTO stripe_events (id, type, stripe_created, received_at, "
                        "updated_at, outcome, detail, attempts) VALUES (:id, 'charge.refunded', "
                        ":at, :at, :at, :outcome, '', 1)"
                    ),
                    {"id": event_id, "at": received, "outcome": outcome},
                )
    finally:
        engine.dispose()

    command.downgrade(config, "0004")
    engine = make_engine(url_at_0004)
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("stripe_events")}
            at_0004 = dict(conn.execute(sa.text("SELECT id, outcome FROM stripe_events")).all())
    finally:
        engine.dispose()
    assert not columns & {"updated_at", "error", "attempts", "payload", "user_id"}
    assert at_0004 == {
        "evt_granted": "applied",
        "evt_same_invoice": "applied",  # duplicate was written as applied before 0005
        "evt_refund_again": "applied",
        "evt_foreign": "ignored",
        "evt_stuck": "ignored",
        "evt_odd": "ignored",
    }

    command.upgrade(config, "head")
    second = _events(url_at_0004)
    assert set(second) == set(first)
    for event_id, row in first.items():
        again = second[event_id]
        assert (again.outcome, again.detail) == (row.outcome, row.detail), event_id
    assert second["evt_stuck"].error is None  # the old value's note lives on in the detail
