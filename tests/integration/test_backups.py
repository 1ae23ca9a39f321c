"""`credit-app backup` and `restore` on the SQLite default: a backup taken while the app
writes is consistent, a restore puts every number back and passes reconcile, a restore
is refused while an app runs on the database, and PostgreSQL is pointed to its own tools."""

import threading
import uuid
from pathlib import Path

import pytest

from credit_app import backups, cli, cluster_lock, credits
from credit_app.db import make_engine, read_scope, session_scope
from credit_app.models import GrantSource
from tests.factories import make_user


def _grant(engine, user_id: uuid.UUID, amount: int) -> None:
    with session_scope(engine) as session:
        credits.grant(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=f"test:{uuid.uuid4()}",
            source=GrantSource.ADMIN,
        )


def _balance(engine, user_id: uuid.UUID) -> int:
    with read_scope(engine) as session:
        return credits.balance(session, user_id=user_id)


def test_a_backup_taken_while_writing_restores_every_number(app_db, tmp_path: Path, capsys):
    engine = app_db
    if engine.dialect.name != "sqlite":
        pytest.skip("backup and restore are the SQLite default's")
    user = make_user(engine, initial_credits=100)
    # Another writer while the backup runs: the copy is a snapshot, never half of a grant.
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            _grant(engine, user, 1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert cli.main(["backup", str(tmp_path / "backup.db")]) == 0
    finally:
        stop.set()
        thread.join()

    assert (tmp_path / "backup.db").stat().st_mode & 0o777 == 0o600  # password hashes
    copy = make_engine(f"sqlite:///{tmp_path / 'backup.db'}")
    backed_up = _balance(copy, user)
    copy.dispose()
    assert backed_up >= 100
    _grant(engine, user, 1000)  # made after the backup: the restore takes it away
    assert cli.main(["backup", str(tmp_path / "backup.db")]) == 2  # never over a file

    capsys.readouterr()
    assert cli.main(["restore", str(tmp_path / "backup.db")]) == 0
    assert "ok: every cached balance equals its ledger sum" in capsys.readouterr().out
    engine.dispose()  # connections opened before the restore
    assert _balance(engine, user) == backed_up


def test_a_restore_is_refused_while_the_app_runs(database_url, engine, tmp_path: Path):
    if engine.dialect.name != "sqlite":
        pytest.skip("backup and restore are the SQLite default's")
    backups.backup(database_url, tmp_path / "backup.db")

    # The lock a running app holds (the leader's: cluster_lock.lead takes it the same way).
    with cluster_lock.held(engine) as holding:
        assert holding
        with pytest.raises(backups.BackupRefused, match="running"):
            backups.restore(database_url, tmp_path / "backup.db")
    (tmp_path / "junk.db").write_text("not a database")
    with pytest.raises(backups.BackupRefused, match="not a backup"):
        backups.restore(database_url, tmp_path / "junk.db")


def test_a_missing_database_is_never_created(tmp_path: Path):
    # A wrong DATABASE_URL must not make an empty database for the restore to fill.
    missing = f"sqlite:///{tmp_path / 'nowhere.db'}"
    with pytest.raises(backups.BackupRefused, match="no database"):
        backups.backup(missing, tmp_path / "b.db")
    assert not (tmp_path / "nowhere.db").exists() and not (tmp_path / "b.db").exists()


def test_postgresql_is_pointed_to_its_own_tools(tmp_path: Path):
    with pytest.raises(backups.BackupRefused, match="pg_dump"):
        backups.backup("postgresql+psycopg://postgres@127.0.0.1/x", tmp_path / "b.db")
    assert not (tmp_path / "b.db").exists()
