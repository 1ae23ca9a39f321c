"""The ledger on a real database (SQLite and PostgreSQL): DESIGN.md invariants 1, 2, 4, 6."""

import ast
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from credit_app import credits
from credit_app.db import session_scope
from credit_app.models import GrantSource, LedgerEntry, User
from tests.factories import make_user


def _state(engine, user_id):
    with session_scope(engine) as session:
        balance = credits.balance(session, user_id=user_id)
        ledger_sum = session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(
                LedgerEntry.user_id == user_id
            )
        )
        count = session.scalar(select(func.count()).where(LedgerEntry.user_id == user_id))
    return balance, ledger_sum, count


def test_signup_grants_initial_credits_in_the_ledger(engine):
    user_id = make_user(engine, initial_credits=100)
    assert _state(engine, user_id) == (100, 100, 1)
    with session_scope(engine) as session:
        (entry,) = credits.recent_entries(session, user_id=user_id)
    assert (entry.kind, entry.source, entry.delta, entry.balance_after) == (
        "grant",
        "signup",
        100,
        100,
    )


def test_spend_deducts_and_records_balance_after(engine):
    user_id = make_user(engine)
    with session_scope(engine) as session:
        result = credits.spend(
            session, user_id=user_id, amount=30, idempotency_key="k1", feature="qr"
        )
    assert (result.delta, result.balance_after, result.replayed) == (-30, 70, False)
    assert _state(engine, user_id) == (70, 70, 2)


def test_spend_with_the_same_key_changes_the_balance_once(engine):
    user_id = make_user(engine)
    results = []
    for _ in range(3):
        with session_scope(engine) as session:
            results.append(
                credits.spend(
                    session, user_id=user_id, amount=10, idempotency_key="same", feature="qr"
                )
            )
    assert _state(engine, user_id) == (90, 90, 2)
    assert {r.entry_id for r in results} == {results[0].entry_id}
    assert [r.replayed for r in results] == [False, True, True]
    assert all(r.balance_after == 90 for r in results)


def test_grant_with_the_same_key_changes_the_balance_once(engine):
    user_id = make_user(engine)
    for _ in range(2):
        with session_scope(engine) as session:
            credits.grant(
                session, user_id=user_id, amount=50, idempotency_key="inv_1", source="admin"
            )
    assert _state(engine, user_id) == (150, 150, 2)


def test_reusing_a_key_for_a_different_change_is_refused(engine):
    alice, bob = make_user(engine), make_user(engine)
    with session_scope(engine) as session:
        credits.spend(session, user_id=alice, amount=5, idempotency_key="k", feature="qr")
    for user_id, amount in ((alice, 6), (bob, 5)):
        with pytest.raises(credits.IdempotencyConflict), session_scope(engine) as session:
            credits.spend(
                session, user_id=user_id, amount=amount, idempotency_key="k", feature="qr"
            )
    assert _state(engine, alice)[0] == 95
    assert _state(engine, bob) == (100, 100, 1)


def test_spending_more_than_the_balance_fails_and_writes_nothing(engine):
    user_id = make_user(engine, initial_credits=10)
    with pytest.raises(credits.InsufficientCredits) as info, session_scope(engine) as session:
        credits.spend(session, user_id=user_id, amount=11, idempotency_key="big", feature="qr")
    assert (info.value.required, info.value.available, info.value.shortfall) == (11, 10, 1)
    assert _state(engine, user_id) == (10, 10, 1)
    # The refused key was not consumed: the same action can succeed once credits arrive.
    with session_scope(engine) as session:
        credits.grant(session, user_id=user_id, amount=1, idempotency_key="top", source="admin")
        assert (
            credits.spend(
                session, user_id=user_id, amount=11, idempotency_key="big", feature="qr"
            ).balance_after
            == 0
        )


def test_spending_exactly_the_balance_reaches_zero(engine):
    user_id = make_user(engine, initial_credits=7)
    with session_scope(engine) as session:
        credits.spend(session, user_id=user_id, amount=7, idempotency_key="all", feature="qr")
    assert _state(engine, user_id) == (0, 0, 2)


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "3"])
def test_invalid_amounts_are_refused(engine, amount):
    user_id = make_user(engine)
    with pytest.raises(credits.InvalidAmount), session_scope(engine) as session:
        credits.spend(session, user_id=user_id, amount=amount, idempotency_key="x", feature="qr")
    assert _state(engine, user_id) == (100, 100, 1)


def test_unknown_user_is_an_error(engine):
    with pytest.raises(credits.UnknownUser), session_scope(engine) as session:
        credits.grant(session, user_id=uuid.uuid4(), amount=1, idempotency_key="x", source="admin")


def test_a_failure_later_in_the_transaction_leaves_no_partial_write(engine):
    user_id = make_user(engine)
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        credits.spend(session, user_id=user_id, amount=40, idempotency_key="k", feature="qr")
        raise RuntimeError("the tool crashed after the spend")
    assert _state(engine, user_id) == (100, 100, 1)


def test_the_database_refuses_a_negative_balance_even_without_the_service(engine):
    user_id = make_user(engine)
    with pytest.raises(IntegrityError, match=r"(?i)check"), session_scope(engine) as session:
        session.execute(
            text("UPDATE users SET credits = -1 WHERE id = :id"),
            {"id": user_id.hex if engine.dialect.name == "sqlite" else user_id},
        )
    assert _state(engine, user_id)[0] == 100


def test_reconcile_reports_drift_and_nothing_else(engine):
    healthy, drifted = make_user(engine), make_user(engine, email="drift@example.com")
    with session_scope(engine) as session:
        assert credits.find_drift(session) == []
        # Simulate a bug that changed a cached balance outside the ledger.
        session.execute(
            User.__table__.update().where(User.id == drifted).values(credits=User.credits + 5)
        )
    with session_scope(engine) as session:
        (drift,) = credits.find_drift(session)
    assert (drift.user_id, drift.email, drift.cached_balance, drift.ledger_sum) == (
        drifted,
        "drift@example.com",
        105,
        100,
    )
    assert "drift +5" in drift.describe()
    assert healthy != drifted


def test_refund_gives_credits_back_visibly_and_once(engine):
    user_id = make_user(engine)
    with session_scope(engine) as session:
        credits.spend(session, user_id=user_id, amount=8, idempotency_key="act", feature="qr")
    results = []
    for _ in range(2):
        with session_scope(engine) as session:
            results.append(
                credits.refund(
                    session,
                    user_id=user_id,
                    amount=8,
                    idempotency_key=credits.keys.tool_refund("act"),
                    feature="qr",
                    description="Refund: QR failed",
                )
            )
    first, again = results
    assert (first.delta, first.balance_after, first.replayed) == (8, 100, False)
    assert (again.entry_id, again.balance_after, again.replayed) == (first.entry_id, 100, True)
    assert _state(engine, user_id) == (100, 100, 3)
    with session_scope(engine) as session:
        entry = session.get(LedgerEntry, first.entry_id)
    assert (entry.kind, entry.feature, entry.idempotency_key) == ("refund", "qr", "act:refund")
    # The same key cannot be reused for a different change, nor a bad amount refunded.
    with pytest.raises(credits.IdempotencyConflict), session_scope(engine) as session:
        credits.refund(
            session, user_id=user_id, amount=9, idempotency_key="act:refund", feature="qr"
        )
    with pytest.raises(credits.InvalidAmount), session_scope(engine) as session:
        credits.refund(session, user_id=user_id, amount=0, idempotency_key="r0", feature="qr")
    assert _state(engine, user_id) == (100, 100, 3)


def test_clawback_replays_under_its_key(engine):
    user_id = make_user(engine, initial_credits=30)
    with session_scope(engine) as session:
        first = credits.clawback(
            session, user_id=user_id, amount=50, idempotency_key="cb", description="Refund"
        )
    with session_scope(engine) as session:
        again = credits.clawback(
            session, user_id=user_id, amount=50, idempotency_key="cb", description="Refund"
        )
    assert first == credits.ClawbackResult(taken=30, shortfall=20, replayed=False)
    assert again == credits.ClawbackResult(taken=30, shortfall=20, replayed=True)
    assert _state(engine, user_id) == (0, 0, 2)


def test_reads_by_key_answer_for_the_keys_a_caller_wrote_under(engine):
    """entry_delta and net_taken_under: how billing reads what its take-backs did, without
    reading the ledger's tables itself."""
    user_id = make_user(engine, initial_credits=30)
    with session_scope(engine) as session:
        assert credits.entry_delta(session, key="p:1:dispute") is None
        assert credits.net_taken_under(session, prefix="p:1:") == 0
        credits.clawback(
            session, user_id=user_id, amount=10, idempotency_key="p:1:refund", description="R"
        )
        # 20 credits are left: 20 taken, 5 recorded as a shortfall.
        credits.clawback(
            session, user_id=user_id, amount=25, idempotency_key="p:1:dispute", description="D"
        )
        credits.grant(
            session,
            user_id=user_id,
            amount=20,
            idempotency_key="p:1:dispute:won",
            source=GrantSource.DISPUTE_WON,
        )
        # Another purchase's key, and one that only looks like this prefix with `%`/`_`.
        credits.clawback(
            session, user_id=user_id, amount=1, idempotency_key="p:2:refund", description="R"
        )
        credits.clawback(
            session, user_id=user_id, amount=1, idempotency_key="p%1:refund", description="R"
        )
    with session_scope(engine) as session:
        assert credits.entry_delta(session, key="p:1:dispute") == -20
        assert credits.entry_delta(session, key="p:1:dispute:won") == 20
        assert credits.net_taken_under(session, prefix="p:1:") == 10 + 20 + 5 - 20
        assert credits.net_taken_under(session, prefix="p:2:") == 1
        assert credits.net_taken_under(session, prefix="p_1:") == 0


def test_the_package_exports_one_public_api():
    public = set(credits.__all__)
    assert {
        "grant",
        "spend",
        "clawback",
        "refund",
        "reserve",
        "capture",
        "release",
        "run_charged",
    } <= public
    assert {
        "LedgerResult",
        "ClawbackResult",
        "HoldResult",
        "CaptureResult",
        "ReleaseResult",
        "Charged",
    } <= public
    assert {"CreditError", "HoldNotActive", "InvalidCapture", "keys"} <= public
    assert {"balance", "available", "recent_entries", "entry_delta", "net_taken_under"} <= public
    assert all(hasattr(credits, name) for name in credits.__all__)
    # Every error is a CreditError and lives in one module.
    errors = [getattr(credits, name) for name in public if name[0].isupper()]
    errors = [e for e in errors if isinstance(e, type) and issubclass(e, Exception)]
    assert {e.__module__ for e in errors} == {"credit_app.credits.errors"}
    assert all(issubclass(e, credits.CreditError) for e in errors)
    # One result vocabulary: every result type says `replayed`.
    for name in ("LedgerResult", "ClawbackResult", "HoldResult", "CaptureResult"):
        assert "replayed" in getattr(credits, name).__dataclass_fields__
    assert "replayed" in credits.ReleaseResult.__dataclass_fields__
    assert "replayed" in credits.Charged.__dataclass_fields__


def test_no_module_reaches_into_the_credit_services_private_names():
    """Everything outside the credits package goes through its public API; inside it, no
    module imports another's private names (holds and charging use ledger's public ones)."""
    root = Path(__file__).resolve().parents[2]
    services = {"credit_app.credits.ledger", "credit_app.credits.holds"}
    offenders = []
    for folder in ("credit_app", "tests", "benchmarks"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module in services:
                    names = [a.name for a in node.names if a.name.startswith("_")]
                    offenders += [f"{path.relative_to(root)}: {n}" for n in names]
    assert offenders == []
