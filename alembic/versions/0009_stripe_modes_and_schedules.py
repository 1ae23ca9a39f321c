"""Stripe customer modes, scheduled plan changes and payments needing authentication

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00.000000

- `users.stripe_customer_livemode`: the Stripe mode (test/live) of the stored customer id.
  Existing rows are carried forward as NULL = unknown: those ids were created with the key
  the deployment used then, which is not known here. On first use (the next checkout or
  portal session) a NULL is taken as the current key's mode and checked with one
  retrieve: a customer Stripe has (not deleted) gets the current mode stored; one that is
  missing (the other mode, or another account) or deleted is replaced by a new customer.
- `user_subscriptions.scheduled_plan_id`, `scheduled_change_at`: a downgrade or shorter
  interval waiting for the period end (from the subscription's schedule). NULL for existing
  rows: the next event about the subscription fills them from Stripe.
- `user_subscriptions.action_required_invoice_id`, `action_required_url`: a renewal
  waiting for 3-D Secure (`invoice.payment_action_required`). NULL for existing rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stripe_customer_livemode", sa.Boolean(), nullable=True))
    with op.batch_alter_table("user_subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scheduled_plan_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("scheduled_change_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "action_required_invoice_id",
                sqlmodel.sql.sqltypes.AutoString(length=255),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "action_required_url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("user_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("action_required_url")
        batch_op.drop_column("action_required_invoice_id")
        batch_op.drop_column("scheduled_change_at")
        batch_op.drop_column("scheduled_plan_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("stripe_customer_livemode")
