"""admin console: append-only audit log, shortfall recovery, last activity, re-authentication

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 21:40:00

Existing data carried forward:
- users.last_activity_at: the time of each user's newest spend or capture (NULL for users
  who never used credits), so the admin's "last activity" sort is right from the start.
- shortfalls: every existing one is "open" with nothing recovered; an operator decides.
- auth_sessions.reauthenticated_at NULL: an admin types their password again before the
  first action that moves credits or roles.
- audit_log starts empty; the database refuses UPDATE and DELETE on it from the start.
- ledger_daily (the overview's daily totals) starts empty with its bookmark at entry 0:
  the first roll-up totals the existing ledger.
- stripe_event_entries starts empty: which entries an event wrote is recorded from now on
  (the console says "not recorded" for older events).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The audit log is append-only in the database itself, whatever code runs against it.
_PG_GUARD = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""
_SQLITE_GUARD = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_os_user", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("target_user_id", sa.Uuid(), nullable=True),
        sa.Column("target_ref", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        for column in ("created_at", "actor_user_id", "action", "target_user_id"):
            batch_op.create_index(batch_op.f(f"ix_audit_log_{column}"), [column], unique=False)
    if postgres:
        op.execute(_PG_GUARD)
    else:
        for statement in _SQLITE_GUARD:
            op.execute(statement)

    op.create_table(
        "stripe_event_entries",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column(
            "entry_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_stripe_event_entries_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("event_id", "entry_id", name=op.f("pk_stripe_event_entries")),
    )

    op.create_table(
        "ledger_daily",
        sa.Column("day", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("feature", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "kind", "feature", name=op.f("pk_ledger_daily")),
    )
    op.create_table(
        "ledger_daily_through",
        sa.Column(
            "entry_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_ledger_daily_through")),
    )
    # Nothing rolled up yet: the app's minute task (or `credit-app rollup`) totals the
    # existing ledger on its first run; until then the overview counts it live.
    op.execute("INSERT INTO ledger_daily_through (entry_id) VALUES (0)")

    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reauthenticated_at", sa.DateTime(timezone=True)))

    with op.batch_alter_table("shortfalls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "status",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="open",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("recovered", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint("recovered_within_credits", "recovered <= credits")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_activity_at", sa.DateTime(timezone=True)))
    op.execute(
        "UPDATE users SET last_activity_at = (SELECT max(e.created_at) FROM ledger_entries e "
        "WHERE e.user_id = users.id AND e.kind IN ('spend', 'capture'))"
    )
    # Admin search: a case-insensitive prefix of the address or the name. Expression
    # indexes (the query compares lower(...)); on PostgreSQL with text_pattern_ops, the
    # operator class that serves LIKE 'prefix%' whatever the database's collation.
    ops = " text_pattern_ops" if postgres else ""
    op.execute(f"CREATE INDEX ix_users_email_prefix ON users (lower(email_key){ops})")
    op.execute(f"CREATE INDEX ix_users_name_prefix ON users (lower(name){ops})")

    # A person's ledger and Stripe events newest first, from the index alone (measured on
    # 1M users and 50M entries: benchmarks/admin_queries.py). Each replaces the index on
    # user_id alone, so a write still updates one index. On PostgreSQL they are built
    # CONCURRENTLY, outside the migration's transaction, so a deployed ledger keeps taking
    # spends while they build.
    swaps = [
        ("ledger_entries", "ix_ledger_entries_user_id", "ix_ledger_entries_user_id_id", "id"),
        (
            "stripe_events",
            "ix_stripe_events_user_id",
            "ix_stripe_events_user_id_received_at",
            "received_at",
        ),
    ]
    for table, old, new, second in swaps:
        if postgres:
            with op.get_context().autocommit_block():
                op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {new} ON {table} (user_id, {second})")
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {old}")
        else:
            op.create_index(new, table, ["user_id", second])
            op.drop_index(old, table_name=table)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, old, new in (
        ("ledger_entries", "ix_ledger_entries_user_id", "ix_ledger_entries_user_id_id"),
        ("stripe_events", "ix_stripe_events_user_id", "ix_stripe_events_user_id_received_at"),
    ):
        op.create_index(old, table, ["user_id"])
        op.drop_index(new, table_name=table)
    op.execute("DROP INDEX ix_users_name_prefix")
    op.execute("DROP INDEX ix_users_email_prefix")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_activity_at")
    with op.batch_alter_table("shortfalls", schema=None) as batch_op:
        batch_op.drop_constraint("recovered_within_credits", type_="check")
        batch_op.drop_column("settled_at")
        batch_op.drop_column("recovered")
        batch_op.drop_column("status")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("reauthenticated_at")
    op.drop_table("ledger_daily_through")
    op.drop_table("ledger_daily")
    op.drop_table("stripe_event_entries")
    op.drop_table("audit_log")
    if postgres:
        op.execute("DROP FUNCTION audit_log_append_only()")
