"""The migrations build exactly the schema the models describe, on both databases."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import credit_app.models  # noqa: F401  (registers the tables)

# Expression indexes with a PostgreSQL operator class (admin search by prefix): written in
# the migration only, since a model cannot declare one that SQLite also understands.
MIGRATION_ONLY_INDEXES = {"ix_users_email_prefix", "ix_users_name_prefix"}


def _compared(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


def test_models_and_migrations_do_not_drift(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": _compared})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_prefix_search_indexes_exist(engine):
    """The ones the drift check skips are there, so search by prefix stays indexed."""
    listing = (
        "SELECT indexname FROM pg_indexes WHERE tablename = 'users'"
        if engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users'"
    )
    with engine.connect() as connection:
        names = set(connection.scalars(sa.text(listing)))
    assert names >= MIGRATION_ONLY_INDEXES
