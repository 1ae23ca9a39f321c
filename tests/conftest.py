"""Shared fixtures: every test gets its own database, on SQLite and on PostgreSQL.

Migrating takes longer than most tests, so each kind is migrated once per run into a
template, and every test gets a copy: a copied file on SQLite; on PostgreSQL a
`CREATE DATABASE ... TEMPLATE` copy, emptied and refilled for the next test rather than
dropped (PostgresDatabases).
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from credit_app import migrations
from credit_app.db import make_engine

PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is a browser test (marker `e2e`): scripts/test runs them
    after the rest, on their own, not beside the parallel workers."""
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.e2e)


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return str(exc)


def require_postgres() -> None:
    """Postgres-only tests must run in CI: there, an unreachable server is a failure."""
    problem = _pg_available()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI but unreachable: {problem}")
    pytest.skip(f"PostgreSQL unreachable: {problem}")


def _admin_sql(statement: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(statement)


def create_postgres_database(template: str | None = None) -> str:
    name = f"credit_test_{uuid.uuid4().hex[:12]}"
    copy_of = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
    _admin_sql(f'CREATE DATABASE "{name}"{copy_of}')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    # upgrade() disposes its engine, so the write-ahead log is folded into the file.
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    require_postgres()
    url = create_postgres_database()
    try:
        migrations.upgrade(url)
        yield url
    finally:
        drop_postgres_database(url)


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class PostgresDatabases:
    """Copies of the migrated template, reused: `CREATE DATABASE ... TEMPLATE` costs about
    0.3 s (it writes the copy to the WAL and syncs it), emptying a used copy about 0.03 s.
    A copy given back is emptied (TRUNCATE every table but alembic_version, identities
    restarted) and refilled with the template's own rows (the plan catalog), so the next
    test sees exactly a fresh copy; one that cannot be emptied is dropped instead."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.free: list[str] = []
        self.made: list[str] = []
        with psycopg.connect(_dsn(template)) as conn:
            self.tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'alembic_version' ORDER BY tablename"
                )
            ]
            self.rows: dict[str, bytes] = {}
            for table in self.tables:
                with conn.cursor().copy(f'COPY "{table}" TO STDOUT') as copy:
                    data = b"".join(bytes(chunk) for chunk in copy)
                if data:
                    self.rows[table] = data

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        url = create_postgres_database(template=self.template)
        self.made.append(url)
        return url

    def give_back(self, url: str) -> None:
        try:
            self._empty(url)
        except psycopg.Error:
            self.made.remove(url)
            drop_postgres_database(url)
        else:
            self.free.append(url)

    def _empty(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        # Connections a test left open (a server thread, a pool) would block TRUNCATE.
        _admin_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        with psycopg.connect(_dsn(url)) as conn:
            conn.execute("SET lock_timeout = '5s'")
            tables = ", ".join(f'"{table}"' for table in self.tables)
            conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            for table, data in self.rows.items():
                with conn.cursor().copy(f'COPY "{table}" FROM STDIN') as copy:
                    copy.write(data)

    def close(self) -> None:
        for url in self.made:
            drop_postgres_database(url)


@pytest.fixture(scope="session")
def postgres_databases(postgres_template) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_template)
    yield databases
    databases.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    """A migrated database of each kind, as fresh as a new copy of the template."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    require_postgres()
    databases = request.getfixturevalue("postgres_databases")
    url = databases.take()
    try:
        yield url
    finally:
        databases.give_back(url)


@pytest.fixture
def engine(database_url) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
