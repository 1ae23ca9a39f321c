"""Credit lots driven at random against an in-memory model, on SQLite and PostgreSQL.

A hypothesis state machine plays, for 1-3 users in any order: grants of every source
(welcome, admin, plan with an expiry and sometimes a rollover, its monthly drips, packs,
won disputes), spends (sometimes repeating a key), holds (reserve, partial capture,
release, stale expiry), lot expiry (the job, and spends after the clock passed a date),
take-backs preferring a payment's lots, tool refunds, a monthly spending limit, and a
clock that only moves forward (every service gets `now=`).

The model is small: each user's lots (amount, remaining, reserved, expiry, burn rank),
holds with their pins, the EXPIRE entries written, the limit's count. After every step
the database must agree with it exactly: the balance, what is held, every lot, which lots
paid each spend / capture / take-back (lot_allocations), which lots expired and by how
much, the limit's count; and the ledger's own invariants hold (1: balance == sum of
deltas; 2: nothing negative, credits >= held, spends refused exactly when the model says
and for the reason it says; 4: a repeated key changes nothing and answers as before;
5: lots add up to the balance and the holds), with every reconcile check empty.

One database per backend serves every example (each example makes its own users); the
expiring lots an example leaves behind are expired at its end, so the expiry job of the
next one sees only its own users.
"""

import copy
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from credit_app import credits, zones
from credit_app.credits import keys, ledger
from credit_app.credits.lots import PRIORITY
from credit_app.db import read_scope, session_scope
from credit_app.models import (
    CreditLot,
    EntryKind,
    GrantSource,
    Hold,
    HoldStatus,
    LedgerEntry,
    LotAllocation,
    LotReservation,
    User,
)
from tests.factories import make_user

# Tuned so both backends together run for about a minute (40 steps at most per example).
EXAMPLES = {"sqlite": 85, "postgresql": 65}
STEPS = 40

# A fixed clock (reproducible runs) that stays before the wall clock: a ledger entry's
# created_at is the wall clock, and a refund gives credits back to this month's limit when
# the refunded spend's created_at is in the limit month (ledger.refund).
START = datetime(2025, 1, 20, 9, 30, tzinfo=UTC)
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)
TOOL = "lots"
USER = st.integers(0, 2)
PICK = st.integers(0, 1000)
AMOUNT = st.integers(1, 25)
TICKS = [timedelta(minutes=1), timedelta(minutes=11), timedelta(hours=5)]
DAYS = st.integers(0, 14)  # expiry dates, in days from today's midnight
TTLS = [timedelta(minutes=5), timedelta(hours=2), timedelta(days=4)]


@dataclass
class MLot:
    id: int
    source: str
    priority: int
    amount: int
    remaining: int
    expires_at: datetime | None
    rollover_max: int | None = None
    rollover_until: datetime | None = None
    key: str | None = None  # the key of the entry that opened it (None: a rollover)
    reserved: int = 0

    @property
    def free(self) -> int:
        return self.remaining - self.reserved

    def burn(self) -> tuple:
        return (self.expires_at is None, self.expires_at or START, self.priority, self.id)

    def row(self) -> tuple:
        return (
            self.source,
            self.priority,
            self.amount,
            self.remaining,
            self.reserved,
            self.expires_at,
            self.rollover_max,
            self.rollover_until,
        )


@dataclass
class MSpend:
    key: str
    amount: int
    result: credits.LedgerResult
    draws: dict[int, int]
    refund: tuple[int, credits.LedgerResult] | None = None  # (amount, result)


@dataclass
class MHold:
    id: int
    key: str
    amount: int
    created_at: datetime
    expires_at: datetime
    pins: dict[int, int]
    status: str = HoldStatus.ACTIVE
    captured: int | None = None
    capture_result: credits.CaptureResult | None = None


@dataclass
class MClawback:
    key: str
    amount: int
    prefer: str | None
    result: credits.ClawbackResult
    draws: dict[int, int]
    dispute: bool
    restored: bool = False


@dataclass
class MUser:
    id: uuid.UUID
    lots: dict[int, MLot] = field(default_factory=dict)
    credits: int = 0
    held: int = 0
    limit: int | None = None
    used: int = 0
    month_start: datetime | None = None
    month_end: datetime | None = None
    # EXPIRE entries written: key -> delta.
    expired: dict[str, int] = field(default_factory=dict)
    # Rollovers written by the last step, resolved to their lot ids after it: (parent, lot).
    rolled: list[tuple[int, MLot]] = field(default_factory=list)
    grant_keys: list[str] = field(default_factory=list)
    invoices: dict[str, int] = field(default_factory=dict)  # invoice id -> next drip month
    spends: list[MSpend] = field(default_factory=list)
    holds: list[MHold] = field(default_factory=list)
    clawbacks: list[MClawback] = field(default_factory=list)

    @property
    def available(self) -> int:
        return self.credits - self.held

    def ordered(self, prefer: str | None = None) -> list[MLot]:
        lots = [lot for lot in self.lots.values() if lot.free > 0]

        def rank(lot: MLot) -> tuple:
            preferred = (
                prefer is not None
                and lot.key is not None
                and (lot.key == prefer or lot.key.startswith(f"{prefer}:"))
            )
            return (not preferred, *lot.burn())

        return sorted(lots, key=rank)

    def take(self, amount: int, prefer: str | None = None, pin: bool = False) -> dict[int, int]:
        """Take `amount` free credits in the burn order (the preferred lots first)."""
        taken: dict[int, int] = {}
        left = amount
        for lot in self.ordered(prefer):
            if left == 0:
                break
            part = min(lot.free, left)
            taken[lot.id] = part
            left -= part
            if pin:
                lot.reserved += part
            else:
                lot.remaining -= part
        assert left == 0, "the model's lots do not cover the amount"
        return taken

    def expire_due(self, now: datetime) -> int:
        """ledger.expire_due: every lot past its date gives up its free credits (a plan
        lot's rollover first moves up to its cap to a new lot)."""
        due = [
            lot
            for lot in self.lots.values()
            if lot.free > 0 and lot.expires_at is not None and lot.expires_at <= now
        ]
        total = 0
        for lot in sorted(due, key=MLot.burn):
            left = lot.free
            if lot.rollover_max and lot.rollover_until and lot.rollover_until > now:
                carried = min(left, lot.rollover_max)
                rolled = MLot(
                    id=-1,
                    source=lot.source,
                    priority=lot.priority,
                    amount=carried,
                    remaining=carried,
                    expires_at=lot.rollover_until,
                )
                self.rolled.append((lot.id, rolled))
                lot.remaining -= carried
                left -= carried
            if left:
                key = keys.lot_expiry(lot.id)
                assert key not in self.expired, f"the model would expire lot {lot.id} twice"
                self.expired[key] = -left
                lot.remaining -= left
                self.credits -= left
                total += left
        return total

    def clear_the_way(self, now: datetime) -> None:
        """What a spend or a reservation does first (ledger._clear_the_way)."""
        self.expire_due(now)
        if self.limit is not None and (self.month_end is None or self.month_end <= now):
            self.start_month(now)

    def start_month(self, now: datetime) -> None:
        self.used = 0
        self.month_start = zones.month_start(now, UTC)
        self.month_end = zones.next_month_start(now, UTC)

    def allows(self, amount: int) -> bool:
        return self.available >= amount and (self.limit is None or self.used + amount <= self.limit)

    def refusal_for(self, amount: int) -> type:
        if self.available < amount or self.limit is None:
            return credits.InsufficientCredits
        return credits.SpendingLimitReached

    def count(self, amount: int) -> None:
        if self.limit is not None:
            self.used += amount

    def give_back(self, amount: int, used_at: datetime) -> None:
        if self.limit is not None and self.month_start is not None and self.month_start <= used_at:
            self.used = max(0, self.used - amount)

    def unpinned(self, hold: MHold, pins: dict[int, int], now: datetime) -> None:
        """ledger.expire_unpinned: credits a hold gave back in a lot past its date expire."""
        for lot_id, credits_back in pins.items():
            lot = self.lots[lot_id]
            if lot.expires_at is not None and lot.expires_at <= now:
                left = min(credits_back, lot.free)
                if left:
                    key = keys.lot_expiry_after_hold(lot_id, hold.id)
                    assert key not in self.expired
                    self.expired[key] = -left
                    lot.remaining -= left
                    self.credits -= left

    def settle(self, hold: MHold, status: str, now: datetime) -> None:
        """holds._settle: a release or a stale expiry."""
        self.held -= hold.amount
        hold.status = status
        self.give_back(hold.amount, hold.created_at)
        for lot_id, pinned in hold.pins.items():
            self.lots[lot_id].reserved -= pinned
        self.unpinned(hold, hold.pins, now)


def returned_candidates(user: MUser, draws: dict[int, int]) -> list[MLot]:
    """lots.open_returned_lot: the latest-expiring lots the taking entry drew from (never
    expiring first). Several can tie; the ledger takes one of them."""
    taken = [user.lots[lot_id] for lot_id in draws]
    if not taken:
        return []
    never = [lot for lot in taken if lot.expires_at is None]
    if never:
        return never
    latest = max(lot.expires_at for lot in taken if lot.expires_at is not None)
    return [lot for lot in taken if lot.expires_at == latest]


def _allocations(session, entry_id: int) -> dict[int, int]:
    rows = session.execute(
        select(LotAllocation.lot_id, func.sum(LotAllocation.credits))
        .where(LotAllocation.entry_id == entry_id)
        .group_by(LotAllocation.lot_id)
    ).all()
    return {lot_id: int(credits_) for lot_id, credits_ in rows}


class LotsMachine(RuleBasedStateMachine):
    engine = None  # set per backend by the test

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.users: list[MUser] = []
        self.run = uuid.uuid4().hex[:12]
        self.serial = 0

    # --- helpers -------------------------------------------------------------------------

    def user(self, index: int) -> MUser:
        return self.users[index % len(self.users)]

    def new_key(self, kind: str) -> str:
        self.serial += 1
        return f"{kind}-{self.run}-{self.serial}"

    def tool_key(self, user: MUser) -> str:
        return keys.tool_action(user.id, TOOL, keys.new_action_id())

    def expiry(self, days: int) -> datetime:
        # Dates on whole days from today's midnight: lots often share one, so the burn
        # order's later rules (rank, then age) decide.
        midnight = self.now.replace(hour=0, minute=0, second=0)
        return midnight + timedelta(days=days)

    def snapshot(self, user: MUser) -> MUser:
        return copy.deepcopy(user)

    def restore(self, user: MUser, saved: MUser) -> None:
        self.users[self.users.index(user)] = saved

    def resolve_rollovers(self, user: MUser) -> None:
        if not user.rolled:
            return
        with read_scope(self.engine) as session:
            for parent, lot in user.rolled:
                ids = session.scalars(
                    select(CreditLot.id).where(
                        CreditLot.parent_lot_id == parent, CreditLot.entry_id.is_(None)
                    )
                ).all()
                assert len(ids) == 1, f"lot {parent} rolled over into {ids}"
                lot.id = ids[0]
                user.lots[lot.id] = lot
        user.rolled = []

    def opened_lot(self, session, entry_id: int) -> CreditLot:
        lots = session.scalars(select(CreditLot).where(CreditLot.entry_id == entry_id)).all()
        assert len(lots) == 1, f"entry {entry_id} opened {len(lots)} lots"
        return lots[0]

    def add_granted(
        self,
        user: MUser,
        result: credits.LedgerResult,
        *,
        key: str,
        source: str,
        terms: credits.LotTerms,
        candidates: list[MLot] | None = None,
        fallback_source: str | None = None,
    ) -> None:
        """The lot an entry that added credits opened, checked against what it should be:
        on `terms`, or like one of `candidates` (credits coming back)."""
        with read_scope(self.engine) as session:
            lot = self.opened_lot(session, result.entry_id)
            session.expunge(lot)
        assert lot.amount == lot.remaining == result.delta
        assert lot.reserved == 0
        if candidates is None:
            expected = (source, PRIORITY[source], terms.expires_at)
            assert (lot.source, lot.priority, lot.expires_at) == expected
            assert (lot.rollover_max, lot.rollover_until) == (
                terms.rollover_max,
                terms.rollover_until,
            )
            assert lot.parent_lot_id is None
        elif not candidates:
            assert fallback_source is not None
            assert (lot.source, lot.priority, lot.expires_at, lot.parent_lot_id) == (
                fallback_source,
                PRIORITY[fallback_source],
                None,
                None,
            )
        else:
            like = {(c.source, c.priority, c.expires_at, c.id) for c in candidates}
            got = (lot.source, lot.priority, lot.expires_at, lot.parent_lot_id)
            assert got in like, f"returned lot {got}, expected one of {like}"
            assert lot.rollover_max is None and lot.rollover_until is None
        user.lots[lot.id] = MLot(
            id=lot.id,
            source=lot.source,
            priority=lot.priority,
            amount=lot.amount,
            remaining=lot.remaining,
            expires_at=lot.expires_at,
            rollover_max=lot.rollover_max,
            rollover_until=lot.rollover_until,
            key=key,
        )
        user.credits += result.delta

    def grant(
        self,
        user: MUser,
        amount: int,
        source: str,
        key: str,
        terms: credits.LotTerms = credits.NEVER_EXPIRES,
        returns_key: str | None = None,
        candidates: list[MLot] | None = None,
    ) -> credits.LedgerResult:
        with session_scope(self.engine) as session:
            result = credits.grant(
                session,
                user_id=user.id,
                amount=amount,
                idempotency_key=key,
                source=source,
                terms=terms,
                returns_key=returns_key,
                now=self.now,
            )
        assert not result.replayed
        assert (result.delta, result.balance_after) == (amount, user.credits + amount)
        self.add_granted(
            user,
            result,
            key=key,
            source=source,
            terms=terms,
            candidates=candidates,
            fallback_source=source,
        )
        user.grant_keys.append(key)
        # Invariant 4: the same grant again changes nothing and answers as before.
        with session_scope(self.engine) as session:
            again = credits.grant(
                session,
                user_id=user.id,
                amount=amount,
                idempotency_key=key,
                source=source,
                terms=terms,
                returns_key=returns_key,
                now=self.now,
            )
        assert again == replace(result, replayed=True)
        return result

    # --- setup ---------------------------------------------------------------------------

    @initialize(
        welcome=st.lists(
            st.tuples(st.sampled_from([0, 5, 20]), st.one_of(st.none(), DAYS)),
            min_size=1,
            max_size=3,
        ),
        limit=st.one_of(st.none(), st.integers(5, 60)),
    )
    def make_users(self, welcome: list[tuple[int, int | None]], limit: int | None) -> None:
        for index, (initial, days) in enumerate(welcome):
            # Welcome credits are granted here, on the machine's clock (the sign-up
            # service dates them by the wall clock).
            user = MUser(id=make_user(self.engine, initial_credits=0))
            self.users.append(user)
            if initial:
                terms = credits.LotTerms(expires_at=None if days is None else self.expiry(days))
                key = keys.signup_grant(user.id)
                self.grant(user, initial, GrantSource.SIGNUP, key, terms)
            if index == 0 and limit is not None:
                self.set_limit(0, limit)

    # --- the clock and the limit ---------------------------------------------------------

    @rule(step=st.sampled_from(TICKS))
    def tick(self, step: timedelta) -> None:
        self.now += step

    @rule(days=st.sampled_from([1, 2, 4, 8, 16]))
    def advance_days(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule(u=USER, limit=st.one_of(st.none(), st.integers(5, 60)))
    def set_limit(self, u: int, limit: int | None) -> None:
        user = self.user(u)
        with session_scope(self.engine) as session:
            session.get(User, user.id).spend_limit = limit
            session.flush()
            if limit is not None:
                ledger.start_limit_month(
                    session, user_id=user.id, now=self.now, time_zone=None, used=0
                )
        user.limit = limit
        if limit is not None:
            user.start_month(self.now)

    # --- grants --------------------------------------------------------------------------

    @rule(u=USER, amount=AMOUNT, expiring=st.booleans(), days=DAYS)
    def grant_admin(self, u: int, amount: int, expiring: bool, days: int) -> None:
        terms = (
            credits.LotTerms(expires_at=self.expiry(days)) if expiring else credits.NEVER_EXPIRES
        )
        self.grant(self.user(u), amount, GrantSource.ADMIN, keys.admin_grant(), terms)

    @rule(
        u=USER,
        amount=st.integers(1, 40),
        days=DAYS,
        rollover=st.one_of(st.none(), st.tuples(st.integers(1, 10), st.sampled_from([1, 30]))),
        drip=st.booleans(),
        pick=PICK,
    )
    def grant_subscription(
        self,
        u: int,
        amount: int,
        days: int,
        rollover: tuple[int, int] | None,
        drip: bool,
        pick: int,
    ) -> None:
        user = self.user(u)
        expires = self.expiry(days)
        terms = credits.LotTerms(
            expires_at=expires,
            rollover_max=rollover[0] if rollover else None,
            rollover_until=expires + timedelta(days=rollover[1]) if rollover else None,
        )
        if drip and user.invoices:
            # A yearly plan's next month: keyed under its invoice (a refund of the invoice
            # prefers these lots too).
            invoice = sorted(user.invoices)[pick % len(user.invoices)]
            month = user.invoices[invoice]
            user.invoices[invoice] = month + 1
            key = keys.drip_grant(invoice, month)
        else:
            invoice = f"in_{uuid.uuid4().hex[:14]}"
            user.invoices[invoice] = 1
            key = keys.invoice_grant(invoice)
        self.grant(user, amount, GrantSource.SUBSCRIPTION, key, terms)

    @rule(u=USER, amount=st.integers(1, 40))
    def grant_pack(self, u: int, amount: int) -> None:
        key = keys.pack_grant(f"pi_{uuid.uuid4().hex[:14]}")
        self.grant(self.user(u), amount, GrantSource.PACK, key)

    def restorable(self) -> list[tuple[MUser, MClawback]]:
        return [
            (user, c)
            for user in self.users
            for c in user.clawbacks
            if c.dispute and not c.restored and c.result.taken > 0
        ]

    @precondition(lambda self: self.restorable())
    @rule(pick=PICK)
    def dispute_won(self, pick: int) -> None:
        candidates = self.restorable()
        user, clawback = candidates[pick % len(candidates)]
        clawback.restored = True
        self.grant(
            user,
            clawback.result.taken,
            GrantSource.DISPUTE_WON,
            f"{clawback.key}:won",
            returns_key=clawback.key,
            candidates=returned_candidates(user, clawback.draws),
        )

    # --- spends --------------------------------------------------------------------------

    def _spend(self, user: MUser, amount: int, key: str) -> credits.LedgerResult:
        with session_scope(self.engine) as session:
            return credits.spend(
                session,
                user_id=user.id,
                amount=amount,
                idempotency_key=key,
                feature=TOOL,
                now=self.now,
            )

    @rule(u=USER, amount=AMOUNT)
    def spend(self, u: int, amount: int) -> None:
        user = self.user(u)
        saved = self.snapshot(user)
        user.clear_the_way(self.now)
        key = self.tool_key(user)
        if not user.allows(amount):
            expected = user.refusal_for(amount)
            with pytest.raises(credits.InsufficientCredits) as refused:
                self._spend(user, amount, key)
            assert type(refused.value) is expected, (refused.value, expected)
            # A refused spend writes nothing (not even the expiry it found due).
            self.restore(user, saved)
            return
        result = self._spend(user, amount, key)
        self.resolve_rollovers(user)
        draws = user.take(amount)
        user.credits -= amount
        user.count(amount)
        assert not result.replayed
        assert (result.delta, result.balance_after) == (-amount, user.credits)
        with read_scope(self.engine) as session:
            assert _allocations(session, result.entry_id) == draws, "burn order"
        user.spends.append(MSpend(key, amount, result, draws))

    @rule(u=USER, amount=st.integers(1, 4))
    def spend_small(self, u: int, amount: int) -> None:
        self.spend(u, amount)

    @precondition(lambda self: any(user.spends for user in self.users))
    @rule(pick=PICK)
    def spend_again(self, pick: int) -> None:
        """A retry of an earlier spend (same key): answers as before, spends nothing."""
        spends = [(user, s) for user in self.users for s in user.spends]
        user, earlier = spends[pick % len(spends)]
        # It may meet lots past their date, and write their expiry, like any spend.
        user.clear_the_way(self.now)
        again = self._spend(user, earlier.amount, earlier.key)
        assert again == replace(earlier.result, replayed=True)
        self.resolve_rollovers(user)

    @precondition(lambda self: any(user.spends for user in self.users))
    @rule(pick=PICK, more=st.integers(1, 3))
    def spend_conflicting(self, pick: int, more: int) -> None:
        """An earlier spend's key for another amount is refused and writes nothing."""
        spends = [(user, s) for user in self.users for s in user.spends]
        user, earlier = spends[pick % len(spends)]
        with pytest.raises(credits.IdempotencyConflict):
            self._spend(user, earlier.amount + more, earlier.key)

    @precondition(lambda self: any(s.refund is None for u in self.users for s in u.spends))
    @rule(pick=PICK, part=st.integers(1, 4))
    def tool_refund(self, pick: int, part: int) -> None:
        """A failed tool's refund: its credits come back as a lot like the latest-expiring
        one the spend drew from, and stop counting against this month's limit."""
        spends = [(user, s) for user in self.users for s in user.spends if s.refund is None]
        user, spent = spends[pick % len(spends)]
        amount = max(1, spent.amount * part // 4)
        candidates = returned_candidates(user, spent.draws)
        result = self._refund(user, spent, amount)
        assert not result.replayed
        assert (result.delta, result.balance_after) == (amount, user.credits + amount)
        self.add_granted(
            user,
            result,
            key=keys.tool_refund(spent.key),
            source=GrantSource.EARLIER,
            terms=credits.NEVER_EXPIRES,
            candidates=candidates,
            fallback_source=GrantSource.EARLIER,
        )
        user.give_back(amount, spent.result.created_at)
        spent.refund = (amount, result)

    def _refund(self, user: MUser, spent: MSpend, amount: int) -> credits.LedgerResult:
        with session_scope(self.engine) as session:
            return credits.refund(
                session,
                user_id=user.id,
                amount=amount,
                idempotency_key=keys.tool_refund(spent.key),
                feature=TOOL,
                refunds_key=spent.key,
                now=self.now,
            )

    @precondition(lambda self: any(s.refund for u in self.users for s in u.spends))
    @rule(pick=PICK)
    def tool_refund_again(self, pick: int) -> None:
        spends = [(user, s) for user in self.users for s in user.spends if s.refund]
        user, spent = spends[pick % len(spends)]
        amount, first = spent.refund
        assert self._refund(user, spent, amount) == replace(first, replayed=True)

    # --- holds ---------------------------------------------------------------------------

    def _reserve(self, user: MUser, amount: int, key: str, ttl: timedelta) -> credits.HoldResult:
        with session_scope(self.engine) as session:
            return credits.reserve(
                session,
                user_id=user.id,
                amount=amount,
                idempotency_key=key,
                feature=TOOL,
                ttl=ttl,
                now=self.now,
            )

    @rule(u=USER, amount=AMOUNT, ttl=st.sampled_from(TTLS))
    def reserve(self, u: int, amount: int, ttl: timedelta) -> None:
        user = self.user(u)
        saved = self.snapshot(user)
        key = self.tool_key(user)
        user.clear_the_way(self.now)
        if not user.allows(amount):
            stale = [
                h for h in user.holds if h.status == HoldStatus.ACTIVE and h.expires_at <= self.now
            ]
            for hold in sorted(stale, key=lambda h: h.id):
                user.settle(hold, HoldStatus.EXPIRED, self.now)
            user.clear_the_way(self.now)
            if not stale or not user.allows(amount):
                expected = user.refusal_for(amount)
                with pytest.raises(credits.InsufficientCredits) as refused:
                    self._reserve(user, amount, key, ttl)
                assert type(refused.value) is expected, (refused.value, expected)
                self.restore(user, saved)
                return
        result = self._reserve(user, amount, key, ttl)
        assert not result.replayed
        assert (result.amount, result.status, result.expires_at) == (
            amount,
            HoldStatus.ACTIVE,
            self.now + ttl,
        )
        self.resolve_rollovers(user)
        pins = user.take(amount, pin=True)
        user.held += amount
        user.count(amount)
        user.holds.append(MHold(result.hold_id, key, amount, self.now, self.now + ttl, pins))

    @precondition(lambda self: any(user.holds for user in self.users))
    @rule(pick=PICK)
    def reserve_again(self, pick: int) -> None:
        holds = [(user, h) for user in self.users for h in user.holds]
        user, hold = holds[pick % len(holds)]
        user.clear_the_way(self.now)
        again = self._reserve(user, hold.amount, hold.key, TTLS[0])
        assert again == credits.HoldResult(
            hold.id, hold.amount, HoldStatus(hold.status), hold.expires_at, replayed=True
        )
        self.resolve_rollovers(user)

    def pick_hold(self, pick: int, active: bool) -> tuple[MUser, MHold]:
        """A hold, an active one when asked and there is one."""
        holds = [(user, h) for user in self.users for h in user.holds]
        live = [(user, h) for user, h in holds if h.status == HoldStatus.ACTIVE]
        chosen = live if active and live else holds
        return chosen[pick % len(chosen)]

    @precondition(lambda self: any(user.holds for user in self.users))
    @rule(pick=PICK, active=st.booleans(), amount=st.integers(0, 26))
    def capture(self, pick: int, active: bool, amount: int) -> None:
        user, hold = self.pick_hold(pick, active)
        amount = amount if amount <= hold.amount + 1 else hold.amount

        def call() -> credits.CaptureResult:
            with session_scope(self.engine) as session:
                return credits.capture(
                    session,
                    user_id=user.id,
                    hold_id=hold.id,
                    amount=amount,
                    description="lots",
                    now=self.now,
                )

        if hold.status == HoldStatus.CAPTURED and amount == hold.captured:
            first = hold.capture_result
            expected = replace(first, replayed=True)
            if first.captured == 0:
                expected = replace(expected, balance_after=user.credits)
            assert call() == expected
            return
        if hold.status != HoldStatus.ACTIVE:
            # A captured hold captured again for another amount is not a repeat of the
            # first capture: refused like a released one (the caller's own is not done).
            with pytest.raises(credits.HoldNotActive):
                call()
            return
        if amount > hold.amount:
            with pytest.raises(credits.InvalidCapture):
                call()
            return
        result = call()
        user.held -= hold.amount
        hold.status, hold.captured = HoldStatus.CAPTURED, amount
        if amount < hold.amount:
            user.give_back(hold.amount - amount, hold.created_at)
        # The pins are given back, the captured part spent from them in the burn order.
        for lot_id, pinned in hold.pins.items():
            user.lots[lot_id].reserved -= pinned
        spent: dict[int, int] = {}
        unspent: dict[int, int] = {}
        left = amount
        for lot_id in sorted(hold.pins, key=lambda i: user.lots[i].burn()):
            part = min(hold.pins[lot_id], left)
            left -= part
            if part:
                spent[lot_id] = part
                user.lots[lot_id].remaining -= part
            if hold.pins[lot_id] > part:
                unspent[lot_id] = hold.pins[lot_id] - part
        user.credits -= amount
        balance_after = user.credits
        user.unpinned(hold, unspent, self.now)
        if amount == 0:
            balance_after = user.credits
        assert not result.replayed
        assert (result.hold_id, result.captured, result.balance_after) == (
            hold.id,
            amount,
            balance_after,
        )
        if amount:
            assert result.entry_id is not None
            with read_scope(self.engine) as session:
                assert _allocations(session, result.entry_id) == spent
        else:
            assert result.entry_id is None
        hold.capture_result = result

    @precondition(lambda self: any(user.holds for user in self.users))
    @rule(pick=PICK, active=st.booleans())
    def release(self, pick: int, active: bool) -> None:
        user, hold = self.pick_hold(pick, active)
        with session_scope(self.engine) as session:
            result = credits.release(session, user_id=user.id, hold_id=hold.id, now=self.now)
        if hold.status != HoldStatus.ACTIVE:
            assert result == credits.ReleaseResult(hold.id, HoldStatus(hold.status), True)
            return
        assert result == credits.ReleaseResult(hold.id, HoldStatus.RELEASED, False)
        user.settle(hold, HoldStatus.RELEASED, self.now)

    @rule(u=USER)
    def expire_stale_holds(self, u: int) -> None:
        user = self.user(u)
        with session_scope(self.engine) as session:
            count = credits.expire_stale(session, now=self.now, user_id=user.id)
        stale = [
            h for h in user.holds if h.status == HoldStatus.ACTIVE and h.expires_at <= self.now
        ]
        for hold in sorted(stale, key=lambda h: h.id):
            user.settle(hold, HoldStatus.EXPIRED, self.now)
        assert count == len(stale)

    # --- expiry and take-backs -----------------------------------------------------------

    @rule()
    def expire_lots(self) -> None:
        users, total = credits.expire_lots(now=self.now, engine=self.engine)
        due = 0
        expected = 0
        for user in self.users:
            before = dict(user.expired)
            rolled = len(user.rolled)
            credits_before = user.credits
            user.expire_due(self.now)
            if user.expired != before or len(user.rolled) != rolled:
                due += 1
            expected += credits_before - user.credits
            self.resolve_rollovers(user)
        assert (users, total) == (due, expected)

    @rule(
        u=USER,
        amount=st.integers(1, 40),
        dispute=st.booleans(),
        prefer=st.one_of(st.none(), PICK),
    )
    def clawback(self, u: int, amount: int, dispute: bool, prefer: int | None) -> None:
        user = self.user(u)
        prefer_key = None
        if prefer is not None and user.grant_keys:
            prefer_key = user.grant_keys[prefer % len(user.grant_keys)]
        purchase = f"{self.run}{self.serial}"
        self.serial += 1
        key = (
            keys.dispute_takeback(purchase, f"dp_{uuid.uuid4().hex[:10]}")
            if dispute
            else keys.refund_takeback(purchase, amount)
        )
        result = self._clawback(user, amount, key, prefer_key)
        user.expire_due(self.now)
        taken = min(amount, user.available)
        assert result == credits.ClawbackResult(taken, amount - taken, replayed=False)
        self.resolve_rollovers(user)
        draws = user.take(taken, prefer=prefer_key) if taken else {}
        user.credits -= taken
        if taken:
            with read_scope(self.engine) as session:
                entry = session.scalar(
                    select(LedgerEntry).where(LedgerEntry.idempotency_key == key)
                )
                assert (entry.kind, entry.delta) == (EntryKind.CLAWBACK, -taken)
                assert _allocations(session, entry.id) == draws, "take-back order"
        user.clawbacks.append(MClawback(key, amount, prefer_key, result, draws, dispute))

    def _clawback(
        self, user: MUser, amount: int, key: str, prefer_key: str | None
    ) -> credits.ClawbackResult:
        with session_scope(self.engine) as session:
            return credits.clawback(
                session,
                user_id=user.id,
                amount=amount,
                idempotency_key=key,
                description="take-back",
                prefer_key=prefer_key,
                now=self.now,
            )

    @precondition(lambda self: any(user.clawbacks for user in self.users))
    @rule(pick=PICK)
    def clawback_again(self, pick: int) -> None:
        clawbacks = [(user, c) for user in self.users for c in user.clawbacks]
        user, earlier = clawbacks[pick % len(clawbacks)]
        again = self._clawback(user, earlier.amount, earlier.key, earlier.prefer)
        assert again == replace(earlier.result, replayed=True)

    # --- the checks after every step -----------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        """Every user's row, lots, pins, holds and expiries are the model's; every lot
        accounts for its credits (find_lot_drift). A handful of queries for all users."""
        if not self.users:
            return
        ids = [user.id for user in self.users]
        with read_scope(self.engine) as session:
            rows = {
                row.id: row
                for row in session.execute(
                    select(
                        User.id,
                        User.credits,
                        User.held,
                        User.limit_used,
                        User.spend_limit,
                        User.next_lot_expiry,
                    ).where(User.id.in_(ids))
                )
            }
            sums = dict(
                session.execute(
                    select(LedgerEntry.user_id, func.sum(LedgerEntry.delta))
                    .where(LedgerEntry.user_id.in_(ids))
                    .group_by(LedgerEntry.user_id)
                ).all()
            )
            expired: dict[uuid.UUID, dict[str, int]] = {i: {} for i in ids}
            for owner, key, delta in session.execute(
                select(LedgerEntry.user_id, LedgerEntry.idempotency_key, LedgerEntry.delta).where(
                    LedgerEntry.user_id.in_(ids), LedgerEntry.kind == EntryKind.EXPIRE
                )
            ):
                expired[owner][key] = delta
            lots: dict[uuid.UUID, dict[int, tuple]] = {i: {} for i in ids}
            for lot in session.execute(
                select(
                    CreditLot.user_id,
                    CreditLot.id,
                    CreditLot.source,
                    CreditLot.priority,
                    CreditLot.amount,
                    CreditLot.remaining,
                    CreditLot.reserved,
                    CreditLot.expires_at,
                    CreditLot.rollover_max,
                    CreditLot.rollover_until,
                ).where(CreditLot.user_id.in_(ids))
            ):
                lots[lot[0]][lot[1]] = tuple(lot[2:])
            pins: dict[uuid.UUID, dict[tuple[int, int], int]] = {i: {} for i in ids}
            for owner, hold_id, lot_id, pinned in session.execute(
                select(
                    LotReservation.user_id,
                    LotReservation.hold_id,
                    LotReservation.lot_id,
                    LotReservation.credits,
                ).where(LotReservation.user_id.in_(ids))
            ):
                pins[owner][(hold_id, lot_id)] = pinned
            statuses: dict[uuid.UUID, dict[int, str]] = {i: {} for i in ids}
            for owner, hold_id, status in session.execute(
                select(Hold.user_id, Hold.id, Hold.status).where(Hold.user_id.in_(ids))
            ):
                statuses[owner][hold_id] = status
            assert credits.find_lot_drift(session) == []
        for user in self.users:
            row = rows[user.id]
            # Invariants 1 and 2.
            assert row.credits == sums.get(user.id, 0)
            assert row.credits >= row.held >= 0
            assert (row.credits, row.held) == (user.credits, user.held)
            assert (row.spend_limit, row.limit_used) == (user.limit, user.used)
            if user.limit is not None:
                assert user.used <= user.limit
            # Invariant 5, lot by lot: what is left, what is pinned, by which hold.
            assert lots[user.id] == {lot_id: lot.row() for lot_id, lot in user.lots.items()}
            assert sum(lot.remaining for lot in user.lots.values()) == user.credits
            assert sum(lot.reserved for lot in user.lots.values()) == user.held
            assert pins[user.id] == {
                (h.id, lot_id): n
                for h in user.holds
                if h.status == HoldStatus.ACTIVE
                for lot_id, n in h.pins.items()
            }
            assert statuses[user.id] == {h.id: h.status for h in user.holds}
            # Each lot expired at most once (keys are unique), by what the model says.
            assert expired[user.id] == user.expired
            # The cached soonest expiry may be early, never late: a spend checks it.
            soonest = min(
                (
                    lot.expires_at
                    for lot in user.lots.values()
                    if lot.free > 0 and lot.expires_at is not None
                ),
                default=None,
            )
            if soonest is not None:
                assert row.next_lot_expiry is not None and row.next_lot_expiry <= soonest

    def teardown(self) -> None:
        if not self.users:
            return
        with read_scope(self.engine) as session:
            assert credits.find_drift(session) == []
            assert credits.find_hold_drift(session) == []
        # What this example leaves due must not be the next example's expiry to write.
        credits.expire_lots(now=FAR_FUTURE, engine=self.engine)


@pytest.mark.timeout(300)
def test_lots_agree_with_the_model(engine):
    backend = engine.dialect.name
    machine = type(f"LotsMachine_{backend}", (LotsMachine,), {"engine": engine})
    started = time.monotonic()
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES[backend],
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(f"{backend}: {EXAMPLES[backend]} examples in {time.monotonic() - started:.1f}s")
