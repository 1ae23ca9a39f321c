"""webhook outcomes: typed outcomes on stripe_events, the error of a failed attempt, the
number of attempts, the payload (for replay) and whose event it is

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 09:00:00.000000

Data carried forward (before 0005 an event row was written in the same transaction as
its effects, so every stored row's effects were committed with it):
- outcome 'applied' stays 'applied', except when its detail says the payment or take-back
  was already done by another event ("already granted/taken back/restored ...", "nothing
  more to take back"): 'duplicate'.
- outcome 'ignored' stays 'ignored'.
- outcome 'processing' (a row whose outcome was never set: no code path committed one)
  and any value this revision does not know become 'ignored' (final), with the old value
  in `detail` and `error`; each is reported on stderr and in the log. Not 'failed': the
  old code committed a row only together with its effects, so whatever such an event
  did is in, and claiming it again could apply it twice. Nor could it be replayed (no
  payload was kept): check it in the Stripe Dashboard.
- attempts = 1, updated_at = received_at; payload, error, user_id and
  stripe_customer_id stay empty (they were not kept).
"""

import logging
import sys
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")

# Frozen copy of how the handlers of revision 0004 described "another event already did
# this" (billing/purchases.py as of 0004).
_ALREADY_DONE = ("already granted", "already taken back", "already restored")
_NOTHING_MORE = "nothing more to take back"

EVENTS = sa.table(
    "stripe_events",
    sa.column("id", sa.String()),
    sa.column("type", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("detail", sa.String()),
    sa.column("error", sa.Text()),
    sa.column("received_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


DETAIL_MAX = 255


def _new_outcome(old: str | None, detail: str) -> tuple[str, str, str | None]:
    """(outcome, detail, error) for a row written before 0005."""
    if old == "applied":
        if detail.startswith(_ALREADY_DONE) or detail == _NOTHING_MORE:
            return "duplicate", detail, None
        return "applied", detail, None
    if old == "ignored":
        return "ignored", detail, None
    note = (
        f"0005: recorded as {old!r} before outcomes were typed; now 'ignored' (final): "
        "its effects, if any, were committed with it. Check it in the Stripe Dashboard."
    )
    kept = f"{note} Old detail: {detail}" if detail else note
    return "ignored", kept[:DETAIL_MAX], kept


def _carry_outcomes_forward(connection) -> None:
    rows = connection.execute(
        sa.select(EVENTS.c.id, EVENTS.c.type, EVENTS.c.outcome, EVENTS.c.detail)
    ).all()
    for event_id, kind, old, detail in rows:
        outcome, new_detail, error = _new_outcome(old, detail or "")
        if error is not None:
            message = f"0005: stripe event {event_id} ({kind}) had outcome {old!r}; now 'ignored'"
            logger.warning(message)
            print(message, file=sys.stderr)
        if (outcome, new_detail, error) != (old, detail, None):
            connection.execute(
                EVENTS.update()
                .where(EVENTS.c.id == event_id)
                .values(outcome=outcome, detail=new_detail, error=error)
            )


def upgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("user_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "stripe_customer_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True
            )
        )
    connection.execute(EVENTS.update().values(updated_at=EVENTS.c.received_at))
    _carry_outcomes_forward(connection)
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.alter_column(
            "updated_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.create_check_constraint(
            op.f("ck_stripe_events_outcome_known"),
            "outcome IN ('applied', 'ignored', 'duplicate', 'deferred', 'failed', 'processing')",
        )
        batch_op.create_index(batch_op.f("ix_stripe_events_outcome"), ["outcome"], unique=False)
        batch_op.create_index(batch_op.f("ix_stripe_events_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_stripe_events_stripe_customer_id"), ["stripe_customer_id"], unique=False
        )


def downgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_events_stripe_customer_id"))
        batch_op.drop_index(batch_op.f("ix_stripe_events_user_id"))
        batch_op.drop_index(batch_op.f("ix_stripe_events_outcome"))
        batch_op.drop_constraint(op.f("ck_stripe_events_outcome_known"), type_="check")
    # Before 0005 only applied and ignored were recorded; a row that is not final would
    # have had no row at all (deferred) or been rolled back (failed).
    connection.execute(
        EVENTS.update().where(EVENTS.c.outcome == "duplicate").values(outcome="applied")
    )
    connection.execute(
        EVENTS.delete().where(EVENTS.c.outcome.in_(("deferred", "failed", "processing")))
    )
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.drop_column("stripe_customer_id")
        batch_op.drop_column("user_id")
        batch_op.drop_column("payload")
        batch_op.drop_column("attempts")
        batch_op.drop_column("error")
        batch_op.drop_column("updated_at")
