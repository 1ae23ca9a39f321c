"""Fixtures for tests of services that use the app's default engine."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from alembic import command
from credit_app import credits, db, settings
from credit_app.db import session_scope
from credit_app.migrations import alembic_config
from credit_app.models import User
from tests import stripe_payloads as sp
from tests.conftest import create_postgres_database, drop_postgres_database, require_postgres
from tests.factories import make_user

# Both databases, for tests that build their own (the migration tests).
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def database_at(kind: str, revision: str, tmp_path: Path) -> Iterator[str]:
    """A new database ("sqlite" or "postgres") migrated to `revision`: what a deployment at
    that revision has, for a migration test to populate and upgrade."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        command.upgrade(alembic_config(url), revision)
        yield url
        return
    require_postgres()
    url = create_postgres_database()
    try:
        command.upgrade(alembic_config(url), revision)
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
def app_db(database_url, monkeypatch, engine):
    """Services that use the app's default engine: point it at this test's database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    yield engine
    db.get_engine().dispose()
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()


@pytest.fixture
def buyer(engine) -> tuple[str, str]:
    """A user with a Stripe customer id stored: (user id, customer id)."""
    user_id = make_user(engine)
    customer = sp.new_id("cus")
    with session_scope(engine) as session:
        session.get(User, user_id).stripe_customer_id = customer
    return str(user_id), customer


def balance(engine, user_id: str) -> int:
    with session_scope(engine) as session:
        return credits.balance(session, user_id=uuid.UUID(user_id))
