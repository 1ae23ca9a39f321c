"""safe to deploy: email comparison keys, live-link secrets per session, login throttles per
(email, client), recorded checkout sessions, one heavy tool run per user

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:52:01.179705

Data carried forward:
- users.email_key is filled from each stored email (NFKC + casefold). Addresses that now
  compare equal (a fullwidth or NFD twin of an older account) are reported on stderr and in
  the log; the newer account's key gets a `#<user id>` suffix so the unique index can be
  built, and it keeps working under its exact stored address until an operator merges it.
- auth_sessions.live_token gets a fresh random secret for every existing session.
- login_throttles is rebuilt under its new key: its rows are back-off timers of minutes,
  not records, so they are dropped rather than guessed into a client address.
"""

import logging
import secrets
import sys
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")


def _email_key(email: str) -> str:
    # Frozen copy of credit_app.auth.validation.email_key as of this revision.
    return unicodedata.normalize("NFKC", email).casefold()


def _fill_email_keys(connection) -> None:
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        sa.column("email", sa.String()),
        sa.column("email_key", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rows = connection.execute(
        sa.select(users.c.id, users.c.email).order_by(users.c.created_at, users.c.id)
    ).all()
    owner: dict[str, str] = {}
    for user_id, email in rows:
        key = _email_key(email)
        if key in owner:
            message = (
                f"0004: {email!r} (user {user_id}) is the same address as {owner[key]!r}; "
                f"kept its account under the key {key}#{user_id.hex} - merge or delete one"
            )
            logger.warning(message)
            print(message, file=sys.stderr)
            key = f"{key}#{user_id.hex}"
        else:
            owner[key] = email
        connection.execute(users.update().where(users.c.id == user_id).values(email_key=key))


def _fill_live_tokens(connection) -> None:
    sessions = sa.table("auth_sessions", sa.column("id", sa.BigInteger()), sa.column("live_token"))
    for (session_id,) in connection.execute(sa.select(sessions.c.id)).all():
        connection.execute(
            sessions.update()
            .where(sessions.c.id == session_id)
            .values(live_token=secrets.token_hex(32))
        )


def upgrade() -> None:
    connection = op.get_bind()
    op.create_table(
        "checkout_sessions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["subscription_plans.id"],
            name=op.f("fk_checkout_sessions_plan_id_subscription_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_checkout_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_sessions")),
    )
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkout_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "tool_runs",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tool", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_tool_runs_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_tool_runs")),
    )

    # New NOT NULL columns: add nullable, fill, then tighten and index.
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("live_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    _fill_live_tokens(connection)
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.alter_column(
            "live_token", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        )
        batch_op.create_unique_constraint(batch_op.f("uq_auth_sessions_live_token"), ["live_token"])

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
    _fill_email_keys(connection)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "email_key", existing_type=sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False
        )
        batch_op.create_unique_constraint(batch_op.f("uq_users_email_key"), ["email_key"])

    op.drop_table("login_throttles")
    op.create_table(
        "login_throttles",
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("client", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email_key", "client", name=op.f("pk_login_throttles")),
    )


def downgrade() -> None:
    op.drop_table("login_throttles")
    op.create_table(
        "login_throttles",
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_login_throttles")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_email_key"), type_="unique")
        batch_op.drop_column("email_key")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_auth_sessions_live_token"), type_="unique")
        batch_op.drop_column("live_token")
    op.drop_table("tool_runs")
    with op.batch_alter_table("checkout_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkout_sessions_user_id"))
    op.drop_table("checkout_sessions")
