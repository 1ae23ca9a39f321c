"""What the app's periodic jobs ask of the ledger, each in its own transaction on a worker
thread, on `engine` (the app's by default): ledger entries committed since the last look
(by any process), holds left behind by work that died, credit lots past their date, and
kept reports past 30 days, the daily totals."""

import asyncio
import uuid
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from credit_app.credits import daily, expiry, history, holds, report_files
from credit_app.db import in_read, in_transaction


def _ledger_since(session: Session, after_id: int) -> tuple[int, list[tuple[int, uuid.UUID]]]:
    return history.newest_entry_id(session), history.entries_since(session, after_id=after_id)


async def ledger_since(
    after_id: int, *, engine: Engine | None = None
) -> tuple[int, list[tuple[int, uuid.UUID]]]:
    """The newest ledger entry id, and (entry id, user id) of every entry newer than
    `after_id`, read together."""
    return await in_read(_ledger_since, after_id, engine=engine)


async def newest_entry_id(*, engine: Engine | None = None) -> int:
    """The newest ledger entry's id (0 for an empty ledger)."""
    return await in_read(history.newest_entry_id, engine=engine)


async def expire_stale_holds(*, engine: Engine | None = None) -> int:
    """Release every active hold past its expiry; returns how many."""
    return await in_transaction(holds.expire_stale, engine=engine)


async def expire_lots(*, now: datetime, engine: Engine | None = None) -> tuple[int, int]:
    """Expire every lot past its date at `now`, one transaction per user (expiry module);
    returns (users, credits expired)."""
    return await asyncio.to_thread(expiry.expire_lots, now=now, engine=engine)


def purge_old_reports(session: Session) -> int:
    """Delete kept report PDFs older than 30 days, in the caller's transaction (the
    `credit-app expire` command); returns how many."""
    return report_files.purge_old(session)


async def purge_reports(*, engine: Engine | None = None) -> int:
    """purge_old_reports in its own transaction on a worker thread."""
    return await in_transaction(report_files.purge_old, engine=engine)


async def roll_up_daily_totals(*, now: datetime, engine: Engine | None = None) -> int:
    """The ledger's daily totals brought up to date (credits.daily.roll_up)."""
    return await in_transaction(daily.roll_up, now=now, engine=engine)
