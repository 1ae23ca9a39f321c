"""Credit lots: credits of one kind and one expiry date, and the order spends draw on them.

Every credit a user has sits in one lot (models.CreditLot); the balance is the sum of
their lots' `remaining` (DESIGN.md invariant 5). Only the ledger (ledger.py, holds.py,
expiry.py) calls this module, always under the user's row lock, inside the ledger entry's
transaction.

The burn order, the one order every spend, hold and take-back uses:
  1. soonest expiry first (lots that never expire last),
  2. then welcome and promotional credits (priority 0) before plan credits (1) before
     purchased ones (2: packs, and the "earlier credits" every balance became when lots
     arrived),
  3. then the oldest lot first.

A spend draws inside the database: on PostgreSQL in the same statement that inserts its
ledger entry (`spend_and_draw`, data-modifying CTEs), so lots cost the spend path no round
trip; on SQLite in two more statements. It needs no check of its own: the spend's
conditional UPDATE of the user's row has already made sure that `credits - held` covers
it and that no lot with free credits is past its expiry (`users.next_lot_expiry`), so the
free credits of the user's lots are all spendable and add up to at least the amount.

Holds pin credits: a reservation moves credits of lots into their `reserved` part
(lot_reservations), where nothing else can spend them and expiry leaves them alone until
the hold is settled (captured: spent from the pinned lots; released: unpinned, and expired
at once if their lot's date has passed meanwhile).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Uuid, bindparam, case, func, select, text, update
from sqlmodel import Session, col

from credit_app.models import (
    CreditLot,
    GrantSource,
    LedgerEntry,
    LotAllocation,
    LotReservation,
    User,
    UTCDateTime,
)

# Burn-order rank among lots expiring together (rule 2 above).
PRIORITY: dict[str, int] = {
    GrantSource.SIGNUP: 0,
    GrantSource.ADMIN: 0,
    GrantSource.PROMO: 0,
    GrantSource.SUBSCRIPTION: 1,
    GrantSource.PACK: 2,
    GrantSource.EARLIER: 2,
    GrantSource.DISPUTE_WON: 2,
}


@dataclass(frozen=True)
class LotTerms:
    """When a grant's credits expire, and whether some may roll over into the next period."""

    expires_at: datetime | None = None
    rollover_max: int | None = None
    rollover_until: datetime | None = None


NEVER_EXPIRES = LotTerms()


def burn_order() -> list:
    """ORDER BY terms of the burn order, for queries over CreditLot."""
    expires = col(CreditLot.expires_at)
    return [
        case((expires.is_(None), 1), else_=0),
        expires,
        col(CreditLot.priority),
        col(CreditLot.id),
    ]


def open_lot(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    source: str,
    terms: LotTerms,
    entry_id: int | None,
    now: datetime,
    priority: int | None = None,
    parent_lot_id: int | None = None,
) -> int:
    """Add a lot of `amount` credits (the entry that added them is `entry_id`)."""
    lot = CreditLot(
        user_id=user_id,
        source=source,
        priority=PRIORITY.get(source, 0) if priority is None else priority,
        amount=amount,
        remaining=amount,
        expires_at=terms.expires_at,
        rollover_max=terms.rollover_max,
        rollover_until=terms.rollover_until,
        entry_id=entry_id,
        parent_lot_id=parent_lot_id,
        created_at=now,
    )
    session.add(lot)
    session.flush()
    if terms.expires_at is not None:
        next_expiry = col(User.next_lot_expiry)
        session.execute(
            update(User)
            .where(col(User.id) == user_id)
            .where(next_expiry.is_(None) | (next_expiry > terms.expires_at))
            .values(next_lot_expiry=terms.expires_at)
            .execution_options(synchronize_session=False)
        )
    assert lot.id is not None  # flushed
    return lot.id


def open_returned_lot(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    taken_by_key: str,
    fallback_source: str,
    entry_id: int,
    now: datetime,
) -> int:
    """Credits given back (a failed tool's refund, a won dispute) return as one lot like
    the latest-expiring lot the taking entry (`taken_by_key`) drew from: same kind, same
    burn rank, same expiry. An entry from before lots (no allocations) gives a lot of
    `fallback_source` that never expires, like every balance carried into lots."""
    taken_from = session.execute(
        select(CreditLot)
        .join(LotAllocation, col(LotAllocation.lot_id) == col(CreditLot.id))
        .join(LedgerEntry, col(LedgerEntry.id) == col(LotAllocation.entry_id))
        .where(col(LedgerEntry.idempotency_key) == taken_by_key)
        # The latest expiry (never-expiring first), then the last in the burn order.
        .order_by(
            col(CreditLot.expires_at).is_(None).desc(),
            col(CreditLot.expires_at).desc(),
            col(CreditLot.priority).desc(),
            col(CreditLot.id).desc(),
        )
        .limit(1)
    ).scalar()
    if taken_from is None:
        return open_lot(
            session,
            user_id=user_id,
            amount=amount,
            source=fallback_source,
            terms=NEVER_EXPIRES,
            entry_id=entry_id,
            now=now,
        )
    return open_lot(
        session,
        user_id=user_id,
        amount=amount,
        source=taken_from.source,
        priority=taken_from.priority,
        terms=LotTerms(expires_at=taken_from.expires_at),
        entry_id=entry_id,
        now=now,
        parent_lot_id=taken_from.id,
    )


# The lots a draw takes from (`gate`: an extra condition on the whole draw). `upto` is the
# running total of free credits in burn order; a lot is drawn on while the credits before
# it fall short of the amount, and gives what is still missing or all it has.
_ORDERED = """
ordered AS (
  SELECT id, remaining - reserved AS free,
         SUM(remaining - reserved) OVER (
           ORDER BY CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, priority, id
           ROWS UNBOUNDED PRECEDING) AS upto
  FROM credit_lots
  WHERE user_id = :user_id AND remaining > reserved{gate}
),
picks AS (
  SELECT id, CASE WHEN free < :amount - (upto - free) THEN free
                  ELSE :amount - (upto - free) END AS take
  FROM ordered WHERE upto - free < :amount
)"""


@dataclass(frozen=True)
class _Target:
    """Where a draw is recorded (`table`, keyed by `owner`) and which lot column it moves
    (`column`, by `sign` x the credits taken)."""

    table: str
    owner: str
    column: str
    sign: str


_DRAW = _Target("lot_allocations", "entry_id", "remaining", "-")
_PIN = _Target("lot_reservations", "hold_id", "reserved", "+")


def _statements(dialect: str, target: _Target) -> list:
    table, owner, column, sign = target.table, target.owner, target.column, target.sign
    if dialect == "postgresql":
        sql = [
            f"""WITH {_ORDERED.format(gate="")},
            changed AS (
              UPDATE credit_lots SET {column} = credit_lots.{column} {sign} picks.take
              FROM picks WHERE credit_lots.id = picks.id RETURNING credit_lots.id, picks.take
            )
            INSERT INTO {table} (user_id, lot_id, {owner}, credits)
            SELECT :user_id, id, :owner, take FROM changed RETURNING credits"""
        ]
    else:
        # SQLite has no data-modifying CTE and its UPDATE ... FROM cannot RETURN the
        # joined value: record the picks, then apply them.
        sql = [
            f"""WITH {_ORDERED.format(gate="")}
            INSERT INTO {table} (user_id, lot_id, {owner}, credits)
            SELECT :user_id, id, :owner, take FROM picks RETURNING credits""",
            f"""UPDATE credit_lots SET {column} = {column} {sign} (
              SELECT t.credits FROM {table} t
              WHERE t.{owner} = :owner AND t.lot_id = credit_lots.id)
            WHERE id IN (SELECT lot_id FROM {table} WHERE {owner} = :owner)""",
        ]
    uuid_param = bindparam("user_id", type_=Uuid())
    return [text(s).bindparams(uuid_param) if ":user_id" in s else text(s) for s in sql]


_CACHE: dict[tuple[str, _Target], list] = {}


def _run(session: Session, target: _Target, **params: object) -> int:
    dialect = session.get_bind().dialect.name
    statements = _CACHE.get((dialect, target))
    if statements is None:
        statements = _CACHE[(dialect, target)] = _statements(dialect, target)
    taken = sum(row[0] for row in session.execute(statements[0], params))
    for statement in statements[1:]:
        session.execute(statement, params)
    return taken


def draw(session: Session, *, user_id: uuid.UUID, amount: int, entry_id: int) -> None:
    """Take `amount` free credits from the user's lots in the burn order, recording which
    lots paid for entry `entry_id`. The caller has checked that they are there."""
    taken = _run(session, _DRAW, user_id=user_id, amount=amount, owner=entry_id)
    assert taken == amount, f"lots gave {taken} of {amount}: invariant 5 is broken"


# PostgreSQL's spend in one round trip: the ledger entry (unless its key was used) and
# the draw it pays with, in one statement of data-modifying CTEs. The draw happens only if
# the entry was inserted (EXISTS (SELECT 1 FROM entry)).
_SPEND_AND_DRAW = text(
    f"""WITH entry AS (
      INSERT INTO ledger_entries (user_id, kind, feature, description, delta, balance_after,
                                  idempotency_key, created_at)
      VALUES (:user_id, :kind, :feature, :description, -:amount, :balance_after, :key,
              :created_at)
      ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, created_at
    ),
    {_ORDERED.format(gate=" AND EXISTS (SELECT 1 FROM entry)")},
    changed AS (
      UPDATE credit_lots SET remaining = credit_lots.remaining - picks.take
      FROM picks WHERE credit_lots.id = picks.id RETURNING credit_lots.id, picks.take
    ),
    drawn AS (
      INSERT INTO lot_allocations (user_id, lot_id, entry_id, credits)
      SELECT :user_id, changed.id, entry.id, changed.take FROM changed, entry RETURNING credits
    )
    SELECT entry.id, entry.created_at, (SELECT COALESCE(SUM(credits), 0) FROM drawn) AS drawn
    FROM entry"""
).bindparams(bindparam("user_id", type_=Uuid()), bindparam("created_at", type_=UTCDateTime()))


def spend_and_draw(
    session: Session,
    *,
    user_id: uuid.UUID,
    amount: int,
    balance_after: int,
    key: str,
    kind: str,
    feature: str | None,
    description: str | None,
    created_at: datetime,
) -> tuple[int, datetime] | None:
    """PostgreSQL only: insert the spend's entry and draw `amount` for it in the burn
    order, in one statement; (entry id, created_at), or None when the key was used."""
    row = session.execute(
        _SPEND_AND_DRAW,
        {
            "user_id": user_id,
            "amount": amount,
            "balance_after": balance_after,
            "key": key,
            "kind": kind,
            "feature": feature,
            "description": description,
            "created_at": created_at,
        },
    ).first()
    if row is None:
        return None
    assert row.drawn == amount, f"lots gave {row.drawn} of {amount}: invariant 5 is broken"
    return row.id, row.created_at


def pin(session: Session, *, user_id: uuid.UUID, amount: int, hold_id: int) -> None:
    """Pin `amount` free credits for hold `hold_id`, in the burn order."""
    taken = _run(session, _PIN, user_id=user_id, amount=amount, owner=hold_id)
    assert taken == amount, f"lots pinned {taken} of {amount}: invariant 5 is broken"


def unpin(session: Session, *, hold_id: int) -> list[tuple[int, int]]:
    """Give back every credit hold `hold_id` pinned; returns (lot id, credits) pairs."""
    pins = [
        (p.lot_id, p.credits)
        for p in session.scalars(
            select(LotReservation).where(col(LotReservation.hold_id) == hold_id)
        )
    ]
    for lot_id, credits in pins:
        session.execute(
            update(CreditLot)
            .where(col(CreditLot.id) == lot_id)
            .values(reserved=col(CreditLot.reserved) - credits)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        LotReservation.__table__.delete().where(  # type: ignore[attr-defined]
            LotReservation.__table__.c.hold_id == hold_id  # type: ignore[attr-defined]
        )
    )
    return pins


def consume_pins(
    session: Session, *, user_id: uuid.UUID, hold_id: int, amount: int, entry_id: int
) -> list[tuple[int, int]]:
    """Capture: spend `amount` of what hold `hold_id` pinned, from its lots in the burn
    order, and unpin the rest; returns the (lot id, credits) unpinned but not spent (the
    caller expires those of a lot whose date has passed)."""
    pinned = session.execute(
        select(col(LotReservation.lot_id), col(LotReservation.credits))
        .join(CreditLot, col(CreditLot.id) == col(LotReservation.lot_id))
        .where(col(LotReservation.hold_id) == hold_id)
        .order_by(*burn_order())
    ).all()
    unpin(session, hold_id=hold_id)
    left, unspent = amount, []
    for lot_id, credits in pinned:
        take = min(credits, left)
        left -= take
        if take:
            take_in_order(
                session, user_id=user_id, lots=[(lot_id, take)], amount=take, entry_id=entry_id
            )
        if credits > take:
            unspent.append((lot_id, credits - take))
    return unspent


def take_in_order(
    session: Session,
    *,
    user_id: uuid.UUID,
    lots: list[tuple[int, int]],
    amount: int,
    entry_id: int | None,
) -> int:
    """Take up to `amount` credits from `lots` ((lot id, credits it may give) in the order
    to draw), recording them against `entry_id`. Returns what was taken."""
    left = amount
    for lot_id, free in lots:
        if left == 0:
            break
        take = min(free, left)
        if take <= 0:
            continue
        session.execute(
            update(CreditLot)
            .where(col(CreditLot.id) == lot_id)
            .values(remaining=col(CreditLot.remaining) - take)
            .execution_options(synchronize_session=False)
        )
        session.add(LotAllocation(user_id=user_id, lot_id=lot_id, entry_id=entry_id, credits=take))
        left -= take
    session.flush()
    return amount - left


def free_lots(
    session: Session, *, user_id: uuid.UUID, prefer_key: str | None = None
) -> list[tuple[int, int]]:
    """(lot id, free credits) of every lot with free credits, in the burn order; with
    `prefer_key`, the lots added by that entry (or by entries keyed `<prefer_key>:...`,
    e.g. a yearly payment's monthly grants) first: what a refund of it takes back first."""
    free = col(CreditLot.remaining) - col(CreditLot.reserved)
    statement = select(col(CreditLot.id), free).where(col(CreditLot.user_id) == user_id, free > 0)
    order = burn_order()
    if prefer_key is not None:
        key = col(LedgerEntry.idempotency_key)
        statement = statement.outerjoin(LedgerEntry, col(LedgerEntry.id) == col(CreditLot.entry_id))
        preferred = (key == prefer_key) | key.startswith(f"{prefer_key}:", autoescape=True)
        order = [case((preferred, 0), else_=1), *order]
    return [(row[0], row[1]) for row in session.execute(statement.order_by(*order))]


def refresh_next_expiry(session: Session, *, user_id: uuid.UUID) -> None:
    """Recompute users.next_lot_expiry: the soonest expiry among lots with free credits."""
    soonest = (
        select(func.min(col(CreditLot.expires_at)))
        .where(
            col(CreditLot.user_id) == user_id,
            col(CreditLot.remaining) > col(CreditLot.reserved),
        )
        .scalar_subquery()
    )
    session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .values(next_lot_expiry=soonest)
        .execution_options(synchronize_session=False)
    )
