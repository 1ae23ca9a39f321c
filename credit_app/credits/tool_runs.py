"""Running a premium tool for a person: check the input, take the person's one heavy-run
slot, charge through the credit guard (charging.run_charged), run the tool on the bounded
worker pool (tools.pool).

    outcome = await run_tool(user_id=..., tool="keywords", action_id=..., inputs={"text": ...})
    outcome = await run_report(user_id=..., action_id=..., progress=...)
    reports = await recent_reports(user_id)          # kept PDFs, newest first (30 days)
    found = await report_pdf(user_id, report_id)     # one of them again, or None

Each takes `engine=` (default: the app's database) and opens its own transactions.

The order is what keeps one request from costing anything it should not:
- bad input raises ToolInputError before anything is charged: no ledger row, ever;
- a second heavy run (keywords, report) while one is going for the same user raises
  RunInProgress, also before anything is charged. The slot is a row in `tool_runs` (one
  per user), so it holds across every app process and machine; a row past its expiry
  belongs to a run whose process died, and the next run takes it over;
- only then are the credits charged, and the guard gives them back if the run fails
  (ToolTimeout, MemoryError, a dead worker...);
- a paid report's PDF is then kept (report_files) for 30 days: downloading it again
  costs nothing.
"""

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Engine, delete, update
from sqlmodel import Session, col

from credit_app import tools
from credit_app.credits import charging, history, keys, report_files
from credit_app.credits.report_files import ReportPdf as ReportPdf
from credit_app.credits.report_files import StoredReport as StoredReport
from credit_app.db import in_read, in_transaction, insert_unless_exists
from credit_app.models import ToolRun, utcnow
from credit_app.settings import get_settings
from credit_app.tools import ToolInputError, load_catalog, report
from credit_app.tools.pool import BACKSTOP_GRACE_SECONDS, get_pool

logger = logging.getLogger(__name__)

# The tools that can keep a worker busy for seconds: one of them at a time per user, so one
# person cannot fill the pool (the QR code takes milliseconds).
HEAVY_TOOLS = frozenset({"keywords", "report"})
T = TypeVar("T")
BUSY_MESSAGE = (
    "Another tool is still running for your account. Wait for it to finish, then try again."
)


class RunInProgress(Exception):
    """The user already has a heavy tool run going; nothing was charged."""

    def __init__(self) -> None:
        super().__init__(BUSY_MESSAGE)
        self.message = BUSY_MESSAGE


# ------------------------------------------------------------------ the per-user slot


def claim(session: Session, *, user_id: uuid.UUID, tool: str, run_id: str, ttl: timedelta) -> bool:
    """Take the user's heavy-run slot for `run_id`; False if a live run holds it."""
    now = utcnow()
    slot = {"tool": tool, "run_id": run_id, "started_at": now, "expires_at": now + ttl}
    inserted = session.execute(
        insert_unless_exists(session, ToolRun, key="user_id")
        .values(user_id=user_id, **slot)
        .returning(col(ToolRun.user_id))
    ).first()
    if inserted is not None:
        return True
    # The row of a run that outlived its expiry (its process died before releasing): the
    # condition on expires_at lets exactly one of several racing claims take it over.
    taken = session.execute(
        update(ToolRun)
        .where(col(ToolRun.user_id) == user_id, col(ToolRun.expires_at) < now)
        .values(**slot)
    )
    return isinstance(taken, CursorResult) and taken.rowcount == 1


def release(session: Session, *, user_id: uuid.UUID, run_id: str) -> None:
    """Free the slot if `run_id` still holds it (a run that expired and was taken over
    must not free its successor's slot)."""
    session.execute(
        delete(ToolRun).where(col(ToolRun.user_id) == user_id, col(ToolRun.run_id) == run_id)
    )


def claim_ttl() -> timedelta:
    """How long a claim lasts: the longest a live run can take, waiting for a free worker
    and then running, each bounded by the time limit plus the pool's backstop, with room
    for reading and charging. Past it, the claim can only belong to a dead process."""
    bounded = get_settings().tool_time_limit_seconds + BACKSTOP_GRACE_SECONDS
    return timedelta(seconds=2 * bounded + 60)


@asynccontextmanager
async def one_heavy_run(
    user_id: uuid.UUID, tool: str, *, engine: Engine | None = None
) -> AsyncIterator[None]:
    """Hold the user's heavy-run slot for the body; RunInProgress if it is taken."""
    run_id = uuid.uuid4().hex
    taken = await in_transaction(
        claim, engine=engine, user_id=user_id, tool=tool, run_id=run_id, ttl=claim_ttl()
    )
    if not taken:
        raise RunInProgress()
    try:
        yield
    finally:
        # Shielded: a cancelled request still frees the slot.
        await asyncio.shield(in_transaction(release, engine=engine, user_id=user_id, run_id=run_id))


# ------------------------------------------------------------------ running a tool


async def run_tool(
    *,
    user_id: uuid.UUID,
    tool: str,
    action_id: str,
    inputs: dict[str, Any],
    engine: Engine | None = None,
) -> charging.Charged[Any]:
    """Run a quick-paid tool (qr, keywords) on `inputs`, its own keyword arguments.
    Raises ToolInputError or RunInProgress (nothing charged), InsufficientCredits, or the
    run's failure (credits given back). `engine` defaults to the app's database."""
    tools.check_input(tool, **inputs)
    slot: AbstractAsyncContextManager[None] = (
        one_heavy_run(user_id, tool, engine=engine) if tool in HEAVY_TOOLS else nullcontext()
    )
    async with slot:
        return await _charge(
            user_id, tool, action_id, lambda: get_pool().run(tool, **inputs), engine=engine
        )


async def run_report(
    *,
    user_id: uuid.UUID,
    action_id: str,
    progress: report.ProgressCallback | None = None,
    engine: Engine | None = None,
) -> charging.Charged[report.ReportResult]:
    """Build the user's PDF usage report of their whole history up to now (the report
    states that window): credits held while it runs, captured when it is ready. The name,
    balance and time zone (its times and months) are read from the database with its
    entries, in one transaction (holds do not change the balance, so it is the balance
    before this report's charge).
    Raises like run_tool."""
    async with one_heavy_run(user_id, "report", engine=engine):
        window = report.ReportWindow(until=utcnow())
        row_count = await in_read(
            history.count_in_window, engine=engine, user_id=user_id, window=window
        )
        tools.check_input("report", row_count=row_count)

        async def build() -> report.ReportResult:
            found = await read_report(user_id, window=window, engine=engine)
            return await get_pool().run(
                "report",
                found.entries,
                name=found.name,
                balance=found.balance,
                window=window,
                progress=progress,
                tz=found.tz,
            )

        action_key = keys.tool_action(user_id, "report", action_id)
        outcome = await _charge(user_id, "report", action_id, build, long=True, engine=engine)
    if outcome.result is None:  # replayed: kept (or not) by the run that was paid
        return outcome
    built = outcome.result
    try:
        stored_id = await asyncio.shield(
            in_transaction(
                report_files.store,
                engine=engine,
                user_id=user_id,
                action_key=action_key,
                filename=built.filename,
                pages=built.pages,
                pdf=built.pdf,
            )
        )
    except Exception:
        # Paid and built: the person still gets this download; only a second one is lost.
        logger.exception("keeping the report of %s failed", action_key)
        return outcome
    return dataclasses.replace(outcome, result=dataclasses.replace(built, stored_id=stored_id))


async def recent_reports(user_id: uuid.UUID, *, engine: Engine | None = None) -> list[StoredReport]:
    """The person's kept reports of the last 30 days, newest first (no PDFs)."""
    return await in_read(report_files.recent, engine=engine, user_id=user_id)


async def report_pdf(
    user_id: uuid.UUID, report_id: object, *, engine: Engine | None = None
) -> ReportPdf | None:
    """The PDF of the person's kept report `report_id` (from a browser: anything at all);
    None unless it is theirs and within 30 days. Costs nothing."""
    return await in_read(report_files.pdf, engine=engine, user_id=user_id, report_id=report_id)


async def read_report(
    user_id: uuid.UUID, *, window: report.ReportWindow, engine: Engine | None = None
) -> history.ReportInput:
    """The user's name, balance, time zone and ledger entries inside `window` (oldest
    first), as the report prints them, read in one transaction."""
    return await in_read(
        history.report_input,
        engine=engine,
        user_id=user_id,
        window=window,
        limit=report.MAX_ROWS,
    )


async def _charge(
    user_id: uuid.UUID,
    tool: str,
    action_id: str,
    work: Callable[[], Awaitable[T]],
    *,
    long: bool = False,
    engine: Engine | None = None,
) -> charging.Charged[T]:
    spec = load_catalog()[tool]  # read each time: an edited price applies at once

    async def checked_work() -> T:
        try:
            return await work()
        except ToolInputError as exc:
            # The input passed its check before charging, so this is our bug, not the
            # person's: a failed run (credits back), not a message about their input.
            raise RuntimeError(f"{tool} refused input that passed its check: {exc}") from exc

    return await charging.run_charged(
        user_id=user_id,
        feature=tool,
        cost=spec.credits,
        action_key=keys.tool_action(user_id, tool, action_id),
        description=spec.name,
        work=checked_work,
        long=long,
        engine=engine,
    )
