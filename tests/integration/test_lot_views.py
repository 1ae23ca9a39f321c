"""What pages read of credit lots (credits.lot_views) and the monthly spending limit
(credits.limits), against the real ledger on SQLite and PostgreSQL:

- the balance split by kind and expiry date, in the order spends use it, without lots past
  their date, with the part pinned by a running hold;
- "expiring soon": free credits whose date is within 3 days, boundaries included/excluded;
- which lots paid for an entry, and nothing at all for someone else's entry;
- setting a limit counts the month so far in the person's zone (spends, captures, refunds,
  active holds reserved this month), and the month rolls over at their midnight.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from credit_app import credits
from credit_app.billing import account
from credit_app.credits import limits, lot_views
from credit_app.credits.lot_views import LotGroup
from credit_app.db import read_scope, session_scope
from credit_app.models import GrantSource, LedgerEntry, User
from tests.factories import make_user

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DEC_3 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
DEC_26 = datetime(2026, 12, 26, 0, 0, tzinfo=UTC)


def _grant(engine, user_id, amount, source, expires_at=None, now=NOW) -> int:
    with session_scope(engine) as session:
        return credits.grant(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=uuid.uuid4().hex,
            source=source,
            terms=credits.LotTerms(expires_at=expires_at),
            now=now,
        ).entry_id


def _spend(engine, user_id, amount, now=NOW, feature="qr") -> int:
    with session_scope(engine) as session:
        return credits.spend(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=uuid.uuid4().hex,
            feature=feature,
            now=now,
        ).entry_id


def _dated(engine, entry_id: int, when: datetime) -> None:
    """Move an entry's time (the ledger stamps the real clock; the month is a test's)."""
    with session_scope(engine) as session:
        session.get(LedgerEntry, entry_id).created_at = when


def _user(engine, credits_: int = 100) -> uuid.UUID:
    """A user whose `credits_` never expire (pack credits), whatever sign-up gives."""
    user_id = make_user(engine, initial_credits=0)
    if credits_:
        _grant(engine, user_id, credits_, GrantSource.PACK)
    return user_id


def _split(engine, user_id, now=NOW) -> list[LotGroup]:
    with read_scope(engine) as session:
        return lot_views.balance_by_lot(session, user_id=user_id, now=now)


def _soon(engine, user_id, now=NOW) -> list[LotGroup]:
    with read_scope(engine) as session:
        return lot_views.expiring_soon(session, user_id=user_id, now=now)


@pytest.fixture
def customer(engine) -> uuid.UUID:
    """100 welcome credits (here: never expire), 600 + 400 plan credits expiring Dec 26 (one
    kind and date: one group), 500 pack credits (never), 40 bonus credits expiring Dec 3."""
    user_id = make_user(engine, initial_credits=0)
    _grant(engine, user_id, 100, GrantSource.SIGNUP)
    _grant(engine, user_id, 600, GrantSource.SUBSCRIPTION, DEC_26)
    _grant(engine, user_id, 400, GrantSource.SUBSCRIPTION, DEC_26)
    _grant(engine, user_id, 500, GrantSource.PACK)
    _grant(engine, user_id, 40, GrantSource.ADMIN, DEC_3)
    return user_id


def test_the_balance_splits_by_kind_and_date_in_the_order_spends_use_it(engine, customer):
    assert _split(engine, customer) == [
        LotGroup(GrantSource.ADMIN, DEC_3, 40),
        LotGroup(GrantSource.SUBSCRIPTION, DEC_26, 1000),
        LotGroup(GrantSource.SIGNUP, None, 100),  # never expire; welcome before pack
        LotGroup(GrantSource.PACK, None, 500),
    ]
    # A spend takes from the soonest date first: the split follows.
    _spend(engine, customer, 30)
    assert _split(engine, customer)[0] == LotGroup(GrantSource.ADMIN, DEC_3, 10)
    with read_scope(engine) as session:
        assert sum(g.credits for g in _split(engine, customer)) == credits.balance(
            session, user_id=customer
        )


def test_lots_past_their_date_and_empty_lots_are_not_shown(engine, customer):
    # At the Dec 3 lot's own instant it has expired (the ledger's rule: expires_at <= now).
    assert [g.source for g in _split(engine, customer, now=DEC_3)] == [
        GrantSource.SUBSCRIPTION,
        GrantSource.SIGNUP,
        GrantSource.PACK,
    ]
    _spend(engine, customer, 40)  # empties the bonus lot
    assert GrantSource.ADMIN not in [g.source for g in _split(engine, customer)]


def test_a_running_hold_shows_as_held_in_its_lot(engine, customer):
    with session_scope(engine) as session:
        credits.reserve(
            session,
            user_id=customer,
            amount=50,
            idempotency_key=uuid.uuid4().hex,
            feature="report",
            now=NOW,
        )
    split = _split(engine, customer)
    assert split[0] == LotGroup(GrantSource.ADMIN, DEC_3, 40, held=40)
    assert split[1] == LotGroup(GrantSource.SUBSCRIPTION, DEC_26, 1000, held=10)
    assert split[1].available == 990
    # Pinned credits pay for running work: they are not "expiring soon".
    assert _soon(engine, customer) == []


def test_expiring_soon_is_free_credits_within_three_days(engine):
    user_id = _user(engine, 100)
    edge = NOW + timedelta(days=3)
    _grant(engine, user_id, 7, GrantSource.ADMIN, edge)  # exactly 3 days: in
    _grant(engine, user_id, 5, GrantSource.SUBSCRIPTION, edge)  # same date, other kind
    _grant(engine, user_id, 11, GrantSource.ADMIN, edge + timedelta(seconds=1))  # out
    _grant(engine, user_id, 13, GrantSource.ADMIN, NOW + timedelta(hours=1))  # in, soonest
    _grant(engine, user_id, 17, GrantSource.ADMIN, NOW)  # already expired at NOW: out
    assert _soon(engine, user_id) == [
        LotGroup(GrantSource.ADMIN, NOW + timedelta(hours=1), 13),
        LotGroup(GrantSource.ADMIN, edge, 7),
        LotGroup(GrantSource.SUBSCRIPTION, edge, 5),
    ]
    assert _soon(engine, user_id, now=NOW - timedelta(days=5)) == []


def test_an_entry_shows_which_lots_paid_for_it_only_to_its_owner(engine, customer):
    spent = _spend(engine, customer, 1200)
    with read_scope(engine) as session:
        paid = lot_views.paid_from(session, user_id=customer, entry_id=spent)
    assert paid == [
        LotGroup(GrantSource.ADMIN, DEC_3, 40),
        LotGroup(GrantSource.SUBSCRIPTION, DEC_26, 1000),
        LotGroup(GrantSource.SIGNUP, None, 100),
        LotGroup(GrantSource.PACK, None, 60),
    ]
    assert sum(g.credits for g in paid) == 1200

    stranger = _user(engine)
    with read_scope(engine) as session:
        # Another person's entry, an entry that does not exist: nothing, not even "empty".
        assert lot_views.paid_from(session, user_id=stranger, entry_id=spent) is None
        assert lot_views.paid_from(session, user_id=customer, entry_id=10**15) is None
        # A grant took from no lot.
        grant_id = session.scalar(
            select(col(LedgerEntry.id)).where(
                col(LedgerEntry.user_id) == customer, col(LedgerEntry.delta) > 0
            )
        )
        assert lot_views.paid_from(session, user_id=customer, entry_id=grant_id) == []


def test_a_capture_is_paid_by_the_lots_its_hold_pinned(engine, customer):
    with session_scope(engine) as session:
        hold = credits.reserve(
            session,
            user_id=customer,
            amount=60,
            idempotency_key=uuid.uuid4().hex,
            feature="report",
            now=NOW,
        )
    with session_scope(engine) as session:
        captured = credits.capture(
            session, user_id=customer, hold_id=hold.hold_id, amount=45, description="r", now=NOW
        )
    with read_scope(engine) as session:
        entry_id = session.scalar(
            select(col(LedgerEntry.id)).where(
                col(LedgerEntry.user_id) == customer, col(LedgerEntry.kind) == "capture"
            )
        )
        assert captured is not None
        assert lot_views.paid_from(session, user_id=customer, entry_id=entry_id) == [
            LotGroup(GrantSource.ADMIN, DEC_3, 40),
            LotGroup(GrantSource.SUBSCRIPTION, DEC_26, 5),
        ]


def test_the_page_loader_refuses_another_persons_entry(engine):
    owner, stranger = _user(engine), _user(engine)
    spent = _spend(engine, owner, 10)
    assert asyncio.run(account.load_paid_from(stranger, spent, engine=engine)) is None
    mine = asyncio.run(account.load_paid_from(owner, spent, engine=engine))
    assert mine == [LotGroup(GrantSource.PACK, None, 10)]


# --- the monthly spending limit ----------------------------------------------------------

AUCKLAND = "Pacific/Auckland"  # UTC+13 in December (daylight saving time)
# Dec 1 00:00 in Auckland: the month's first instant, the day before in UTC.
DEC_START = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
JAN_START = datetime(2026, 12, 31, 11, 0, tzinfo=UTC)


def _zone(engine, user_id, name: str) -> None:
    with session_scope(engine) as session:
        session.get(User, user_id).time_zone = name


def _hold(engine, user_id, amount, created: datetime) -> int:
    with session_scope(engine) as session:
        return credits.reserve(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=uuid.uuid4().hex,
            feature="report",
            now=created,
        ).hold_id


def test_setting_a_limit_counts_the_month_so_far_in_the_persons_zone(engine):
    user_id = _user(engine, 1000)
    _zone(engine, user_id, AUCKLAND)
    minute = timedelta(minutes=1)
    # In Auckland's December: spends, a capture, a refund, an active hold.
    _dated(engine, _spend(engine, user_id, 30), DEC_START)  # its first instant: counts
    _dated(engine, _spend(engine, user_id, 50), DEC_START - minute)  # November there
    hold = _hold(engine, user_id, 40, DEC_START + minute)
    with session_scope(engine) as session:
        credits.capture(session, user_id=user_id, hold_id=hold, amount=25, description="r")
    capture_id = _latest(engine, user_id)
    _dated(engine, capture_id, DEC_START + 2 * minute)
    with session_scope(engine) as session:
        refund_id = credits.refund(
            session,
            user_id=user_id,
            amount=10,
            idempotency_key=uuid.uuid4().hex,
            feature="qr",
        ).entry_id
    _dated(engine, refund_id, DEC_START + 3 * minute)
    _hold(engine, user_id, 20, DEC_START + 4 * minute)  # active, this month: counts
    _hold(engine, user_id, 15, DEC_START - minute)  # active, reserved last month: not
    released = _hold(engine, user_id, 9, DEC_START + 5 * minute)  # released: not
    with session_scope(engine) as session:
        credits.release(session, user_id=user_id, hold_id=released)

    with session_scope(engine) as session:
        status = limits.set_spend_limit(session, user_id=user_id, limit=100, now=NOW)
    # 30 + 25 - 10 + 20
    assert (status.limit, status.used, status.resets_at) == (100, 65, JAN_START)
    with read_scope(engine) as session:
        assert limits.limit_status(session, user_id=user_id, now=NOW) == status
        user = session.get(User, user_id)
        assert (user.spend_limit, user.limit_used) == (100, 65)
        assert (user.limit_month_start, user.limit_month_end) == (DEC_START, JAN_START)

    # The ledger refuses past it with the numbers the tools page shows.
    with pytest.raises(credits.SpendingLimitReached) as refused:
        _spend(engine, user_id, 36)
    assert (refused.value.limit, refused.value.used, refused.value.required) == (100, 65, 36)
    assert isinstance(refused.value, credits.InsufficientCredits)
    _spend(engine, user_id, 35)
    with read_scope(engine) as session:
        assert limits.limit_status(session, user_id=user_id, now=NOW).used == 100


def _latest(engine, user_id) -> int:
    with read_scope(engine) as session:
        return session.scalar(
            select(col(LedgerEntry.id))
            .where(col(LedgerEntry.user_id) == user_id)
            .order_by(col(LedgerEntry.id).desc())
            .limit(1)
        )


def test_refunds_never_take_the_count_below_zero(engine):
    user_id = _user(engine, 100)
    with session_scope(engine) as session:
        credits.refund(
            session, user_id=user_id, amount=30, idempotency_key=uuid.uuid4().hex, feature="qr"
        )
    with session_scope(engine) as session:
        status = limits.set_spend_limit(session, user_id=user_id, limit=50, now=datetime.now(UTC))
    assert status.used == 0


def test_the_month_rolls_over_at_the_persons_midnight(engine):
    user_id = _user(engine, 500)
    _zone(engine, user_id, AUCKLAND)
    with session_scope(engine) as session:
        limits.set_spend_limit(session, user_id=user_id, limit=100, now=NOW)
    _spend(engine, user_id, 60, now=NOW)
    with read_scope(engine) as session:
        assert limits.limit_status(session, user_id=user_id, now=NOW).used == 60
        # Dec 31 23:59 in Auckland: still December.
        last = limits.limit_status(session, user_id=user_id, now=JAN_START - timedelta(seconds=1))
        assert (last.used, last.resets_at) == (60, JAN_START)
        # Jan 1 00:00 in Auckland (still Dec 31 in UTC): a new month, nothing used yet.
        new = limits.limit_status(session, user_id=user_id, now=JAN_START)
        assert new.used == 0
        assert new.resets_at == datetime(2027, 1, 31, 11, 0, tzinfo=UTC)
    # And the ledger agrees: the whole limit is there again in the new month.
    _spend(engine, user_id, 100, now=JAN_START + timedelta(minutes=1))


def test_removing_and_refusing_limits(engine):
    user_id = _user(engine)
    with session_scope(engine) as session:
        limits.set_spend_limit(session, user_id=user_id, limit=10, now=NOW)
    with session_scope(engine) as session:
        removed = limits.set_spend_limit(session, user_id=user_id, limit=None, now=NOW)
    assert removed.limit is None
    _spend(engine, user_id, 50)  # no limit any more
    for bad in (0, -1, limits.MAX_LIMIT + 1, True, 1.5, "10"):
        with pytest.raises(limits.InvalidLimit), session_scope(engine) as session:
            limits.set_spend_limit(session, user_id=user_id, limit=bad, now=NOW)  # type: ignore[arg-type]
    with read_scope(engine) as session:
        assert session.get(User, user_id).spend_limit is None  # nothing was written
    with pytest.raises(credits.UnknownUser), session_scope(engine) as session:
        limits.set_spend_limit(session, user_id=uuid.uuid4(), limit=5, now=NOW)


def test_the_page_service_checks_what_was_typed_and_writes_nothing_on_bad_input(engine):
    user_id = _user(engine)

    def change(typed):
        return asyncio.run(account.change_spend_limit(user_id, typed, now=NOW, engine=engine))

    def stored():
        return asyncio.run(account.load_spend_limit(user_id, now=NOW, engine=engine)).limit

    for typed, message in (
        ("", limits.WHOLE_NUMBER),
        ("1.5", limits.WHOLE_NUMBER),
        ("-3", limits.WHOLE_NUMBER),
        ("1e3", limits.WHOLE_NUMBER),
        ("0", limits.TOO_LOW),
        ("10,000,001", limits.TOO_HIGH),
    ):
        outcome = change(typed)
        assert (outcome.ok, outcome.error) == (False, message), typed
        assert stored() is None
    outcome = change("1,000")
    assert outcome.ok and outcome.status is not None and outcome.status.limit == 1000
    assert stored() == 1000
    assert change(None).ok
    assert stored() is None


@pytest.mark.parametrize("typed", ["1000", " 1000 ", "1,000", "1 000"])
def test_a_limit_may_be_typed_with_grouped_thousands(typed):
    assert limits.parse_limit(typed) == 1000
