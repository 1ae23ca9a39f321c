"""A person's own monthly spending limit: setting it, and how much of it is used.

    set_spend_limit(session, user_id=, limit=1000, now=)   # or limit=None: no limit
    limit_status(session, user_id=, now=) -> LimitStatus(limit, used, resets_at)
    parse_limit("1,000") -> 1000       (InvalidLimit, with the customer's message, if bad)

The month is the calendar month in the person's time zone (User.time_zone; UTC while none
is stored). The ledger checks the limit itself, in the spend's conditional UPDATE
(ledger.take_spendable), against `users.limit_used`; this module only starts that count.
Setting a limit counts what the month has used so far, so a limit set mid-month starts
from the truth, not from zero:

    used = spends + captures in the month - refunds in the month
           + active holds reserved in the month (they count when reserved), never below 0

Everything happens under the user's row lock, like every other change to their balance.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from credit_app import zones
from credit_app.credits.errors import UnknownUser
from credit_app.credits.ledger import start_limit_month
from credit_app.models import EntryKind, Hold, HoldStatus, LedgerEntry, User

# The largest limit a person may set: far above any month's real use, far below what an
# integer column holds.
MAX_LIMIT = 10_000_000


WHOLE_NUMBER = f"Enter a whole number of credits, from 1 to {MAX_LIMIT:,}."
TOO_LOW = "The limit must be at least 1 credit. To have no limit, choose Remove limit."
TOO_HIGH = f"The limit can be at most {MAX_LIMIT:,} credits."
# "1000", "1,000" or "1 000": digits, optionally grouped in thousands.
_GROUPED = re.compile(r"^\d{1,3}([, ]\d{3})*$")
_MAX_TYPED = 16  # longer than any limit can be written: refused before it is parsed


class InvalidLimit(ValueError):
    """A limit that is not a whole number from 1 to MAX_LIMIT; `message` says why, in the
    customer's words."""

    def __init__(self, limit: object, message: str = WHOLE_NUMBER) -> None:
        super().__init__(f"a spending limit is a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
        self.limit = limit
        self.message = message


def parse_limit(raw: str) -> int:
    """The limit a person typed ("1000", "1,000", " 1000 "), as a number 1..MAX_LIMIT;
    InvalidLimit (with the message to show) for anything else: empty, signs, decimals,
    exponents, other digits than 0-9, 0, or too much."""
    text = str(raw).strip()
    if not text or len(text) > _MAX_TYPED or not text.isascii():
        raise InvalidLimit(raw)
    if not (text.isdigit() or _GROUPED.match(text)):
        raise InvalidLimit(raw)
    value = int(text.replace(",", "").replace(" ", ""))
    if value < 1:
        raise InvalidLimit(raw, TOO_LOW)
    if value > MAX_LIMIT:
        raise InvalidLimit(raw, TOO_HIGH)
    return value


@dataclass(frozen=True)
class LimitStatus:
    """The person's limit (None: none set), what this month has used of it, and when the
    count starts again (the next month's first instant in their zone, UTC)."""

    limit: int | None
    used: int
    resets_at: datetime

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


def check_limit(limit: object) -> int | None:
    """`limit` if it is None or a whole number 1..MAX_LIMIT (not a bool); else InvalidLimit."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidLimit(limit)
    return limit


def month_used(session: Session, *, user_id: uuid.UUID, since: datetime) -> int:
    """Credits counted against a limit since `since`: spends and captures, less refunds,
    plus active holds reserved since then; never below 0."""
    kind, created = col(LedgerEntry.kind), col(LedgerEntry.created_at)
    spent = session.scalar(
        select(func.coalesce(func.sum(-col(LedgerEntry.delta)), 0)).where(
            col(LedgerEntry.user_id) == user_id,
            kind.in_((EntryKind.SPEND, EntryKind.CAPTURE)),
            created >= since,
        )
    )
    returned = session.scalar(
        select(func.coalesce(func.sum(col(LedgerEntry.delta)), 0)).where(
            col(LedgerEntry.user_id) == user_id,
            kind == EntryKind.REFUND,
            created >= since,
        )
    )
    holding = session.scalar(
        select(func.coalesce(func.sum(col(Hold.amount)), 0)).where(
            col(Hold.user_id) == user_id,
            col(Hold.status) == HoldStatus.ACTIVE,
            col(Hold.created_at) >= since,
        )
    )
    return max(0, int(spent or 0) - int(returned or 0) + int(holding or 0))


def set_spend_limit(
    session: Session, *, user_id: uuid.UUID, limit: int | None, now: datetime
) -> LimitStatus:
    """Set (or with None remove) the person's monthly limit. Setting one counts this
    month's use so far and starts the month's count from it. Raises InvalidLimit or
    UnknownUser, writing nothing."""
    limit = check_limit(limit)
    locked = session.execute(
        select(col(User.id), col(User.time_zone)).where(col(User.id) == user_id).with_for_update()
    ).first()
    if locked is None:
        raise UnknownUser(user_id)
    time_zone = locked.time_zone
    session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .values(spend_limit=limit)
        .execution_options(synchronize_session=False)
    )
    tz = zones.zone(time_zone)
    if limit is not None:
        used = month_used(session, user_id=user_id, since=zones.month_start(now, tz))
        start_limit_month(session, user_id=user_id, now=now, time_zone=time_zone, used=used)
        return LimitStatus(limit=limit, used=used, resets_at=zones.next_month_start(now, tz))
    return LimitStatus(limit=None, used=0, resets_at=zones.next_month_start(now, tz))


def limit_status(session: Session, *, user_id: uuid.UUID, now: datetime) -> LimitStatus:
    """The person's limit and this month's use of it. A month that has ended counts 0
    (the next spend starts the new month's count). Raises UnknownUser."""
    row = session.execute(
        select(
            col(User.spend_limit),
            col(User.limit_used),
            col(User.limit_month_end),
            col(User.time_zone),
        ).where(col(User.id) == user_id)
    ).first()
    if row is None:
        raise UnknownUser(user_id)
    following = zones.next_month_start(now, zones.zone(row.time_zone))
    if row.spend_limit is None:
        return LimitStatus(limit=None, used=0, resets_at=following)
    if row.limit_month_end is None or row.limit_month_end <= now:
        return LimitStatus(limit=row.spend_limit, used=0, resets_at=following)
    return LimitStatus(limit=row.spend_limit, used=row.limit_used, resets_at=row.limit_month_end)
