"""Backups of the SQLite default: `credit-app backup FILE` and `credit-app restore FILE`.

A backup is SQLite's online backup of the database file: a consistent copy taken while
the app runs (writers wait a moment; WAL included), checked with `PRAGMA integrity_check`.
A restore copies a checked backup back over the database the same way, and only while no
app runs on it (it takes the cluster's lock, which a running app holds). PostgreSQL has
its own tools (pg_dump, WAL archiving for point-in-time recovery): README "Backups and
retention".
"""

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import make_url

from credit_app import cluster_lock
from credit_app.db import make_engine


class BackupRefused(Exception):
    """Why a backup or restore was not done (nothing was written)."""


def backup(database_url: str, target: Path) -> None:
    """Copy the database to `target` (a new file, readable by this user only: it holds
    password and token hashes). A copy that fails its check is removed."""
    database = _sqlite_file(database_url)
    try:
        # Created here, exclusively: never over an existing file, private from the start.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BackupRefused(f"{target} exists; choose a new file") from None
    try:
        with (
            closing(_connect_existing(database)) as source,
            closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
        _check(target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def restore(database_url: str, source: Path) -> None:
    """Replace the database's contents with the backup in `source`."""
    database = _sqlite_file(database_url)
    if not source.is_file():
        raise BackupRefused(f"{source} is not a file")
    _check(source)
    engine = make_engine(database_url)
    try:
        with cluster_lock.held(engine) as stopped:
            if not stopped:
                raise BackupRefused("the app is running on this database: stop it first")
            with (
                closing(sqlite3.connect(source)) as backup_file,
                closing(_connect_existing(database)) as live,
            ):
                backup_file.backup(live)
    finally:
        engine.dispose()


def _sqlite_file(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupRefused(
            "backup and restore are for the SQLite default; back PostgreSQL up with "
            "pg_dump -Fc (and WAL archiving for point-in-time recovery)"
        )
    if not url.database or url.database == ":memory:":
        raise BackupRefused("an in-memory database has nothing to back up")
    path = Path(url.database).resolve()
    if not path.is_file():
        raise BackupRefused(f"there is no database at {path}")
    return path


def _connect_existing(path: Path) -> sqlite3.Connection:
    """The database at `path`, which must exist (plain `connect` would create an empty
    one, and a restore would then go into a file no app reads)."""
    return sqlite3.connect(f"file:{path}?mode=rw", uri=True)


def _check(path: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
            connection.execute("SELECT count(*) FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupRefused(f"{path} is not a backup of this app: {exc}") from None
    if verdict != "ok":
        raise BackupRefused(f"{path} failed SQLite's integrity check: {verdict}")
