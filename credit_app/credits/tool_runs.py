"""Running a premium tool for a person: check the input, take the person's one heavy-run
slot, charge through the credit guard (charging.run_charged), run the tool on the bounded
worker pool (tools.pool).

    outcome = await run_tool(user_id=..., tool="keywords", action_id=..., inputs={"text": ...})
    outcome = await run_report(user_id=..., action_id=..., name=..., balance=..., progress=...)

The order is what keeps one request from costing anything it should not:
- bad input raises ToolInputError before anything is charged: no ledger row, ever;
- a second heavy run (keywords, report) while one is going for the same user raises
  RunInProgress, also before anything is charged. The slot is a row in `tool_runs` (one
  per user), so it holds across every app process and machine; a row past its expiry
  belongs to a run whose process died, and the next run takes it over;
- only then are the credits charged, and the guard gives them back if the run fails
  (ToolTimeout, MemoryError, a dead worker...).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session

from credit_app import tools
from credit_app.credits import charging, history, keys
from credit_app.db import insert_unless_exists, read_scope, session_scope
from credit_app.models import ToolRun, utcnow
from credit_app.settings import get_settings
from credit_app.tools import ToolInputError, load_catalog, report
from credit_app.tools.pool import BACKSTOP_GRACE_SECONDS, get_pool

# The tools that can keep a worker busy for seconds: one of them at a time per user, so one
# person cannot fill the pool (the QR code takes milliseconds).
HEAVY_TOOLS = frozenset({"keywords", "report"})
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
        .returning(ToolRun.user_id)
    ).first()
    if inserted is not None:
        return True
    # The row of a run that outlived its expiry (its process died before releasing): the
    # condition on expires_at lets exactly one of several racing claims take it over.
    taken = session.execute(
        update(ToolRun).where(ToolRun.user_id == user_id, ToolRun.expires_at < now).values(**slot)
    )
    return taken.rowcount == 1


def release(session: Session, *, user_id: uuid.UUID, run_id: str) -> None:
    """Free the slot if `run_id` still holds it (a run that expired and was taken over
    must not free its successor's slot)."""
    session.execute(delete(ToolRun).where(ToolRun.user_id == user_id, ToolRun.run_id == run_id))


def claim_ttl() -> timedelta:
    """How long a claim lasts: the longest a live run can take, waiting for a free worker
    and then running, each bounded by the time limit plus the pool's backstop, with room
    for reading and charging. Past it, the claim can only belong to a dead process."""
    bounded = get_settings().tool_time_limit_seconds + BACKSTOP_GRACE_SECONDS
    return timedelta(seconds=2 * bounded + 60)


def _claim(user_id: uuid.UUID, tool: str, run_id: str) -> bool:
    with session_scope() as session:
        return claim(session, user_id=user_id, tool=tool, run_id=run_id, ttl=claim_ttl())


def _release(user_id: uuid.UUID, run_id: str) -> None:
    with session_scope() as session:
        release(session, user_id=user_id, run_id=run_id)


@asynccontextmanager
async def one_heavy_run(user_id: uuid.UUID, tool: str) -> AsyncIterator[None]:
    """Hold the user's heavy-run slot for the body; RunInProgress if it is taken."""
    run_id = uuid.uuid4().hex
    if not await asyncio.to_thread(_claim, user_id, tool, run_id):
        raise RunInProgress()
    try:
        yield
    finally:
        # Shielded: a cancelled request still frees the slot.
        await asyncio.shield(asyncio.to_thread(_release, user_id, run_id))


# ------------------------------------------------------------------ running a tool


async def run_tool(
    *, user_id: uuid.UUID, tool: str, action_id: str, inputs: dict[str, Any]
) -> charging.Charged:
    """Run a quick-paid tool (qr, keywords) on `inputs`, its own keyword arguments.
    Raises ToolInputError or RunInProgress (nothing charged), InsufficientCredits, or the
    run's failure (credits given back)."""
    tools.check_input(tool, **inputs)
    slot = one_heavy_run(user_id, tool) if tool in HEAVY_TOOLS else nullcontext()
    async with slot:
        return await _charge(user_id, tool, action_id, lambda: get_pool().run(tool, **inputs))


async def run_report(
    *,
    user_id: uuid.UUID,
    action_id: str,
    name: str,
    balance: int,
    progress: report.ProgressCallback | None = None,
) -> charging.Charged:
    """Build the user's PDF usage report: credits held while it runs, captured when it is
    ready. Raises like run_tool."""
    async with one_heavy_run(user_id, "report"):
        row_count = await asyncio.to_thread(_ledger_size, user_id)
        tools.check_input("report", row_count=row_count)

        async def build() -> report.ReportResult:
            rows = await asyncio.to_thread(_report_rows, user_id)
            return await get_pool().run(
                "report", rows, name=name, balance=balance, progress=progress
            )

        return await _charge(user_id, "report", action_id, build, long=True)


async def _charge(
    user_id: uuid.UUID, tool: str, action_id: str, work: Callable, *, long: bool = False
) -> charging.Charged:
    spec = load_catalog()[tool]  # read each time: an edited price applies at once

    async def checked_work() -> Any:
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
    )


def _ledger_size(user_id: uuid.UUID) -> int:
    with read_scope() as session:
        _, total = history.ledger_page(
            session, user_id=user_id, where=history.LedgerFilter(), page=1, per_page=1
        )
    return total


def _report_rows(user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The user's ledger, oldest first, as the rows report.run reads."""
    with read_scope() as session:
        newest_first, _ = history.ledger_page(
            session, user_id=user_id, where=history.LedgerFilter(), page=1, per_page=report.MAX_ROWS
        )
    return [
        {
            "when": e.created_at.isoformat(),
            "kind": e.kind,
            "what": e.description or e.feature or e.source or e.kind,
            "delta": e.delta,
            "balance_after": e.balance_after,
        }
        for e in reversed(newest_first)
    ]
