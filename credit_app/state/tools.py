"""The premium tools page. Every tool runs through credits.tool_runs: input checked and the
session re-checked on the server before anything is charged, one charge per action, the work
on the bounded tool pool, credits back if it fails."""

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from credit_app import credits, routes, wording
from credit_app.billing import catalog
from credit_app.credits import tool_runs
from credit_app.state.account import AccountState
from credit_app.state.live import LiveAccount
from credit_app.tools import ToolInputError, load_catalog, pool

logger = logging.getLogger(__name__)

TOOL_FAILED = "The tool failed and your credits were given back. Try again."
TOOL_TOO_LONG = "That took too long, so it was stopped and your credits were given back."
TOOL_TOO_BIG = "That needed more memory than a run may use; your credits were given back."
WORKERS_BUSY = "The tools are busy right now; your credits were given back. Try again shortly."
PROGRESS_REFRESH_SECONDS = 0.2


def _new_action_id() -> str:
    return uuid.uuid4().hex


def _action_id(sent: str) -> str:
    """The browser sends back the id we gave it; anything else gets a fresh one (so it
    can neither collide with another action's key nor overflow the key column)."""
    if len(sent) == 32 and all(c in "0123456789abcdef" for c in sent):
        return sent
    return _new_action_id()


def _upgrade_href(plan_rank: int) -> str:
    return routes.pricing_for(catalog.next_plan_up(plan_rank).id)


class ToolsState(AccountState):
    costs: rx.Field[dict[str, int]] = rx.field(default_factory=dict)
    # "1 credit", "10 credits": each tool's cost as its button says it.
    cost_texts: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    names: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    # One id per pending action and tool: a double-click or a retry repeats the same id,
    # so the guard charges it once.
    action_ids: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    running: rx.Field[str] = rx.field("")
    errors: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    notices: rx.Field[dict[str, str]] = rx.field(default_factory=dict)

    qr_svg: rx.Field[str] = rx.field("")
    qr_png: rx.Field[str] = rx.field("")
    keyphrases: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    summary: rx.Field[list[str]] = rx.field(default_factory=list)
    report_progress: rx.Field[float] = rx.field(0.0)
    report_message: rx.Field[str] = rx.field("")

    dialog_open: rx.Field[bool] = rx.field(False)
    dialog_tool: rx.Field[str] = rx.field("")  # whose button gets focus back on close
    dialog_needed: rx.Field[int] = rx.field(0)
    dialog_available: rx.Field[int] = rx.field(0)
    dialog_needed_text: rx.Field[str] = rx.field("")
    dialog_available_text: rx.Field[str] = rx.field("")
    # Where "Upgrade plan" leads: the next plan up from the person's (catalog.next_plan_up).
    upgrade_href: rx.Field[str] = rx.field(_upgrade_href(0))

    @rx.event
    async def load(self):
        if (user_id := await self._authenticated_user_id()) is None:
            return self._to_login()
        tools = load_catalog()  # read each time: an edited cost applies at once
        self.costs = {t.id: t.credits for t in tools.values()}
        self.cost_texts = {t.id: wording.credits(t.credits) for t in tools.values()}
        self.names = {t.id: t.name for t in tools.values()}
        self.action_ids = {t: self.action_ids.get(t) or _new_action_id() for t in tools}
        await self._refresh(user_id)
        return None

    @rx.event
    def dialog_open_changed(self, open_: bool):
        """The dialog's own open/close (Escape, its Cancel button): only closing it."""
        if not open_:
            self.dialog_open = False

    async def _charged(
        self,
        tool: str,
        run: Callable[[uuid.UUID], Awaitable[Any]],
        *,
        background: bool = False,
    ) -> tuple[EventSpec | None, Any]:
        """`await run(user_id)` (a credits.tool_runs call) once the session is re-checked;
        returns (redirect or None, result or None) and shows why a run did not happen.

        In a background event the state lock is taken only around state changes, never
        while the work runs, so progress updates and other events go on meanwhile.
        """
        state_lock = self if background else contextlib.nullcontext()
        async with state_lock:
            if (user_id := await self._authenticated_user_id()) is None:
                return self._to_login(), None
            self.errors = {**self.errors, tool: ""}
            self.notices = {**self.notices, tool: ""}
            plan_rank = (await self.get_state(LiveAccount)).plan_rank
        outcome, refused, error = None, None, ""
        try:
            outcome = await run(user_id)
        except credits.InsufficientCredits as exc:
            refused = exc
        except (ToolInputError, tool_runs.RunInProgress) as exc:  # nothing was charged
            error = exc.message
        except credits.CreditError as exc:  # refused before anything was charged
            logger.warning("tool %s refused: %s", tool, exc)
            error = "That could not be charged, so it did not run. Try again."
        except pool.ToolTimeout:
            logger.warning("tool %s ran past its time limit", tool)
            error = TOOL_TOO_LONG
        except MemoryError:
            logger.warning("tool %s ran past its memory limit", tool)
            error = TOOL_TOO_BIG
        except pool.WorkersBusy:
            error = WORKERS_BUSY
        except Exception:
            logger.exception("tool %s failed", tool)
            error = TOOL_FAILED
        async with state_lock:
            self.action_ids = {**self.action_ids, tool: _new_action_id()}
            if refused is not None:
                self.dialog_needed, self.dialog_available = refused.required, refused.available
                self.dialog_needed_text = wording.credits(refused.required)
                self.dialog_available_text = wording.credits(refused.available)
                self.upgrade_href = _upgrade_href(plan_rank)
                self.dialog_tool, self.dialog_open = tool, True
            self.errors = {**self.errors, tool: error}
            if outcome is not None and outcome.replayed:
                self.notices = {**self.notices, tool: "Already done: that action was charged once."}
            await self._refresh(user_id)
        if outcome is None or outcome.replayed:
            return None, None
        return None, outcome.result

    @rx.event
    async def make_qr(self, form_data: dict):
        text = str(form_data.get("text", ""))
        action_id = _action_id(str(form_data.get("action_id", "")))
        self.running = "qr"
        yield
        redirect, result = await self._charged(
            "qr",
            lambda user_id: tool_runs.run_tool(
                user_id=user_id, tool="qr", action_id=action_id, inputs={"text": text}
            ),
        )
        self.running = ""
        if result is not None:
            self.qr_svg, self.qr_png = result.svg, result.png_data_url
        if redirect is not None:
            yield redirect

    @rx.event
    async def extract_keywords(self, form_data: dict):
        text = str(form_data.get("text", ""))
        action_id = _action_id(str(form_data.get("action_id", "")))
        self.running = "keywords"
        yield
        redirect, result = await self._charged(
            "keywords",
            lambda user_id: tool_runs.run_tool(
                user_id=user_id, tool="keywords", action_id=action_id, inputs={"text": text}
            ),
        )
        self.running = ""
        if result is not None:
            self.keyphrases = [
                {"phrase": k.phrase, "score": f"{k.score:.2f}"} for k in result.keyphrases
            ]
            self.summary = list(result.summary)
        if redirect is not None:
            yield redirect

    @rx.event(background=True)
    async def make_report(self, form_data: dict):
        """Long work: runs in the background (the page stays responsive), holds the
        credits while it runs, shows progress, and captures them when the PDF is ready."""
        action_id = _action_id(str(form_data.get("action_id", "")))
        async with self:
            if self.running:
                return
            if await self._authenticated_user_id() is None:
                yield self._to_login()
                return
            self.running, self.report_progress = "report", 0.0
            self.report_message = "Starting"
        latest: dict[str, Any] = {"fraction": 0.0, "message": "Starting"}
        done = threading.Event()

        def progress(fraction: float, message: str) -> None:
            latest.update(fraction=fraction, message=message)

        async def show_progress():
            while not done.is_set():
                async with self:
                    self.report_progress = round(latest["fraction"] * 100, 1)
                    self.report_message = latest["message"]
                await asyncio.sleep(PROGRESS_REFRESH_SECONDS)

        watcher = asyncio.create_task(show_progress())
        try:
            redirect, result = await self._charged(
                "report",
                lambda user_id: tool_runs.run_report(
                    user_id=user_id,
                    action_id=action_id,
                    progress=progress,
                ),
                background=True,
            )
        finally:
            done.set()  # also when the run was refused before the work, or we were cancelled
            await watcher
        async with self:
            self.running = ""
            if result is not None:
                self.report_progress, self.report_message = 100.0, f"Done: {result.pages} pages"
            else:
                # Refused or failed: the reason is in the card's error; "Starting" would
                # claim a run that is not happening.
                self.report_progress, self.report_message = 0.0, ""
        if result is not None:
            yield rx.download(
                data=result.pdf, filename=result.filename, mime_type="application/pdf"
            )
        if redirect is not None:
            yield redirect
