"""purchase lines: what each line of a payment granted (credits follow money)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00.000000

Existing rows carried forward:
- every existing purchase gets one line: its plan, its credits (`credits_granted`, so a
  refund or dispute of it takes back what it granted, as before), its amount paid and
  currency, no Stripe line id, no period, not a proration. Those purchases were granted
  under the ledger key `stripe:invoice:<id>` / `stripe:payment:<pi>`, which the new
  grant rule keeps: an invoice already granted is recognised and never granted again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "purchase_lines",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("purchase_id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_line_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("stripe_price_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("plan_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("proration", sa.Boolean(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["subscription_plans.id"],
            name=op.f("fk_purchase_lines_plan_id_subscription_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["purchases.id"], name=op.f("fk_purchase_lines_purchase_id_purchases")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_purchase_lines_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_lines")),
    )
    with op.batch_alter_table("purchase_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_purchase_lines_purchase_id"), ["purchase_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_purchase_lines_user_id"), ["user_id"], unique=False)

    purchases = sa.table(
        "purchases",
        sa.column("id", BIG_ID),
        sa.column("user_id", sa.Uuid()),
        sa.column("plan_id", sa.String()),
        sa.column("amount_paid", sa.Integer()),
        sa.column("currency", sa.String()),
        sa.column("credits_granted", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    lines = sa.table(
        "purchase_lines",
        sa.column("purchase_id", BIG_ID),
        sa.column("user_id", sa.Uuid()),
        sa.column("plan_id", sa.String()),
        sa.column("amount", sa.Integer()),
        sa.column("currency", sa.String()),
        sa.column("credits", sa.Integer()),
        sa.column("proration", sa.Boolean()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        lines.insert().from_select(
            [
                "purchase_id",
                "user_id",
                "plan_id",
                "amount",
                "currency",
                "credits",
                "proration",
                "created_at",
            ],
            sa.select(
                purchases.c.id,
                purchases.c.user_id,
                purchases.c.plan_id,
                purchases.c.amount_paid,
                purchases.c.currency,
                purchases.c.credits_granted,
                sa.false(),
                purchases.c.created_at,
            ).order_by(purchases.c.id),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("purchase_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_lines_user_id"))
        batch_op.drop_index(batch_op.f("ix_purchase_lines_purchase_id"))
    op.drop_table("purchase_lines")
