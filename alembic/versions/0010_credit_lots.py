"""credit lots: credits with dates (expiry, burn order), yearly drip, spending limits,
auto top-up

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 19:38:52.870344

Existing data carried forward:
- every user with credits gets one lot of source "earlier" that never expires, holding
  their whole balance (people were promised packs never expire; the new expiry policy
  applies only to grants made after this revision), priority 2 (spent after welcome and
  plan credits that expire). Its `reserved` part is what their active holds hold, and each
  active hold pins its amount in that lot, so running work captures as before.
- `lots_started` records the newest ledger entry at the upgrade: entries up to it added
  credits before lots; every later one opens a lot (`credit-app reconcile` checks both).
- purchases.amount_refunded 0: refunds before this revision took their credits back
  already; the column only scales a yearly payment's months still to come.
- users.next_lot_expiry NULL (no lot expires yet); no spending limit (NULL), used 0.
- auto_topups / topup_charges start empty: auto top-up is off until a person turns it on.
- No drip for yearly invoices already paid: they were granted whole under the invoice's
  key, which month 0 of a drip reuses, so a replay of their event grants nothing.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lots_started",
        sa.Column(
            "after_entry_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("after_entry_id", name=op.f("pk_lots_started")),
    )
    op.create_table('auto_topups',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('plan_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('monthly_cap', sa.Integer(), nullable=False),
    sa.Column('payment_method_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('card_brand', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('card_last4', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
    sa.Column('consent_text', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
    sa.Column('consented_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('in_flight_charge_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('in_flight_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('retry_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['subscription_plans.id'], name=op.f('fk_auto_topups_plan_id_subscription_plans')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_auto_topups_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_auto_topups'))
    )
    op.create_table('topup_charges',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('plan_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('payment_intent_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['subscription_plans.id'], name=op.f('fk_topup_charges_plan_id_subscription_plans')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_topup_charges_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topup_charges')),
    sa.UniqueConstraint('payment_intent_id', name=op.f('uq_topup_charges_payment_intent_id'))
    )
    with op.batch_alter_table('topup_charges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_topup_charges_user_id'), ['user_id'], unique=False)

    op.create_table(
        "credit_drips",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "purchase_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("granted_credits", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["purchases.id"], name=op.f("fk_credit_drips_purchase_id_purchases")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credit_drips_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_drips")),
    )
    with op.batch_alter_table("credit_drips", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_drips_purchase_id"), ["purchase_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_credit_drips_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_drips_user_id"), ["user_id"], unique=False)

    op.create_table(
        "credit_lots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), server_default="0", nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rollover_max", sa.Integer(), nullable=True),
        sa.Column("rollover_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "parent_lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_lots_amount_positive")),
        sa.CheckConstraint(
            "remaining <= amount", name=op.f("ck_credit_lots_remaining_within_amount")
        ),
        sa.CheckConstraint(
            "remaining >= reserved", name=op.f("ck_credit_lots_reserved_within_remaining")
        ),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_credit_lots_reserved_nonnegative")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_credit_lots_entry_id_ledger_entries")
        ),
        sa.ForeignKeyConstraint(
            ["parent_lot_id"],
            ["credit_lots.id"],
            name=op.f("fk_credit_lots_parent_lot_id_credit_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credit_lots_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_lots")),
    )
    with op.batch_alter_table("credit_lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_lots_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_lots_user_id"), ["user_id"], unique=False)

    op.create_table(
        "lot_allocations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.CheckConstraint("credits > 0", name=op.f("ck_lot_allocations_credits_positive")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_lot_allocations_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["credit_lots.id"], name=op.f("fk_lot_allocations_lot_id_credit_lots")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_lot_allocations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot_allocations")),
    )
    with op.batch_alter_table("lot_allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lot_allocations_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lot_allocations_lot_id"), ["lot_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lot_allocations_user_id"), ["user_id"], unique=False)

    op.create_table(
        "lot_reservations",
        sa.Column("hold_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.CheckConstraint("credits > 0", name=op.f("ck_lot_reservations_credits_positive")),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name=op.f("fk_lot_reservations_hold_id_holds")
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["credit_lots.id"], name=op.f("fk_lot_reservations_lot_id_credit_lots")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_lot_reservations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("hold_id", "lot_id", name=op.f("pk_lot_reservations")),
    )
    with op.batch_alter_table("lot_reservations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lot_reservations_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("amount_refunded", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spend_limit", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_lot_expiry", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("limit_used", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("limit_month_start", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("limit_month_end", sa.DateTime(timezone=True), nullable=True))


    # What the expiry job looks for: lots with free credits, by date.
    op.create_index(
        "ix_credit_lots_due",
        "credit_lots",
        ["expires_at"],
        postgresql_where=sa.text("remaining > reserved"),
        sqlite_where=sa.text("remaining > reserved"),
    )
    _carry_balances_into_lots()


BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _carry_balances_into_lots() -> None:
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        sa.column("credits", sa.Integer()),
        sa.column("held", sa.Integer()),
    )
    ledger = sa.table("ledger_entries", sa.column("id", BIG_ID))
    lots = sa.table(
        "credit_lots",
        sa.column("id", BIG_ID),
        sa.column("user_id", sa.Uuid()),
        sa.column("source", sa.String()),
        sa.column("priority", sa.Integer()),
        sa.column("amount", sa.Integer()),
        sa.column("remaining", sa.Integer()),
        sa.column("reserved", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    holds = sa.table(
        "holds",
        sa.column("id", BIG_ID),
        sa.column("user_id", sa.Uuid()),
        sa.column("amount", sa.Integer()),
        sa.column("status", sa.String()),
    )
    pins = sa.table(
        "lot_reservations",
        sa.column("hold_id", BIG_ID),
        sa.column("lot_id", BIG_ID),
        sa.column("user_id", sa.Uuid()),
        sa.column("credits", sa.Integer()),
    )
    started = sa.table("lots_started", sa.column("after_entry_id", BIG_ID))
    op.execute(
        started.insert().from_select(
            ["after_entry_id"], sa.select(sa.func.coalesce(sa.func.max(ledger.c.id), 0))
        )
    )
    upgraded_at = datetime.now(UTC)
    op.execute(
        lots.insert().from_select(
            ["user_id", "source", "priority", "amount", "remaining", "reserved", "created_at"],
            sa.select(
                users.c.id,
                sa.literal("earlier"),
                sa.literal(2),
                users.c.credits,
                users.c.credits,
                users.c.held,
                sa.literal(upgraded_at, sa.DateTime(timezone=True)),
            )
            .where(users.c.credits > 0)
            .order_by(users.c.id),
        )
    )
    op.execute(
        pins.insert().from_select(
            ["hold_id", "lot_id", "user_id", "credits"],
            sa.select(holds.c.id, lots.c.id, holds.c.user_id, holds.c.amount)
            .join(lots, (lots.c.user_id == holds.c.user_id) & (lots.c.source == "earlier"))
            .where(holds.c.status == "active"),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("topup_charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_topup_charges_user_id"))
    op.drop_table("topup_charges")
    op.drop_table("auto_topups")
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_column("amount_refunded")
    op.drop_index("ix_credit_lots_due", table_name="credit_lots")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("limit_month_end")
        batch_op.drop_column("limit_month_start")
        batch_op.drop_column("limit_used")
        batch_op.drop_column("next_lot_expiry")
        batch_op.drop_column("spend_limit")

    with op.batch_alter_table("lot_reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lot_reservations_user_id"))

    op.drop_table("lot_reservations")
    with op.batch_alter_table("lot_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lot_allocations_user_id"))
        batch_op.drop_index(batch_op.f("ix_lot_allocations_lot_id"))
        batch_op.drop_index(batch_op.f("ix_lot_allocations_entry_id"))

    op.drop_table("lot_allocations")
    with op.batch_alter_table("credit_lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_lots_user_id"))
        batch_op.drop_index(batch_op.f("ix_credit_lots_entry_id"))

    op.drop_table("credit_lots")
    with op.batch_alter_table("credit_drips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_drips_user_id"))
        batch_op.drop_index(batch_op.f("ix_credit_drips_status"))
        batch_op.drop_index(batch_op.f("ix_credit_drips_purchase_id"))

    op.drop_table("credit_drips")
    op.drop_table("lots_started")
