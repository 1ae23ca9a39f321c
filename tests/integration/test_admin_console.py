"""The admin console's services without a browser, on SQLite and PostgreSQL: the audit log
that no code can change, adjustments through the ledger with their audit rows, search,
the customer view, shortfalls written off or recovered from the next paid grant, what a
Stripe event wrote, admin access (role, 12-hour sessions, re-authentication), the
overview's numbers, and reconcile clean after a mix of admin actions and spends."""

import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
import stripe
from sqlalchemy import func, select
from sqlmodel import col

from credit_app import credits, wording
from credit_app.admin import accounts, adjustments, audit, checks, customers, events, metrics
from credit_app.admin import shortfalls as shortfall_service
from credit_app.auth import admin_access, sessions
from credit_app.billing.webhooks import process_event
from credit_app.credits import daily
from credit_app.db import read_scope, session_scope
from credit_app.models import (
    AuditEntry,
    AuthSession,
    CreditLot,
    EntryKind,
    GrantSource,
    LedgerEntry,
    Role,
    Shortfall,
    ShortfallStatus,
    User,
    utcnow,
)
from tests import async_run
from tests import stripe_payloads as sp
from tests.factories import make_user
from tests.integration.test_webhook_outcomes import StubStripe

CLI = audit.Actor.cli()


def _audit_rows(engine, **where) -> list[audit.AuditRow]:
    with read_scope(engine) as session:
        return audit.entries(session, where=audit.AuditFilter(**where), limit=500)


def _entries(engine, user_id) -> list[tuple[str, int]]:
    with read_scope(engine) as session:
        rows = session.execute(
            select(col(LedgerEntry.kind), col(LedgerEntry.delta))
            .where(col(LedgerEntry.user_id) == user_id)
            .order_by(col(LedgerEntry.id))
        ).all()
    return [(kind, delta) for kind, delta in rows]


def _adjust(engine, user_id, delta, *, key=None, take_available=False, expires_at=None):
    with session_scope(engine) as session:
        return adjustments.adjust_credits(
            session,
            actor=CLI,
            user_id=user_id,
            delta=delta,
            reason="Goodwill for the outage",
            key=key or adjustments.new_key(),
            expires_at=expires_at,
            take_available=take_available,
            now=utcnow(),
        )


def _reconciled(engine) -> list:
    with session_scope(engine) as session:
        return checks.reconcile(session, actor=CLI, now=utcnow())


# --- the audit log ----------------------------------------------------------------------


def test_audit_rows_can_be_neither_updated_nor_deleted(engine):
    user = make_user(engine)
    _adjust(engine, user, 5)
    statements = [
        "UPDATE audit_log SET reason = 'rewritten'",
        "DELETE FROM audit_log",
    ]
    for statement in statements:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), session_scope(engine) as s:
            s.execute(sa.text(statement))
    rows = _audit_rows(engine, target_user_id=user)
    assert [(r.action, r.reason) for r in rows] == [("grant", "Goodwill for the outage")]


def test_the_audit_module_has_no_code_path_that_changes_a_row():
    """Only `record` writes, and it only inserts: no update() or delete() of AuditEntry
    anywhere in the app (the triggers above refuse them anyway)."""
    from pathlib import Path

    root = Path(__file__).parents[2] / "credit_app"
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "update(AuditEntry" not in text and "delete(AuditEntry" not in text, path


# --- adjustments ------------------------------------------------------------------------


def test_a_grant_is_an_adjust_entry_with_an_audit_row_and_repeats_once(engine):
    user = make_user(engine)
    key = adjustments.new_key()
    first = _adjust(engine, user, 50, key=key)
    again = _adjust(engine, user, 50, key=key)
    assert (first.balance_before, first.balance_after, first.replayed) == (100, 150, False)
    assert (again.entry_id, again.replayed) == (first.entry_id, True)
    assert _entries(engine, user) == [("grant", 100), ("adjust", 50)]
    assert wording.kind_word(EntryKind.ADJUST) == "Adjusted by support"
    (row,) = _audit_rows(engine, target_user_id=user)
    assert row.action == "grant" and row.actor.startswith("cli (")
    assert json.loads(row.before or "") == {"balance": 100}
    assert json.loads(row.after or "")["balance"] == 150
    assert row.target_ref == f"entry:{first.entry_id}"
    # The ledger entry names no operator and carries no reason: the audit row does.
    with read_scope(engine) as session:
        entry = session.get(LedgerEntry, first.entry_id)
        assert entry is not None and entry.description is None


def test_promotional_credits_expire_when_the_operator_said(engine):
    user = make_user(engine)
    until = utcnow() + timedelta(days=7)
    _adjust(engine, user, 30, expires_at=until)
    with read_scope(engine) as session:
        lot = session.scalars(
            select(CreditLot).where(
                col(CreditLot.user_id) == user, col(CreditLot.source) == GrantSource.PROMO
            )
        ).one()
    assert lot.amount == 30 and lot.expires_at is not None
    assert abs((lot.expires_at - until).total_seconds()) < 1
    with pytest.raises(adjustments.AdjustRefused, match="future"):
        _adjust(engine, user, 30, expires_at=utcnow() - timedelta(days=1))


def test_a_deduction_never_goes_below_what_is_available(engine):
    user = make_user(engine)
    with session_scope(engine) as session:
        credits.reserve(session, user_id=user, amount=30, idempotency_key="h1", feature="report")
    # 100 credits, 30 held: 70 available.
    with pytest.raises(adjustments.AdjustRefused, match=r"Only 70 .* \(20 short\)"):
        _adjust(engine, user, -90)
    assert _entries(engine, user) == [("grant", 100)]
    assert _audit_rows(engine, target_user_id=user) == []
    with read_scope(engine) as session:
        planned = adjustments.preview(session, user_id=user, delta=-90, take_available=True)
    assert (planned.delta, planned.balance_after, planned.shortfall) == (-70, 30, 20)

    done = _adjust(engine, user, -90, take_available=True)
    assert (done.delta, done.balance_after) == (-70, 30)
    (row,) = _audit_rows(engine, target_user_id=user)
    assert row.action == "deduct" and json.loads(row.after or "")["shortfall"] == 20
    with pytest.raises(adjustments.AdjustRefused, match="Nothing is available"):
        _adjust(engine, user, -1, take_available=True)
    assert _reconciled(engine) == []


@pytest.mark.parametrize(
    ("delta", "reason", "message"),
    [
        (0, "x", "other than 0"),
        (10, "   ", "Give a reason"),
        (adjustments.MAX_ADJUSTMENT + 1, "x", "at most"),
        (10, "r" * 501, "under 500"),
    ],
)
def test_bad_adjustments_write_nothing(engine, delta, reason, message):
    user = make_user(engine)
    with pytest.raises(adjustments.AdjustRefused, match=message), session_scope(engine) as s:
        adjustments.adjust_credits(
            s,
            actor=CLI,
            user_id=user,
            delta=delta,
            reason=reason,
            key=adjustments.new_key(),
            now=utcnow(),
        )
    assert _entries(engine, user) == [("grant", 100)]
    assert _audit_rows(engine, target_user_id=user) == []


def test_an_unknown_customer_is_refused(engine):
    with pytest.raises(adjustments.AdjustRefused, match="No such customer"):
        _adjust(engine, uuid.uuid4(), 10)


# --- search and the customer view -------------------------------------------------------


def test_search_by_prefix_of_email_or_name_any_case_and_wildcards_are_literal(engine):
    tag = uuid.uuid4().hex[:8]
    ada = make_user(engine, email=f"ada.{tag}@example.com")
    bob = make_user(engine, email=f"bob.{tag}@example.com")
    with session_scope(engine) as session:
        session.get(User, bob).name = f"Zed{tag} Bobson"  # type: ignore[union-attr]
    _adjust(engine, bob, 400)

    def found(query, sort=customers.Sort.BALANCE):
        with read_scope(engine) as session:
            return [r.user_id for r in customers.search(session, query=query, sort=sort).rows]

    assert found(f"ADA.{tag}") == [ada]
    assert found(f"zed{tag}") == [bob]
    assert found(f"{tag}") == []  # a prefix, not a substring
    assert found("%") == [] and found("_") == []
    with read_scope(engine) as session:
        page = customers.search(session, query="", sort=customers.Sort.BALANCE)
    assert page.rows[0].credits >= page.rows[-1].credits


def test_search_pages_say_whether_more_follow(engine):
    tag = uuid.uuid4().hex[:8]
    for n in range(customers.PER_PAGE + 2):
        make_user(engine, email=f"p{tag}-{n:02d}@example.com")
    with read_scope(engine) as session:
        first = customers.search(session, query=f"p{tag}", sort=customers.Sort.JOINED)
        second = customers.search(session, query=f"p{tag}", sort=customers.Sort.JOINED, page=2)
    assert (len(first.rows), first.has_more) == (customers.PER_PAGE, True)
    assert (len(second.rows), second.has_more) == (2, False)
    assert not {r.user_id for r in first.rows} & {r.user_id for r in second.rows}


def test_last_activity_is_set_by_the_spend_itself(engine):
    user = make_user(engine)
    with read_scope(engine) as session:
        assert session.get(User, user).last_activity_at is None  # type: ignore[union-attr]
    with session_scope(engine) as session:
        credits.spend(session, user_id=user, amount=3, idempotency_key="s1", feature="qr")
    with read_scope(engine) as session:
        spent_at = session.scalar(
            select(col(LedgerEntry.created_at)).where(col(LedgerEntry.idempotency_key) == "s1")
        )
        assert session.get(User, user).last_activity_at == spent_at  # type: ignore[union-attr]


def test_the_customer_view_shows_lots_holds_sessions_and_shortfalls(engine):
    user = make_user(engine)
    with session_scope(engine) as session:
        sessions.create_session(session, user_id=user, ttl=timedelta(hours=1))
        credits.reserve(session, user_id=user, amount=10, idempotency_key="h", feature="report")
        credits.clawback(session, user_id=user, amount=120, idempotency_key="cb", description="t")
    with read_scope(engine) as session:
        view = customers.customer_view(session, user_id=user, now=utcnow())
        assert customers.customer_view(session, user_id=uuid.uuid4(), now=utcnow()) is None
    assert view is not None
    assert (view.credits, view.held, view.available) == (10, 10, 0)
    assert [h.amount for h in view.holds] == [10]
    assert len(view.sessions) == 1
    assert [(s.credits, s.status) for s in view.shortfalls] == [(30, "open")]
    assert sum(lot.credits for lot in view.lots) == 10
    assert view.subscription is None and view.auto_topup.enabled is False


# --- shortfalls -------------------------------------------------------------------------


def _shortfall(engine, user, amount=130) -> int:
    with session_scope(engine) as session:
        credits.clawback(
            session,
            user_id=user,
            amount=amount,
            idempotency_key=f"cb-{uuid.uuid4()}",
            description="refund",
        )
        return session.scalars(
            select(col(Shortfall.id)).where(col(Shortfall.user_id) == user)
        ).one()


def _paid_pack(engine, user, amount, key=None):
    with session_scope(engine) as session:
        return credits.grant(
            session,
            user_id=user,
            amount=amount,
            idempotency_key=key or f"stripe:payment:pi_{uuid.uuid4().hex}",
            source=GrantSource.PACK,
        )


def test_write_off_is_audited_and_final(engine):
    user = make_user(engine)
    shortfall = _shortfall(engine, user)
    with session_scope(engine) as session:
        shortfall_service.write_off(
            session, actor=CLI, shortfall_id=shortfall, reason="Small amount", now=utcnow()
        )
    with (
        pytest.raises(adjustments.AdjustRefused, match="already written off"),
        session_scope(engine) as session,
    ):
        shortfall_service.recover(
            session, actor=CLI, shortfall_id=shortfall, reason="x", now=utcnow()
        )
    _paid_pack(engine, user, 500)
    assert [k for k, _ in _entries(engine, user)] == ["grant", "clawback", "grant"]
    (row,) = _audit_rows(engine, action="write_off")[:1]
    assert row.target_user_id == user and row.target_ref == f"shortfall:{shortfall}"


def test_recover_takes_the_shortfall_from_the_next_paid_grants_once(engine):
    user = make_user(engine)
    shortfall = _shortfall(engine, user, amount=130)  # 100 taken, 30 short
    # A free grant (an operator's) recovers nothing: only paid grants do.
    with session_scope(engine) as session:
        shortfall_service.recover(
            session, actor=CLI, shortfall_id=shortfall, reason="Refund abuse", now=utcnow()
        )
    _adjust(engine, user, 5)
    _paid_pack(engine, user, 20)  # recovers 20 of 30
    key = f"stripe:payment:pi_{uuid.uuid4().hex}"
    _paid_pack(engine, user, 500, key=key)  # recovers the last 10
    _paid_pack(engine, user, 500, key=key)  # the same payment again: nothing more
    _paid_pack(engine, user, 100)  # nothing left to recover
    assert _entries(engine, user) == [
        ("grant", 100),
        ("clawback", -100),
        ("adjust", 5),
        ("grant", 20),
        ("recover", -20),
        ("grant", 500),
        ("recover", -10),
        ("grant", 100),
    ]
    with read_scope(engine) as session:
        row = session.get(Shortfall, shortfall)
        assert row is not None
        assert (row.status, row.recovered, row.settled_at is not None) == (
            ShortfallStatus.RECOVERED,
            30,
            True,
        )
    assert wording.kind_word(EntryKind.RECOVER) == wording.kind_word(EntryKind.CLAWBACK)
    assert _reconciled(engine) == []


# --- Stripe events ----------------------------------------------------------------------


def test_a_failed_event_shows_for_a_day_and_its_replay_lands_once_and_is_audited(engine, buyer):
    user_id, customer = buyer
    user = uuid.UUID(user_id)
    sub = sp.subscription(user_id, customer, "pro_monthly")
    paid = sp.event("invoice.paid", sp.invoice(sub, amount=1200))
    down = StubStripe(fail=stripe.APIConnectionError("connection reset by peer"))
    assert async_run.run(process_event(down, paid, livemode=False, engine=engine)).outcome == (
        "failed"
    )
    with read_scope(engine) as session:
        assert events.failed_recently(session, now=utcnow()) == 1
        assert events.failed_recently(session, now=utcnow() + timedelta(days=2)) == 0
        failed = events.list_events(session, where=events.EventFilter(outcome="failed"))
        nothing_yet = events.event_detail(session, event_id=paid["id"])
    assert [r.id for r in failed.rows] == [paid["id"]] and failed.rows[0].replayable
    assert nothing_yet is not None and nothing_yet.entries == []

    up = StubStripe(subscriptions=[sub])
    replayed = async_run.run(
        events.replay(up, actor=CLI, event_id=paid["id"], livemode=False, engine=engine)
    )
    again = async_run.run(
        events.replay(up, actor=CLI, event_id=paid["id"], livemode=False, engine=engine)
    )
    assert (replayed.outcome, again.outcome) == ("applied", "duplicate")
    assert _entries(engine, user) == [("grant", 100), ("grant", 1000)]
    with read_scope(engine) as session:
        detail = events.event_detail(session, event_id=paid["id"])
        listed = events.list_events(session, where=events.EventFilter(user_id=user))
        assert events.failed_recently(session, now=utcnow()) == 0
    assert detail is not None
    assert [(e.kind, e.delta) for e in detail.entries] == [("grant", 1000)]
    assert json.loads(detail.payload)["id"] == paid["id"]
    assert [r.id for r in listed.rows] == [paid["id"]]
    rows = _audit_rows(engine, action="replay")
    assert [(json.loads(r.before or ""), json.loads(r.after or "")["outcome"]) for r in rows] == [
        ({"outcome": "applied"}, "duplicate"),
        ({"outcome": "failed"}, "applied"),
    ]
    assert rows[0].target_user_id == user and rows[0].target_ref == paid["id"]


# --- admin access -----------------------------------------------------------------------


def _admin_session(engine, *, admin=True) -> tuple[uuid.UUID, str]:
    user = make_user(engine)
    with session_scope(engine) as session:
        if admin:
            accounts.set_admin(
                session, actor=CLI, user_id=user, admin=True, reason="ops", now=utcnow()
            )
        token = sessions.create_session(session, user_id=user, ttl=timedelta(days=30))
    return user, token


def _access(engine, token, now=None):
    with read_scope(engine) as session:
        return admin_access.admin_access(session, token, now=now or utcnow())


def test_admin_access_needs_the_role_a_live_session_and_ends_after_12_hours(engine):
    _, token = _admin_session(engine, admin=False)
    assert _access(engine, token) is None
    admin, token = _admin_session(engine)
    access = _access(engine, token)
    assert access is not None and access.admin_id == admin and not access.reauthenticated
    assert _access(engine, token, utcnow() + timedelta(hours=12, minutes=1)) is None
    assert _access(engine, "not-a-token") is None and _access(engine, "") is None
    # Revoked mid-session: the next check says no.
    with session_scope(engine) as session:
        assert accounts.set_admin(
            session, actor=CLI, user_id=admin, admin=False, reason="left", now=utcnow()
        )
    assert _access(engine, token) is None
    actions = [r.action for r in _audit_rows(engine, target_user_id=admin)]
    assert actions == ["revoke_admin", "make_admin"]


def test_reauthentication_lasts_ten_minutes(engine, app_db):
    _, token = _admin_session(engine)
    wrong = async_run.run(admin_access.reauthenticate(token, "wrong", client="t"))
    assert wrong and not _access(engine, token).reauthenticated
    assert (
        async_run.run(admin_access.reauthenticate(token, "correct horse battery", client="t")) == ""
    )
    assert _access(engine, token).reauthenticated
    assert not _access(engine, token, utcnow() + timedelta(minutes=11)).reauthenticated


def test_signing_a_customer_out_everywhere_is_audited(engine):
    admin, _ = _admin_session(engine)
    user, _ = _admin_session(engine, admin=False)
    with session_scope(engine) as session:
        revoked = accounts.revoke_sessions(
            session, actor=audit.Actor.admin(admin), user_id=user, reason="Stolen", now=utcnow()
        )
    assert revoked == 1
    with read_scope(engine) as session:
        live = session.scalar(
            select(func.count()).where(
                col(AuthSession.user_id) == user, col(AuthSession.revoked_at).is_(None)
            )
        )
    assert live == 0
    (row,) = _audit_rows(engine, target_user_id=user, action="revoke_sessions")
    assert row.actor_user_id == admin and row.reason == "Stolen"


# --- the overview -----------------------------------------------------------------------


def test_the_overview_is_computed_from_the_tables(engine):
    with read_scope(engine) as session:
        before = metrics.overview(session, days=30, now=utcnow())
    user = make_user(engine)
    with session_scope(engine) as session:
        credits.spend(session, user_id=user, amount=7, idempotency_key="o1", feature="qr")
    _adjust(engine, user, 11)
    with session_scope(engine) as session:
        checks.reconcile(session, actor=CLI, now=utcnow())
        after = metrics.overview(session, days=30, now=utcnow())
    assert len(after.days) == 30 and after.days[-1].day == utcnow().date().isoformat()
    for name, grown in (("granted", 100), ("spent", 7), ("adjusted", 11), ("signups", 1)):
        assert after.totals[name] - before.totals[name] == grown, name
    assert dict(after.top_tools).get("qr", 0) - dict(before.top_tools).get("qr", 0) == 7
    assert after.reconcile_at is not None and after.reconcile_drift == 0
    with read_scope(engine) as session:
        assert len(metrics.overview(session, days=90, now=utcnow()).days) == 90


def test_reconcile_is_clean_after_a_mix_of_admin_actions_and_spends(engine):
    user = make_user(engine)
    with session_scope(engine) as session:
        credits.spend(session, user_id=user, amount=40, idempotency_key="m1", feature="qr")
        credits.reserve(session, user_id=user, amount=20, idempotency_key="m2", feature="report")
    _adjust(engine, user, 25, expires_at=utcnow() + timedelta(days=1))
    _adjust(engine, user, -100, take_available=True)  # 65 available of 85
    shortfall = _shortfall(engine, user, amount=50)
    with session_scope(engine) as session:
        shortfall_service.recover(
            session, actor=CLI, shortfall_id=shortfall, reason="r", now=utcnow()
        )
    _paid_pack(engine, user, 500)
    with session_scope(engine) as session:
        credits.spend(session, user_id=user, amount=9, idempotency_key="m3", feature="qr")
    assert _reconciled(engine) == []
    with read_scope(engine) as session:
        role = session.scalar(select(col(User.role)).where(col(User.id) == user))
        audited = session.scalar(select(func.count()).where(col(AuditEntry.target_user_id) == user))
    assert role == Role.USER and audited == 3  # grant, deduct, recover


def test_daily_totals_agree_with_the_ledger_and_reconcile_checks_them(engine):
    user = make_user(engine)
    with session_scope(engine) as session:
        credits.spend(session, user_id=user, amount=7, idempotency_key="d1", feature="qr")
        live = metrics.overview(session, days=30, now=utcnow())
    later = utcnow() + daily.LAG + timedelta(seconds=1)
    with session_scope(engine) as session:
        assert daily.roll_up(session, now=later) >= 2
        assert daily.roll_up(session, now=later) == 0  # nothing new: nothing added twice
    with session_scope(engine) as session:
        credits.spend(session, user_id=user, amount=5, idempotency_key="d2", feature="qr")
        rolled = metrics.overview(session, days=30, now=utcnow())
    # The rolled-up days plus the live rest give the same numbers as counting it all live.
    assert rolled.totals["spent"] - live.totals["spent"] == 5
    assert rolled.totals["granted"] == live.totals["granted"]
    assert _reconciled(engine) == []

    with session_scope(engine) as session:
        session.execute(sa.text("UPDATE ledger_daily SET credits = credits + 1"))
    drift = _reconciled(engine)
    assert drift and "credit-app rollup --rebuild" in drift[0].describe()
    with session_scope(engine) as session:
        daily.rebuild(session, now=later)
    assert _reconciled(engine) == []


def test_credits_past_their_date_are_not_offered_for_deduction(engine):
    user = make_user(engine)  # 100 welcome credits (they expire in 30 days)
    soon = utcnow() + timedelta(days=1)
    with session_scope(engine) as session:
        credits.grant(
            session,
            user_id=user,
            amount=40,
            idempotency_key="promo-soon",
            source=GrantSource.PROMO,
            terms=credits.LotTerms(expires_at=soon),
        )
    later = soon + timedelta(hours=1)  # the 40 are past their date, not expired yet
    with read_scope(engine) as session:
        planned = adjustments.preview(
            session, user_id=user, delta=-140, take_available=True, now=later
        )
    assert (planned.available, planned.delta, planned.shortfall) == (100, -100, 40)
    with session_scope(engine) as session:
        done = adjustments.adjust_credits(
            session,
            actor=CLI,
            user_id=user,
            delta=-140,
            reason="Fraud",
            key=adjustments.new_key(),
            take_available=True,
            now=later,
        )
    assert (done.delta, done.balance_after) == (-100, 0)
    assert [k for k, _ in _entries(engine, user)] == ["grant", "grant", "expire", "adjust"]
    assert _reconciled(engine) == []


def test_an_auto_top_up_pack_recovers_nothing(engine):
    """Its credits must lift the balance over the threshold, or the next charge starts."""
    user = make_user(engine)
    shortfall = _shortfall(engine, user, amount=130)
    with session_scope(engine) as session:
        shortfall_service.recover(
            session, actor=CLI, shortfall_id=shortfall, reason="r", now=utcnow()
        )
        credits.grant(
            session,
            user_id=user,
            amount=500,
            idempotency_key="stripe:payment:pi_topup",
            source=GrantSource.PACK,
            recover_shortfalls=False,
        )
    assert _entries(engine, user)[-1] == ("grant", 500)
    _paid_pack(engine, user, 50)  # the next paid grant does
    assert _entries(engine, user)[-1] == ("recover", -30)
