"""The premium tools page. Every tool runs through credits.tool_runs: input checked and the
session re-checked on the server before anything is charged, one charge per action, the work
on the bounded tool pool, credits back if it fails."""

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from credit_app import credits, routes, wording
from credit_app.auth import verification
from credit_app.billing import catalog
from credit_app.credits import tool_runs
from credit_app.state.account import AccountState
from credit_app.state.live import LiveAccount
from credit_app.tools import ToolInputError, keywords, load_catalog, pool, qr

logger = logging.getLogger(__name__)

TOOL_FAILED = "The tool failed and your credits were given back. Try again."
TOOL_TOO_LONG = "That took too long, so it was stopped and your credits were given back."
TOOL_TOO_BIG = "That needed more memory than a run may use; your credits were given back."
WORKERS_BUSY = "The tools are busy right now; your credits were given back. Try again shortly."
PROGRESS_REFRESH_SECONDS = 0.2
# A report built faster than this still shows its progress bar this long (then "Done"),
# so the bar does not just flash.
MIN_PROGRESS_SECONDS = 1.0
REPORT_GONE = "That report is no longer available (reports are kept for 30 days)."
PDF = "application/pdf"
COPIED_SECONDS = 2.5  # how long the Copy button says "Copied"


def _new_action_id() -> str:
    return uuid.uuid4().hex


def _action_id(sent: str) -> str:
    """The browser sends back the id we gave it; anything else gets a fresh one (so it
    can neither collide with another action's key nor overflow the key column)."""
    if len(sent) == 32 and all(c in "0123456789abcdef" for c in sent):
        return sent
    return _new_action_id()


def _report_id(sent: object) -> int | None:
    """The browser sends back a report id we listed; it is checked like any input (the
    service also checks ownership and age): a decimal string or int of a positive id."""
    if isinstance(sent, bool):
        return None
    if isinstance(sent, int):
        return sent if sent > 0 else None
    if isinstance(sent, str) and 0 < len(sent) <= 19 and sent.isascii() and sent.isdigit():
        return int(sent) or None
    return None


def _size_text(size: int) -> str:
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024)):,} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _report_rows(reports: list[tool_runs.StoredReport]) -> list[dict[str, str]]:
    return [
        {
            "id": str(r.id),
            "at": f"{r.created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            "size": _size_text(r.size),
            "pages": wording.plural(r.pages, "page"),
        }
        for r in reports
    ]


def keyphrase_rows(keyphrases: Sequence[keywords.Keyphrase]) -> list[dict[str, str]]:
    """Each keyphrase with its relevance as people read it: "83%" of the best one's."""
    return [{"phrase": k.phrase, "relevance": f"{k.percent}%"} for k in keyphrases]


def keywords_text(keyphrases: Sequence[keywords.Keyphrase], summary: Sequence[str]) -> str:
    """What "Copy" puts on the clipboard: the keyphrases with their relevance, then the
    summary, as plain text."""
    lines = ["Keyphrases (relevance compared with the top one):"]
    lines += [f"- {k.phrase} ({k.percent}%)" for k in keyphrases]
    if summary:
        lines += ["", "Summary:", *summary]
    return "\n".join(lines)


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
    # A run refused by the person's own monthly spending limit: its message, per tool
    # (the page adds the link to raise the limit).
    limit_errors: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    notices: rx.Field[dict[str, str]] = rx.field(default_factory=dict)

    qr_svg: rx.Field[str] = rx.field("")
    qr_png: rx.Field[str] = rx.field("")
    qr_svg_file: rx.Field[str] = rx.field("")  # data URL of the SVG download
    # The text of the code shown, for its print-size PNG (drawn when asked for).
    _qr_text: str = ""
    # The keywords result: phrase and relevance ("83%", relative to the best phrase).
    keyphrases: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    summary: rx.Field[list[str]] = rx.field(default_factory=list)
    # The keyphrases and summary as plain text, for the Copy button (copied in the
    # browser: the Content-Security-Policy allows no eval, so no script from the server).
    keywords_text: rx.Field[str] = rx.field("")
    keywords_copied: rx.Field[bool] = rx.field(False)
    _copies: int = 0  # bumped per copy, so only the latest one clears "Copied"
    report_progress: rx.Field[float] = rx.field(0.0)
    report_message: rx.Field[str] = rx.field("")
    # The report just built ("" if none, or it could not be kept) and the person's kept
    # reports of the last 30 days, newest first: id, when, size, pages (all text).
    last_report_id: rx.Field[str] = rx.field("")
    reports: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)

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
        await self._refresh_reports(user_id)
        return None

    async def _refresh_reports(self, user_id: uuid.UUID) -> None:
        self.reports = _report_rows(await tool_runs.recent_reports(user_id))

    @rx.event
    async def download_report(self, report_id: str):
        """Download a kept report again, free: only the signed-in person's own, only within
        30 days (the id comes from the browser, so it is checked, never trusted)."""
        if (user_id := await self._authenticated_user_id()) is None:
            return self._to_login()
        self.errors = {**self.errors, "report": ""}
        wanted = _report_id(report_id)
        found = None if wanted is None else await tool_runs.report_pdf(user_id, wanted)
        if found is None:
            self.errors = {**self.errors, "report": REPORT_GONE}
            await self._refresh_reports(user_id)
            return None
        return rx.download(data=found.pdf, filename=found.filename, mime_type=PDF)

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
            self.limit_errors = {**self.limit_errors, tool: ""}
            self.notices = {**self.notices, tool: ""}
            # REQUIRE_VERIFIED_EMAIL: an unverified address spends nothing (and is told how
            # to verify it); nothing is charged.
            if (unverified := await verification.spending_refusal(user_id)) is not None:
                self.errors = {**self.errors, tool: unverified}
                return None, None
            plan_rank = (await self.get_state(LiveAccount)).plan_rank
        outcome, refused, error, over_limit = None, None, "", ""
        try:
            outcome = await run(user_id)
        except credits.SpendingLimitReached as exc:  # before its base, InsufficientCredits
            over_limit = wording.limit_refusal(exc.limit, exc.used)
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
                # Nothing runs: the button is enabled again with the dialog's opening, so
                # closing the dialog can give it focus back (a disabled button takes none;
                # a background run would otherwise re-enable it only after its own cleanup).
                self.running = ""
            self.errors = {**self.errors, tool: error}
            self.limit_errors = {**self.limit_errors, tool: over_limit}
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
            self.qr_svg_file, self._qr_text = result.svg_data_url, result.text
        if redirect is not None:
            yield redirect

    @rx.event
    async def download_qr_print(self):
        """The print-size PNG of the code this tab made (and paid for): nothing is charged.
        Like every handler, only for a session that is still signed in."""
        if await self._authenticated_user_id() is None:
            return self._to_login()
        if not self._qr_text:
            return None
        png = await asyncio.to_thread(qr.print_png, self._qr_text)
        return rx.download(data=png, filename="qr-code.png", mime_type="image/png")

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
            self.keyphrases = keyphrase_rows(result.keyphrases)
            self.summary = list(result.summary)
            self.keywords_text = keywords_text(result.keyphrases, result.summary)
            self.keywords_copied = False
        if redirect is not None:
            yield redirect

    @rx.event(background=True)
    async def keywords_copy_done(self):
        """After the browser copied keywords_text: "Copied" on the button for a moment."""
        async with self:
            self._copies += 1
            mine = self._copies
            self.keywords_copied = True
        await asyncio.sleep(COPIED_SECONDS)
        async with self:
            if self._copies == mine:
                self.keywords_copied = False

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
        started = time.monotonic()
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
        done_text = "" if result is None else f"Done: {wording.plural(result.pages, 'page')}"
        if result is not None:
            async with self:
                self.report_progress, self.report_message = 100.0, done_text
            yield rx.download(data=result.pdf, filename=result.filename, mime_type=PDF)
            # A quick report still shows its full bar for a moment before "Done".
            await asyncio.sleep(max(0.0, MIN_PROGRESS_SECONDS - (time.monotonic() - started)))
        async with self:
            self.running = ""
            if result is not None:
                self.report_message = done_text
                self.last_report_id = "" if result.stored_id is None else str(result.stored_id)
                if (user_id := await self._authenticated_user_id()) is not None:
                    await self._refresh_reports(user_id)
            else:
                # Refused or failed: the reason is in the card's error; "Starting" would
                # claim a run that is not happening.
                self.report_progress, self.report_message = 0.0, ""
        if redirect is not None:
            yield redirect
