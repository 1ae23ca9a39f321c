"""The ledger: the only code that changes a balance.

Every change is one conditional balance update plus one append-only ledger row, inside the
caller's transaction (the caller owns the commit, so a change can join other writes, e.g.
creating the user it belongs to). Concurrency safety comes from the database, not Python:

- the balance changes by a conditional UPDATE (credits + delta >= 0) that also takes the
  user's row lock on PostgreSQL; on SQLite the engine begins every transaction with
  BEGIN IMMEDIATE, which serializes writers. The column's CHECK >= 0 is the last guard;
- the idempotency key is unique in the ledger, and is inserted while the lock is held, so
  two requests with one key cannot both change the balance.

Credits sit in lots (credits.lots): every entry that adds credits opens one lot, every
entry that takes credits records which lots paid (lot_allocations), in the same
transaction. A spend's conditional UPDATE also checks that no lot with free credits is
past its expiry (`users.next_lot_expiry`; if one is, its expiry is written first) and the
person's monthly spending limit, so all three are one atomic step.

A spend is two statements on PostgreSQL, like the hand-written SQL it is benchmarked
against (benchmarks/spend_throughput.py): the conditional UPDATE ... RETURNING, then one
statement that inserts the entry and draws from the lots (lots.spend_and_draw); on SQLite
the entry and the draw are separate statements in the same transaction.

Public entry points, one per kind of entry: `grant`, `spend`, `refund`, `clawback`,
`forfeit` (account deletion), `expire_due` (lots past their date), and `capture_entry`
(used by holds.capture). Each returns a typed result whose `replayed` is True when the key
had been used already and nothing changed.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, bindparam, case, func, select, update
from sqlmodel import Session, col

from credit_app import metrics, zones
from credit_app.credits import keys, lots
from credit_app.credits.errors import (
    HoldsStillActive,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidAmount,
    SpendingLimitReached,
    UnknownUser,
)
from credit_app.credits.lots import NEVER_EXPIRES, LotTerms
from credit_app.db import insert_unless_exists
from credit_app.models import (
    CreditLot,
    EntryKind,
    GrantSource,
    LedgerEntry,
    Shortfall,
    ShortfallStatus,
    User,
    UTCDateTime,
    utcnow,
)
from credit_app.tools.catalog import KNOWN_TOOL_IDS

# The hot path uses the Core tables: ORM-enabled UPDATE/INSERT statements cost noticeably
# more Python time per call (benchmarks/spend_throughput.py) and buy nothing here.
# SQLModel's type stubs do not declare the `__table__` that SQLAlchemy's declarative
# mapping sets on every table model (library typing noise, not a missing attribute).
_USERS = User.__table__  # type: ignore[attr-defined]
_LEDGER = LedgerEntry.__table__  # type: ignore[attr-defined]


# Where a session collects the ids of the entries written in its transaction
# (`entries_written`): a Stripe event's processing records them beside the event.
ENTRIES_WRITTEN = "credits.entries_written"


def entries_written(session: Session) -> list[int]:
    """The ids of the ledger entries this session's transaction has written so far."""
    return list(session.info.get(ENTRIES_WRITTEN, ()))


@dataclass(frozen=True)
class LedgerResult:
    """One ledger entry: what a grant, spend, refund or capture wrote (or had written)."""

    entry_id: int
    user_id: uuid.UUID
    delta: int
    balance_after: int
    created_at: datetime
    # True when this call repeated an earlier one with the same key and changed nothing.
    replayed: bool


def grant(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    source: GrantSource | str,
    description: str | None = None,
    terms: LotTerms = NEVER_EXPIRES,
    returns_key: str | None = None,
    now: datetime | None = None,
    recover_shortfalls: bool = True,
) -> LedgerResult:
    """Add `amount` credits as one lot of `source` on `terms` (by default: never
    expires). With `returns_key` they are credits coming back (a won dispute's): the lot
    is like the one the entry under that key took from (lots.open_returned_lot). A paid
    grant (PAID_SOURCES) takes what the user's shortfalls being recovered miss, unless
    `recover_shortfalls` is False. Repeating the same key returns the first result."""
    check_amount(amount)
    now = now or utcnow()
    result = _add(
        session,
        user_id,
        amount,
        EntryKind.GRANT,
        idempotency_key,
        source,
        description,
        terms,
        returns_key,
        now,
    )
    if not result.replayed and recover_shortfalls and source in PAID_SOURCES:
        _recover_shortfalls(session, result, idempotency_key, now)
    return result


def _add(
    session: Session,
    user_id: uuid.UUID,
    amount: int,
    kind: EntryKind,
    idempotency_key: str,
    source: GrantSource | str,
    description: str | None,
    terms: LotTerms,
    returns_key: str | None,
    now: datetime,
) -> LedgerResult:
    """Credits added by a grant or an operator's adjustment: the entry, and its lot."""
    result = _apply(
        session,
        user_id=user_id,
        delta=amount,
        kind=kind,
        idempotency_key=idempotency_key,
        source=str(source),
        description=description,
        now=now,
    )
    if not result.replayed:
        _open_lot(session, result, str(source), terms, returns_key, now)
    return result


# Grants someone paid for: what an operator's "recover" takes an unpaid shortfall from.
PAID_SOURCES = frozenset({GrantSource.SUBSCRIPTION, GrantSource.PACK})


def _recover_shortfalls(session: Session, paid: LedgerResult, paid_key: str, now: datetime):
    """After a paid grant: take what the user's shortfalls being recovered still miss
    (oldest first) from the credits just granted, as visible RECOVER entries keyed by the
    shortfall and the grant (keys.shortfall_recovery), so a grant recovers once."""
    recovering = session.execute(
        select(col(Shortfall.id), col(Shortfall.credits) - col(Shortfall.recovered))
        .where(
            col(Shortfall.user_id) == paid.user_id,
            col(Shortfall.status) == ShortfallStatus.RECOVERING,
        )
        .order_by(col(Shortfall.id))
        .with_for_update()
    ).all()
    left = paid.delta
    for shortfall_id, missing in recovering:
        take = min(missing, left, available(session, user_id=paid.user_id))
        if take <= 0:
            break
        entry = _apply(
            session,
            user_id=paid.user_id,
            delta=-take,
            kind=EntryKind.RECOVER,
            idempotency_key=keys.shortfall_recovery(shortfall_id, paid.entry_id),
            description="Recovered: credits an earlier refund or dispute could not take back",
            now=now,
        )
        lots.take_in_order(
            session,
            user_id=paid.user_id,
            lots=lots.free_lots(session, user_id=paid.user_id, prefer_key=paid_key),
            amount=take,
            entry_id=entry.entry_id,
        )
        done = take == missing
        session.execute(
            update(Shortfall)
            .where(col(Shortfall.id) == shortfall_id)
            .values(
                recovered=col(Shortfall.recovered) + take,
                status=ShortfallStatus.RECOVERED if done else ShortfallStatus.RECOVERING,
                settled_at=now if done else None,
            )
            .execution_options(synchronize_session=False)
        )
        left -= take
    if left != paid.delta:
        lots.refresh_next_expiry(session, user_id=paid.user_id)


def expire_past_due(session: Session, *, user_id: uuid.UUID, now: datetime) -> int:
    """Take the user's row lock and write the expiry of their lots past their date (what
    a spend does first when it finds one), so what follows in this transaction sees only
    spendable credits; the credits expired. UnknownUser for no such user."""
    locked = lock_user(session, user_id)
    if locked.next_lot_expiry is not None and locked.next_lot_expiry <= now:
        return expire_due(session, user_id=user_id, now=now)
    return 0


def past_due(session: Session, *, user_id: uuid.UUID, now: datetime) -> int:
    """Free credits in the user's lots past their date whose expiry is not written yet:
    in the balance, but no longer spendable (a read; `expire_past_due` writes it)."""
    free = col(CreditLot.remaining) - col(CreditLot.reserved)
    return int(
        session.scalar(
            select(func.coalesce(func.sum(free), 0)).where(
                col(CreditLot.user_id) == user_id,
                col(CreditLot.expires_at) <= now,
                free > 0,
            )
        )
        or 0
    )


def cancel_shortfall(session: Session, *, reference: str, now: datetime) -> int:
    """The take-back keyed `reference` is owed no more (its dispute was won): its open or
    recovering shortfall is cancelled, and what recovery had already taken of it is given
    back (a GRANT of earlier credits, keyed by the shortfall). Returns that amount."""
    shortfall = session.execute(
        select(Shortfall).where(col(Shortfall.reference) == reference).with_for_update()
    ).scalar_one_or_none()
    live = (ShortfallStatus.OPEN, ShortfallStatus.RECOVERING)
    if shortfall is None or shortfall.id is None or shortfall.status not in live:
        return 0
    session.execute(
        update(Shortfall)
        .where(col(Shortfall.id) == shortfall.id)
        .values(status=ShortfallStatus.CANCELLED, settled_at=now)
        .execution_options(synchronize_session=False)
    )
    if shortfall.recovered:
        grant(
            session,
            user_id=shortfall.user_id,
            amount=shortfall.recovered,
            idempotency_key=keys.shortfall_returned(shortfall.id),
            source=GrantSource.DISPUTE_WON,
            description="Dispute resolved in your favour",
            now=now,
        )
    return shortfall.recovered


def adjust(
    session: Session,
    *,
    user_id: uuid.UUID,
    delta: int,
    idempotency_key: str,
    description: str | None = None,
    source: GrantSource | str = GrantSource.ADMIN,
    terms: LotTerms = NEVER_EXPIRES,
    now: datetime | None = None,
) -> LedgerResult:
    """An operator's correction: an ADJUST entry of `delta` credits. Added credits open a
    lot of `source` on `terms`; removed ones come from the available credits in the burn
    order (never from credits an active hold reserves), or InsufficientCredits is raised
    and nothing is written. Not a use of credits: no spending limit, no last activity."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidAmount(delta)
    now = now or utcnow()
    if delta > 0:
        return _add(
            session,
            user_id,
            delta,
            EntryKind.ADJUST,
            idempotency_key,
            source,
            description,
            terms,
            None,
            now,
        )
    locked = lock_user(session, user_id)
    if (existing := _entry_by_key(session, idempotency_key)) is not None:
        return _replay(existing, user_id=user_id, kind=EntryKind.ADJUST, delta=delta)
    # Credits past their date are expired first: a deduction takes what is spendable.
    if locked.next_lot_expiry is not None and locked.next_lot_expiry <= now:
        expire_due(session, user_id=user_id, now=now)
    result = _apply(
        session,
        user_id=user_id,
        delta=delta,
        kind=EntryKind.ADJUST,
        idempotency_key=idempotency_key,
        description=description,
        now=now,
    )
    lots.take_in_order(
        session,
        user_id=user_id,
        lots=lots.free_lots(session, user_id=user_id),
        amount=-delta,
        entry_id=result.entry_id,
    )
    lots.refresh_next_expiry(session, user_id=user_id)
    return result


def spend(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    feature: str,
    description: str | None = None,
    now: datetime | None = None,
) -> LedgerResult:
    """Take `amount` credits from the lots in the burn order, or raise
    InsufficientCredits (SpendingLimitReached past the person's monthly limit), writing
    nothing."""
    check_amount(amount)
    return _apply(
        session,
        user_id=user_id,
        delta=-amount,
        kind=EntryKind.SPEND,
        idempotency_key=idempotency_key,
        feature=feature,
        description=description,
        now=now or utcnow(),
        spending=True,
    )


def refund(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    feature: str | None,
    description: str | None = None,
    refunds_key: str | None = None,
    now: datetime | None = None,
) -> LedgerResult:
    """Give back `amount` credits of a spend whose work failed: a visible REFUND entry.
    The key names the refunded cause (keys.tool_refund), so a cause is refunded once.
    `refunds_key` is the spend's own key: the credits return as a lot like the latest-
    expiring one it drew from, and stop counting against this month's spending limit."""
    check_amount(amount)
    now = now or utcnow()
    result = _apply(
        session,
        user_id=user_id,
        delta=amount,
        kind=EntryKind.REFUND,
        idempotency_key=idempotency_key,
        feature=feature,
        description=description,
        now=now,
    )
    if not result.replayed:
        _open_lot(session, result, GrantSource.EARLIER, NEVER_EXPIRES, refunds_key, now)
        spent_at = session.scalar(
            select(col(LedgerEntry.created_at)).where(
                col(LedgerEntry.idempotency_key) == refunds_key
            )
        )
        if spent_at is not None:
            give_back_to_limit(session, user_id=user_id, amount=amount, used_at=spent_at)
    return result


def capture_entry(
    session: Session,
    *,
    user_id: uuid.UUID,
    hold_id: int,
    amount: int,
    idempotency_key: str,
    feature: str | None,
    description: str | None = None,
    now: datetime | None = None,
) -> LedgerResult:
    """Write the CAPTURE entry that settles a hold: `amount` credits leave the balance,
    from the lots the hold pinned. Only holds.capture calls this, after lowering `held` in
    the same transaction; use `capture` (from credit_app.credits) to settle a hold."""
    check_amount(amount)
    now = now or utcnow()
    result = _apply(
        session,
        user_id=user_id,
        delta=-amount,
        kind=EntryKind.CAPTURE,
        idempotency_key=idempotency_key,
        feature=feature,
        description=description,
        now=now,
    )
    if not result.replayed:
        unspent = lots.consume_pins(
            session, user_id=user_id, hold_id=hold_id, amount=amount, entry_id=result.entry_id
        )
        expire_unpinned(session, user_id=user_id, hold_id=hold_id, pins=unspent, now=now)
    return result


def release_pins(session: Session, *, user_id: uuid.UUID, hold_id: int, now: datetime) -> None:
    """A hold ended without spending: unpin its credits (those past their date expire)."""
    pins = lots.unpin(session, hold_id=hold_id)
    expire_unpinned(session, user_id=user_id, hold_id=hold_id, pins=pins, now=now)


def _open_lot(
    session: Session,
    result: LedgerResult,
    source: str,
    terms: LotTerms,
    returns_key: str | None,
    now: datetime,
) -> None:
    if returns_key is None:
        lots.open_lot(
            session,
            user_id=result.user_id,
            amount=result.delta,
            source=source,
            terms=terms,
            entry_id=result.entry_id,
            now=now,
        )
    else:
        lots.open_returned_lot(
            session,
            user_id=result.user_id,
            amount=result.delta,
            taken_by_key=returns_key,
            fallback_source=source,
            entry_id=result.entry_id,
            now=now,
        )


def balance(session: Session, *, user_id: uuid.UUID) -> int:
    credits = session.scalar(select(col(User.credits)).where(col(User.id) == user_id))
    if credits is None:
        raise UnknownUser(user_id)
    return credits


def available(session: Session, *, user_id: uuid.UUID) -> int:
    """Credits that can be spent now: the balance minus active holds."""
    row = session.execute(
        select(col(User.credits), col(User.held)).where(col(User.id) == user_id)
    ).first()
    if row is None:
        raise UnknownUser(user_id)
    return row.credits - row.held


def recent_entries(session: Session, *, user_id: uuid.UUID, limit: int = 10) -> list[LedgerEntry]:
    statement = (
        select(LedgerEntry)
        .where(col(LedgerEntry.user_id) == user_id)
        .order_by(col(LedgerEntry.id).desc())
        .limit(limit)
    )
    return list(session.scalars(statement))


def entry_delta(session: Session, *, key: str) -> int | None:
    """The delta of the entry written under idempotency key `key`; None if there is none."""
    return session.scalar(
        select(col(LedgerEntry.delta)).where(col(LedgerEntry.idempotency_key) == key)
    )


def net_taken_under(session: Session, *, prefix: str) -> int:
    """Credits claimed back by the entries whose idempotency key starts with `prefix`: what
    they took, net of what they gave back (e.g. a won dispute's restore), plus the
    shortfalls clawbacks under those keys recorded (credits already spent, so not taken).
    0 when nothing matches. Keys are grouped by prefix in `keys` (e.g. purchase_prefix)."""
    taken = session.scalar(
        select(func.coalesce(func.sum(-col(LedgerEntry.delta)), 0)).where(
            col(LedgerEntry.idempotency_key).startswith(prefix, autoescape=True)
        )
    )
    short = session.scalar(
        select(func.coalesce(func.sum(col(Shortfall.credits)), 0)).where(
            col(Shortfall.reference).startswith(prefix, autoescape=True)
        )
    )
    # COALESCE makes both sums 0 when nothing matches: never NULL.
    return (taken or 0) + (short or 0)


def check_amount(amount: object) -> None:
    """Raise InvalidAmount unless `amount` is a positive whole number (not a bool)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidAmount(amount)


def _apply(
    session: Session,
    *,
    user_id: uuid.UUID,
    delta: int,
    kind: EntryKind,
    idempotency_key: str,
    now: datetime,
    source: str | None = None,
    feature: str | None = None,
    description: str | None = None,
    spending: bool = False,
) -> LedgerResult:
    # `spending`: a spend, checked by take_spendable and paid from the lots in the burn
    # order in this step (other kinds move lots in their own functions).
    # 1. The conditional UPDATE changes the balance and, in the same round trip, takes the
    #    user's row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock).
    #    A concurrent change to this user waits here until we commit or roll back.
    if spending:
        new_balance = take_spendable(session, user_id=user_id, amount=-delta, now=now)
    else:
        users = _USERS.c
        new_balance = session.scalar(
            update(_USERS)
            # Spendable is what active holds leave free: credits - held (invariant 2).
            .where(users.id == user_id, users.credits - users.held + delta >= 0)
            .values(credits=users.credits + delta)
            .returning(users.credits)
        )
    if new_balance is None:
        # Refused or no such user. An identical earlier request may have succeeded and
        # spent the credits this one sees missing: that is a replay, not a refusal.
        if (existing := _entry_by_key(session, idempotency_key)) is not None:
            return _replay(existing, user_id=user_id, kind=kind, delta=delta)
        if spending:
            raise refusal(session, user_id=user_id, amount=-delta, now=now)
        raise InsufficientCredits(required=-delta, available=available(session, user_id=user_id))

    # 2. Record the change, unless the key was used before: then undo step 1 inside this
    #    transaction, so a repeated request changes nothing and returns the first result.
    #    Under the row lock, an earlier use of the key for this user has committed and is
    #    visible (READ COMMITTED takes a fresh snapshot per statement).
    if spending and session.get_bind().dialect.name == "postgresql":
        # The entry and the lot draw in one statement (lots.spend_and_draw).
        inserted = lots.spend_and_draw(
            session,
            user_id=user_id,
            amount=-delta,
            balance_after=new_balance,
            key=idempotency_key,
            kind=kind,
            feature=feature,
            description=description,
            created_at=now,
        )
    else:
        inserted = session.execute(
            insert_unless_exists(session, _LEDGER, key="idempotency_key")
            .values(
                user_id=user_id,
                kind=kind,
                source=source,
                feature=feature,
                description=description,
                delta=delta,
                balance_after=new_balance,
                idempotency_key=idempotency_key,
                # The service's `now` (the application clock), so an entry and the limit
                # month or expiry it is compared with are on one clock.
                created_at=now,
            )
            .returning(_LEDGER.c.id, _LEDGER.c.created_at)
        ).first()
        if inserted is not None and spending:
            lots.draw(session, user_id=user_id, amount=-delta, entry_id=inserted[0])
    if inserted is None:
        users = _USERS.c
        undo = {"credits": users.credits - delta}
        if spending:
            undo["limit_used"] = _counted(users, delta)
        session.execute(update(_USERS).where(users.id == user_id).values(**undo))
        existing = _entry_by_key(session, idempotency_key)
        assert existing is not None  # it conflicted, and rows are never deleted
        return _replay(existing, user_id=user_id, kind=kind, delta=delta)

    entry_id, created_at = inserted
    session.info.setdefault(ENTRIES_WRITTEN, []).append(entry_id)
    _count_at_commit(session, kind, delta, feature, source)
    return LedgerResult(
        entry_id=entry_id,
        user_id=user_id,
        delta=delta,
        balance_after=new_balance,
        created_at=created_at,
        replayed=False,
    )


_SPEND_KINDS = frozenset({EntryKind.SPEND, EntryKind.CAPTURE})
_SOURCES = frozenset(GrantSource)


def _count_at_commit(
    session: Session, kind: EntryKind, delta: int, feature: str | None, source: str | None
) -> None:
    """Count a written entry in the metrics once its transaction commits (labels from
    closed sets: a credits API caller names its own features, counted as "other")."""
    if kind in _SPEND_KINDS:
        label = feature if feature in KNOWN_TOOL_IDS else metrics.OTHER
        metrics.at_commit(session, lambda: _count_spend(label, -delta))
    elif delta > 0:
        origin = "none" if source is None else source if source in _SOURCES else metrics.OTHER
        metrics.at_commit(session, lambda: _count_grant(str(kind), origin, delta))


def _count_spend(feature: str, credits: int) -> None:
    metrics.SPENDS.labels(feature=feature).inc()
    metrics.SPENT_CREDITS.labels(feature=feature).inc(credits)


def _count_grant(kind: str, source: str, credits: int) -> None:
    metrics.GRANTS.labels(kind=kind, source=source).inc()
    metrics.GRANTED_CREDITS.labels(kind=kind, source=source).inc(credits)


def _counted(users, change):
    """limit_used moved by `change` when a limit is set (never below 0)."""
    moved = users.limit_used + change
    return case((users.spend_limit.is_(None), users.limit_used), (moved < 0, 0), else_=moved)


def _take_statement(hold: bool):
    """take_spendable's conditional UPDATE, built once (bound by user_id, amount, now):
    building the expression on every spend costs more Python time than the database
    spends on it (benchmarks/spend_throughput.py)."""
    users = _USERS.c
    amount, now = bindparam("amount", type_=Integer()), bindparam("now", type_=UTCDateTime())
    allowed = (
        (users.credits - users.held >= amount)
        & (users.next_lot_expiry.is_(None) | (users.next_lot_expiry > now))
        & (
            users.spend_limit.is_(None)
            | ((users.limit_month_end > now) & (users.limit_used + amount <= users.spend_limit))
        )
    )
    moved = {"held": users.held + amount} if hold else {"credits": users.credits - amount}
    return (
        update(_USERS)
        .where(users.id == bindparam("user_id"), allowed)
        .values(**moved, limit_used=_counted(users, amount), last_activity_at=now)
        .returning(users.held if hold else users.credits)
    )


_TAKE = {hold: _take_statement(hold) for hold in (False, True)}


def take_spendable(
    session: Session, *, user_id: uuid.UUID, amount: int, now: datetime, hold: bool = False
) -> int | None:
    """The one step that lets credits be used: lower the balance by `amount` (or, for a
    hold, raise `held`) only if that many are available, none of the user's free credits
    is past its expiry date, and the monthly limit allows it (then count them as used).
    Returns the new balance (or held), None when refused; `refusal` says why and
    clears what it can (a past expiry, last month's count) so one retry may pass."""
    params = {"user_id": user_id, "amount": amount, "now": now}
    if (result := session.scalar(_TAKE[hold], params)) is not None:
        return result
    # Refused on the row as it was when the statement began (READ COMMITTED): under the
    # row lock, clear what stands in the way (another transaction may have cleared it
    # already) and ask once more, on the row as it is now.
    _clear_the_way(session, user_id, now)
    return session.scalar(_TAKE[hold], params)


def _clear_the_way(session: Session, user_id: uuid.UUID, now: datetime) -> None:
    """Before a refused spend is retried: take the user's row lock, write the expiry of
    lots past their date and start a new limit month if the last one ended."""
    row = session.execute(
        select(
            col(User.next_lot_expiry),
            col(User.spend_limit),
            col(User.limit_month_end),
            col(User.time_zone),
        )
        .where(col(User.id) == user_id)
        .with_for_update()
    ).first()
    if row is None:
        return
    if row.next_lot_expiry is not None and row.next_lot_expiry <= now:
        expire_due(session, user_id=user_id, now=now)
    if row.spend_limit is not None and (row.limit_month_end is None or row.limit_month_end <= now):
        start_limit_month(session, user_id=user_id, now=now, time_zone=row.time_zone)


def start_limit_month(
    session: Session, *, user_id: uuid.UUID, now: datetime, time_zone: str | None, used: int = 0
) -> None:
    """Begin counting the calendar month (in the person's zone) that `now` is in."""
    tz = zones.zone(time_zone)
    session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .values(
            limit_used=used,
            limit_month_start=zones.month_start(now, tz),
            limit_month_end=zones.next_month_start(now, tz),
        )
        .execution_options(synchronize_session=False)
    )


def give_back_to_limit(
    session: Session, *, user_id: uuid.UUID, amount: int, used_at: datetime
) -> None:
    """Credits counted as used at `used_at` came back (a refund, a released hold, a
    capture of less than was held): they stop counting, if they were counted this month."""
    users = _USERS.c
    session.execute(
        update(_USERS)
        .where(users.id == user_id, users.limit_month_start <= used_at)
        .values(limit_used=_counted(users, -amount))
    )


def refusal(session: Session, *, user_id: uuid.UUID, amount: int, now: datetime) -> Exception:
    """Why `take_spendable` refused `amount`: not enough credits, or the monthly limit
    (counted in the metrics as the attempt is refused: its transaction commits nothing)."""
    row = session.execute(
        select(
            col(User.credits), col(User.held), col(User.spend_limit), col(User.limit_used)
        ).where(col(User.id) == user_id)
    ).first()
    if row is None:
        metrics.SPEND_REFUSALS.labels(reason="unknown_user").inc()
        return UnknownUser(user_id)
    if row.credits - row.held < amount or row.spend_limit is None:
        metrics.SPEND_REFUSALS.labels(reason="insufficient_credits").inc()
        return InsufficientCredits(required=amount, available=row.credits - row.held)
    metrics.SPEND_REFUSALS.labels(reason="spending_limit").inc()
    return SpendingLimitReached(required=amount, limit=row.spend_limit, used=row.limit_used)


def _entry_by_key(session: Session, idempotency_key: str) -> LedgerEntry | None:
    return session.scalar(
        select(LedgerEntry).where(col(LedgerEntry.idempotency_key) == idempotency_key)
    )


def _replay(
    existing: LedgerEntry, *, user_id: uuid.UUID, kind: EntryKind, delta: int
) -> LedgerResult:
    if (existing.user_id, existing.kind, existing.delta) != (user_id, kind, delta):
        raise IdempotencyConflict(existing.idempotency_key)
    assert existing.id is not None
    return LedgerResult(
        entry_id=existing.id,
        user_id=existing.user_id,
        delta=existing.delta,
        balance_after=existing.balance_after,
        created_at=existing.created_at,
        replayed=True,
    )


@dataclass(frozen=True)
class ClawbackResult:
    """What a clawback took, and what it could not take (recorded as a Shortfall)."""

    taken: int
    shortfall: int
    # True when this key was used before: nothing more was taken.
    replayed: bool


def clawback(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    description: str,
    prefer_key: str | None = None,
    now: datetime | None = None,
) -> ClawbackResult:
    """Take back up to `amount` credits (a refund or dispute), never below zero: first
    from the lots the payment added (the grant keyed `prefer_key`, and its monthly
    grants), then in the burn order.

    What the user has already spent (or holds for running work) cannot be taken; that part
    is recorded as a Shortfall for admins. Repeating the key takes nothing more.
    """
    check_amount(amount)
    now = now or utcnow()
    locked = lock_user(session, user_id)
    existing = _entry_by_key(session, idempotency_key)
    recorded_short = session.scalar(
        select(col(Shortfall.credits)).where(col(Shortfall.reference) == idempotency_key)
    )
    if existing is not None or recorded_short is not None:
        taken = -existing.delta if existing is not None else 0
        return ClawbackResult(taken=taken, shortfall=recorded_short or 0, replayed=True)

    # Credits past their date are expired first: a take-back takes what is spendable.
    if locked.next_lot_expiry is not None and locked.next_lot_expiry <= now:
        expire_due(session, user_id=user_id, now=now)
    # Credits reserved by an active hold pay for work already running; leave them.
    taken = min(amount, available(session, user_id=user_id))
    if taken:
        result = _apply(
            session,
            user_id=user_id,
            delta=-taken,
            kind=EntryKind.CLAWBACK,
            idempotency_key=idempotency_key,
            description=description,
            now=now,
        )
        lots.take_in_order(
            session,
            user_id=user_id,
            lots=lots.free_lots(session, user_id=user_id, prefer_key=prefer_key),
            amount=taken,
            entry_id=result.entry_id,
        )
        lots.refresh_next_expiry(session, user_id=user_id)
    if amount > taken:
        session.add(Shortfall(user_id=user_id, reference=idempotency_key, credits=amount - taken))
        session.flush()
    return ClawbackResult(taken=taken, shortfall=amount - taken, replayed=False)


def forfeit(
    session: Session, *, user_id: uuid.UUID, idempotency_key: str, description: str
) -> LedgerResult | None:
    """Give up the whole balance in one FORFEIT entry (the account is being deleted), so
    the cached balance becomes 0 and still equals the ledger's sum. None when there was
    nothing to forfeit (a zero balance writes no entry: deltas are never 0). Repeating the
    key returns the first entry (replayed) and takes nothing more.

    Credits under an active hold pay for work still running: release or capture the holds
    first (HoldsStillActive otherwise), so nothing is taken out from under a hold."""
    locked = lock_user(session, user_id)
    if (existing := _entry_by_key(session, idempotency_key)) is not None:
        return _replay(existing, user_id=user_id, kind=EntryKind.FORFEIT, delta=existing.delta)
    if locked.held:
        raise HoldsStillActive(user_id, locked.held)
    if locked.credits == 0:
        return None
    result = _apply(
        session,
        user_id=user_id,
        delta=-locked.credits,
        kind=EntryKind.FORFEIT,
        idempotency_key=idempotency_key,
        description=description,
        now=utcnow(),
    )
    lots.take_in_order(
        session,
        user_id=user_id,
        lots=lots.free_lots(session, user_id=user_id),
        amount=locked.credits,
        entry_id=result.entry_id,
    )
    lots.refresh_next_expiry(session, user_id=user_id)
    return result


def expire_due(session: Session, *, user_id: uuid.UUID, now: datetime) -> int:
    """Write the expiry of each of the user's lots past its date: one EXPIRE entry for
    exactly its free remainder, keyed by the lot (keys.lot_expiry), so a lot expires once
    however many runs reach it. A plan lot with a rollover first moves up to its cap to a
    new lot that lasts one more period. Credits pinned by a running hold wait for it
    (`expire_unpinned`). The caller holds the user's row lock (`_lock_user`) or is the
    spend path that took it. Returns how many credits expired."""
    free = col(CreditLot.remaining) - col(CreditLot.reserved)
    due = session.scalars(
        select(CreditLot)
        .where(col(CreditLot.user_id) == user_id, free > 0, col(CreditLot.expires_at) <= now)
        .order_by(*lots.burn_order())
        .with_for_update()
    ).all()
    expired = 0
    for lot in due:
        assert lot.id is not None and lot.expires_at is not None  # loaded, and due
        left = lot.remaining - lot.reserved
        if lot.rollover_max and lot.rollover_until and lot.rollover_until > now:
            carried = min(left, lot.rollover_max)
            lots.open_lot(
                session,
                user_id=user_id,
                amount=carried,
                source=lot.source,
                priority=lot.priority,
                terms=LotTerms(expires_at=lot.rollover_until),
                entry_id=None,
                now=now,
                parent_lot_id=lot.id,
            )
            # The move out of the expiring lot is an allocation with no ledger entry.
            lots.take_in_order(
                session, user_id=user_id, lots=[(lot.id, carried)], amount=carried, entry_id=None
            )
            left -= carried
        if left:
            expired += _expire(session, lot, left, keys.lot_expiry(lot.id), now)
    lots.refresh_next_expiry(session, user_id=user_id)
    return expired


def expire_unpinned(
    session: Session,
    *,
    user_id: uuid.UUID,
    hold_id: int,
    pins: list[tuple[int, int]],
    now: datetime,
) -> None:
    """A settled hold gave back credits it had pinned: those of lots already past their
    date expire now (keyed by lot and hold), the rest become spendable again."""
    for lot_id, credits in pins:
        lot = session.get(CreditLot, lot_id)
        assert lot is not None  # a pin names an existing lot
        session.refresh(lot)
        if lot.expires_at is not None and lot.expires_at <= now:
            left = min(credits, lot.remaining - lot.reserved)
            if left:
                _expire(session, lot, left, keys.lot_expiry_after_hold(lot_id, hold_id), now)
    lots.refresh_next_expiry(session, user_id=user_id)


def _expire(session: Session, lot: CreditLot, credits: int, key: str, now: datetime) -> int:
    result = _apply(
        session,
        user_id=lot.user_id,
        delta=-credits,
        kind=EntryKind.EXPIRE,
        idempotency_key=key,
        source=lot.source,
        description=None,
        now=now,
    )
    if result.replayed:
        return 0
    assert lot.id is not None
    lots.take_in_order(
        session,
        user_id=lot.user_id,
        lots=[(lot.id, credits)],
        amount=credits,
        entry_id=result.entry_id,
    )
    return credits


def lock_user(session: Session, user_id: uuid.UUID):
    """Take the user's row lock (every change to their balance, holds or lots takes it
    first, so they happen one at a time); their credits, held and next_lot_expiry."""
    locked = session.execute(
        select(col(User.credits), col(User.held), col(User.next_lot_expiry))
        .where(col(User.id) == user_id)
        .with_for_update()
    ).first()
    if locked is None:
        raise UnknownUser(user_id)
    return locked
