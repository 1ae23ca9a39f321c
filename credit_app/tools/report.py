"""A person's credit ledger as a PDF: title page, totals, per-tool chart, every entry.

Two steps, kept apart:
- `summarise(entries, window)`: the numbers, a pure function of typed ledger entries. Tool
  spending is netted by the entries' feature (tool) id, as the /usage page nets it, so a
  refunded failed run cancels its charge instead of showing up as a tool of its own;
- `run(...)`: checks the entries, summarises them and draws the PDF.
The report states its window: what span of the ledger it covers (the whole history up to
the moment the entries were read, today).

Times and months are the person's: `run(..., tz=...)` (and `summarise(..., tz)`) take their
time zone, which every printed time is in ("26 Nov 2026, 19:05 CET"), the title page names
("Times in: Europe/Paris") and the per-month totals are counted in.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from credit_app import wording, zones
from credit_app.tools.catalog import load_catalog
from credit_app.tools.errors import CatalogError, ToolInputError

ProgressCallback = Callable[[float, str], None]

MAX_ROWS = 100_000  # ~2,200 pages; past that a person should pick a shorter period
# About one A4 page of rows per table: reportlab reports progress per flowable, so a page-sized
# table gives a step per page (a table that does not fit is split across pages as usual).
ROWS_PER_TABLE = 50
MAX_TOOLS_IN_CHART = 12
MAX_MONTHS_IN_CHART = 24

# The ledger's entry kinds (the values of credit_app.models.EntryKind, which this worker-side
# module does not import; a test keeps the two equal).
GRANT, SPEND, CAPTURE, REFUND, CLAWBACK = "grant", "spend", "capture", "refund", "clawback"
FORFEIT = "forfeit"  # the last entry of a deleted account (never in a report it can ask for)
EXPIRE = "expire"  # the unspent rest of a credit lot at its expiry date
ADJUST = "adjust"  # an operator's correction, either way
RECOVER = "recover"  # a refund's shortfall taken from a later paid grant
ENTRY_KINDS = frozenset({GRANT, SPEND, CAPTURE, REFUND, CLAWBACK, FORFEIT, EXPIRE, ADJUST, RECOVER})
# Kinds that pay for a tool (spend, capture) or give a failed run's price back (refund).
CHARGE_KINDS = frozenset({SPEND, CAPTURE})
TOOL_KINDS = CHARGE_KINDS | {REFUND}
NO_TOOL = ""  # the tool id of a tool entry without a feature (none are written today)

_ACCENT = colors.HexColor("#4f46e5")
_ADDED = colors.HexColor("#16a34a")
_USED = colors.HexColor("#dc2626")
_ZEBRA = colors.HexColor("#f3f4f6")


@dataclass(frozen=True)
class ReportEntry:
    """One ledger entry as the report reads it."""

    when: datetime  # timezone-aware
    kind: str  # an EntryKind value
    feature: str | None  # the tool id, for tool entries
    what: str  # the line shown in the ledger table
    delta: int
    balance_after: int


@dataclass(frozen=True)
class ReportWindow:
    """The span of the ledger a report covers: entries with since <= when < until; `since`
    None means from the first entry on."""

    until: datetime
    since: datetime | None = None

    def contains(self, when: datetime) -> bool:
        return (self.since is None or self.since <= when) and when < self.until

    def describe(self, tz: tzinfo = UTC) -> str:
        """The window in words, its times in `tz`: "All activity up to 26 Nov 2026, 19:05
        CET"."""
        until = zones.when_text(self.until, tz)
        if self.since is None:
            return f"All activity up to {until}"
        return f"{zones.when_text(self.since, tz)} to {until}"


@dataclass(frozen=True)
class ToolSpending:
    tool: str  # the feature id (NO_TOOL for a tool entry without one)
    runs: int  # charges (spends and captures)
    refunded: int  # charges given back because the run failed
    spent: int  # net credits: charged minus refunded


@dataclass(frozen=True)
class KindTotals:
    kind: str
    entries: int
    credits_in: int
    credits_out: int


@dataclass(frozen=True)
class MonthTotals:
    month: str  # YYYY-MM, a calendar month in the report's time zone
    added: int
    taken: int


@dataclass(frozen=True)
class ReportSummary:
    """The report's numbers. opening + granted - spent - taken_back = closing."""

    window: ReportWindow
    entries: int
    first: datetime | None
    last: datetime | None
    opening_balance: int
    closing_balance: int
    granted: int  # grants: signup, plans, packs, an operator's
    spent: int  # on tools, net of refunds for failed runs
    taken_back: int  # clawbacks after payment refunds and disputes
    per_tool: tuple[ToolSpending, ...]  # most credits spent first
    by_kind: tuple[KindTotals, ...]
    by_month: tuple[MonthTotals, ...]

    @property
    def spent_per_tool(self) -> dict[str, int]:
        return {t.tool: t.spent for t in self.per_tool}


@dataclass(frozen=True)
class ReportResult:
    pdf: bytes
    filename: str  # suggested download name, e.g. "credit-usage-2025-11-26.pdf"
    pages: int
    rows: int
    summary: ReportSummary
    # The id the PDF is kept under for downloading again (set by the service that stores
    # it, credits.tool_runs.run_report); None when it was not kept.
    stored_id: int | None = None


def summarise(
    entries: Sequence[ReportEntry], window: ReportWindow, tz: tzinfo = UTC
) -> ReportSummary:
    """The report's numbers for `entries` (oldest first, all inside `window`); months are
    calendar months in `tz`."""
    kinds: dict[str, list[int]] = {}
    tools: dict[str, list[int]] = {}
    months: dict[str, list[int]] = {}
    for e in entries:
        count_in_out = kinds.setdefault(e.kind, [0, 0, 0])
        count_in_out[0] += 1
        count_in_out[1 if e.delta > 0 else 2] += abs(e.delta)
        added_taken = months.setdefault(f"{e.when.astimezone(tz):%Y-%m}", [0, 0])
        added_taken[0 if e.delta > 0 else 1] += abs(e.delta)
        if e.kind in TOOL_KINDS:
            runs_refunded_spent = tools.setdefault(e.feature or NO_TOOL, [0, 0, 0])
            runs_refunded_spent[0 if e.kind in CHARGE_KINDS else 1] += 1
            runs_refunded_spent[2] -= e.delta
    per_tool = sorted(
        (ToolSpending(tool, *runs_refunded_spent) for tool, runs_refunded_spent in tools.items()),
        key=lambda t: (-t.spent, t.tool),
    )

    def net(*of: str) -> int:
        return sum(kinds[k][1] - kinds[k][2] for k in of if k in kinds)

    return ReportSummary(
        window=window,
        entries=len(entries),
        first=entries[0].when if entries else None,
        last=entries[-1].when if entries else None,
        opening_balance=entries[0].balance_after - entries[0].delta if entries else 0,
        closing_balance=entries[-1].balance_after if entries else 0,
        granted=net(GRANT),
        spent=-net(*TOOL_KINDS),
        taken_back=-net(CLAWBACK, RECOVER),
        per_tool=tuple(per_tool),
        by_kind=tuple(KindTotals(k, *v) for k, v in sorted(kinds.items())),
        by_month=tuple(MonthTotals(m, *v) for m, v in sorted(months.items())),
    )


class _Progress:
    """Forwards progress to the caller's callback: never backwards, and not more often than
    every 1% unless forced (each call may push a live update to a browser)."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._last = -1.0

    def __call__(self, fraction: float, message: str, *, force: bool = False) -> None:
        if self._callback is None:
            return
        fraction = min(1.0, max(fraction, self._last, 0.0))
        if force or fraction - self._last >= 0.01:
            self._last = fraction
            # An exception from the callback (e.g. the person cancelled) stops the report.
            self._callback(fraction, message)


def run(
    entries: Sequence[ReportEntry],
    *,
    name: str,
    balance: int,
    window: ReportWindow | None = None,
    progress: ProgressCallback | None = None,
    generated_at: datetime | None = None,
    tz: tzinfo = UTC,
) -> ReportResult:
    """Build the PDF for `entries` (ledger entries, oldest first, inside `window`: by default
    the whole history up to `generated_at`) of `name`, whose balance is now `balance`, its
    times and months in `tz` (the person's time zone).

    `progress(fraction, message)` is called with non-decreasing fractions from 0.0 to 1.0, at
    least every 10% of the work. It runs in the calling thread; keep it quick.
    """
    report = _Progress(progress)
    check_input(row_count=len(entries))
    generated_at = (generated_at or datetime.now(UTC)).astimezone(UTC)
    window = window or ReportWindow(until=generated_at)
    person = " ".join(str(name).split()) or "Unnamed account"

    reading = f"Reading {wording.plural(len(entries), 'ledger entry', 'ledger entries')}"
    report(0.0, reading, force=True)
    step = max(1, len(entries) // 10)
    for index, entry in enumerate(entries):
        _check_entry(index, entry, window)
        if index % step == 0:
            report(0.05 * index / len(entries), reading)

    report(0.05, "Adding up totals", force=True)
    summary = summarise(entries, window, tz)
    story: list[Flowable] = []
    story += _title_page(summary, person, balance, generated_at, tz)
    story += _summary_pages(summary, balance, _tool_names(), tz)

    report(0.10, "Preparing the ledger tables", force=True)
    story.append(Paragraph("Every ledger entry", _styles()["Heading1"]))
    story.append(Paragraph(escape(f"Times in {zones.zone_name(tz)}."), _styles()["Body"]))
    chunks = range(0, len(entries), ROWS_PER_TABLE)
    for number, start in enumerate(chunks):
        story.append(_ledger_table(entries, start, start + ROWS_PER_TABLE, tz))
        report(0.10 + 0.10 * (number + 1) / len(chunks), "Preparing the ledger tables")

    buffer = io.BytesIO()
    pages = _build(story, buffer, person, generated_at.astimezone(tz), report)
    report(1.0, f"Done: {wording.plural(pages, 'page')}", force=True)
    return ReportResult(
        pdf=buffer.getvalue(),
        filename=f"credit-usage-{generated_at.astimezone(tz):%Y-%m-%d}.pdf",
        pages=pages,
        rows=len(entries),
        summary=summary,
    )


def check_input(*, row_count: int) -> None:
    """Raise ToolInputError unless a report of `row_count` ledger entries can be built. The
    web layer calls it with a count, before charging and before reading the rows."""
    if row_count <= 0:
        raise ToolInputError("There is no credit activity to report yet.", field="rows")
    if row_count > MAX_ROWS:
        raise ToolInputError(
            f"That is {wording.count(row_count)} ledger entries; a report holds at most "
            f"{wording.count(MAX_ROWS)}. "
            "Export your history as CSV from the Usage page instead.",
            field="rows",
        )


def _check_entry(index: int, entry: object, window: ReportWindow) -> None:
    """Entries come from our ledger, not from the person, so a bad one is our bug: it
    raises ValueError/TypeError, not ToolInputError."""
    if not isinstance(entry, ReportEntry):
        raise TypeError(f"ledger entry {index} is a {type(entry).__name__}, not a ReportEntry")
    if not isinstance(entry.when, datetime) or entry.when.tzinfo is None:
        raise TypeError(f"ledger entry {index}: when must be a timezone-aware datetime")
    for key, value in (("delta", entry.delta), ("balance_after", entry.balance_after)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"ledger entry {index}: {key} must be an int, got {value!r}")
    if entry.kind not in ENTRY_KINDS:
        raise ValueError(f"ledger entry {index}: unknown kind {entry.kind!r}")
    if not window.contains(entry.when):
        raise ValueError(f"ledger entry {index} is outside the window ({window.describe()})")


def _tool_names() -> Mapping[str, str]:
    try:
        return {tool.id: tool.name for tool in load_catalog().values()}
    except CatalogError:  # a broken price file costs the report its tool names, not its run
        return {}


def _tool_name(tool: str, names: Mapping[str, str]) -> str:
    return names.get(tool, tool) or "(no tool)"


def _styles() -> dict[str, ParagraphStyle]:
    sheet = getSampleStyleSheet()
    return {
        "Title": ParagraphStyle("ReportTitle", parent=sheet["Title"], fontSize=28, leading=34),
        "Heading1": sheet["Heading1"],
        "Heading2": sheet["Heading2"],
        "Body": sheet["BodyText"],
        "Big": ParagraphStyle("Big", parent=sheet["BodyText"], fontSize=14, leading=20),
    }


def _title_page(
    summary: ReportSummary, person: str, balance: int, generated_at: datetime, tz: tzinfo
) -> list[Flowable]:
    styles = _styles()
    facts = [
        ("Account", person),
        ("Current balance", wording.credits(balance)),
        ("Window", summary.window.describe(tz)),
    ]
    if summary.first is not None and summary.last is not None:
        first, last = summary.first.astimezone(tz), summary.last.astimezone(tz)
        facts.append(("Entries dated", f"{first:%d %b %Y} to {last:%d %b %Y}"))
    facts += [
        ("Ledger entries", wording.count(summary.entries)),
        ("Generated", zones.when_text(generated_at, tz)),
        ("Times in", zones.zone_name(tz)),
    ]
    return [
        Spacer(1, 60 * mm),
        Paragraph("Credit usage report", styles["Title"]),
        Spacer(1, 12 * mm),
        *[
            Paragraph(f"<b>{escape(label)}:</b> {escape(value)}", styles["Big"])
            for label, value in facts
        ],
        PageBreak(),
    ]


def _summary_pages(
    summary: ReportSummary, balance: int, names: Mapping[str, str], tz: tzinfo
) -> list[Flowable]:
    styles = _styles()
    story: list[Flowable] = [
        Paragraph("Totals", styles["Heading1"]),
        Paragraph(escape(summary.window.describe(tz)), styles["Body"]),
        Spacer(1, 3 * mm),
    ]
    totals = [
        ["", "Credits"],
        ["Balance before the first entry", wording.count(summary.opening_balance)],
        ["Credits added", wording.signed(summary.granted)],
        ["Credits used on tools (net of returns)", wording.signed(-summary.spent)],
        ["Taken back (payments refunded or disputed)", wording.signed(-summary.taken_back)],
        ["Balance after the last entry", wording.count(summary.closing_balance)],
        ["Balance now", wording.count(balance)],
    ]
    story += [_table(totals, col_widths=(110 * mm, 40 * mm)), Spacer(1, 6 * mm)]

    kinds = [["Kind", "Entries", "Credits in", "Credits out"]] + [
        [word, wording.count(entries), wording.count(added), wording.count(taken)]
        for word, (entries, added, taken) in _by_word(summary.by_kind).items()
    ]
    story += [
        Paragraph("By kind of entry", styles["Heading2"]),
        _table(kinds, col_widths=(60 * mm, 30 * mm, 30 * mm, 30 * mm)),
    ]

    story.append(PageBreak())
    story.append(Paragraph("Credits used per tool", styles["Heading1"]))
    if summary.per_tool:
        tools = [["Tool", "Runs", "Returned (failed)", "Credits used"]] + [
            [
                _clip(_tool_name(t.tool, names), 50),
                wording.count(t.runs),
                wording.count(t.refunded),
                wording.count(t.spent),
            ]
            for t in summary.per_tool
        ]
        ranked = [(_tool_name(t.tool, names), t.spent) for t in summary.per_tool]
        story += [
            _table(tools, col_widths=(75 * mm, 22 * mm, 35 * mm, 30 * mm)),
            Spacer(1, 8 * mm),
            KeepTogether([_tool_chart(ranked[:MAX_TOOLS_IN_CHART])]),
        ]
    else:
        story.append(Paragraph("No tool was used in this period.", styles["Body"]))

    story += [
        Spacer(1, 8 * mm),
        Paragraph("Credits added, and used or taken back, per month", styles["Heading2"]),
        _month_chart(summary.by_month),
        PageBreak(),
    ]
    return story


def _by_word(by_kind: Sequence[KindTotals]) -> dict[str, tuple[int, int, int]]:
    """Entries, credits in and out per customer word (spends and captures are both "Used"),
    in the glossary's order."""
    order = list(dict.fromkeys(wording.KIND_WORDS.values()))
    totals: dict[str, tuple[int, int, int]] = {}
    for k in by_kind:
        word = wording.kind_word(k.kind)
        entries, added, taken = totals.get(word, (0, 0, 0))
        totals[word] = (entries + k.entries, added + k.credits_in, taken + k.credits_out)
    return dict(
        sorted(totals.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99)
    )


def _tool_chart(ranked: list[tuple[str, int]]) -> Drawing:
    """Horizontal bars, one per tool, longest at the top (reportlab draws the first category
    at the bottom, hence the reversal)."""
    rows = list(reversed(ranked))
    bar_height = 9 * mm
    height = 20 * mm + bar_height * len(rows)
    drawing = Drawing(170 * mm, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 55 * mm, 10 * mm
    chart.width, chart.height = 105 * mm, bar_height * len(rows)
    chart.data = [[max(spent, 0) for _, spent in rows]]
    chart.categoryAxis.categoryNames = [_clip(tool, 30) for tool, _ in rows]
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.valueMin = 0
    # Headroom so the number printed after the longest bar stays inside the drawing.
    chart.valueAxis.valueMax = max(1, *chart.data[0]) * 1.15
    chart.valueAxis.labels.fontSize = 8
    chart.bars[0].fillColor = _ACCENT
    chart.bars[0].strokeColor = None
    chart.barLabelFormat = "%d"
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    chart.barLabels.fontSize = 7
    drawing.add(chart)
    drawing.add(String(55 * mm, 2 * mm, "Credits used", fontSize=8, fillColor=colors.grey))
    return drawing


def _month_chart(months: Sequence[MonthTotals]) -> Drawing:
    shown = list(months)[-MAX_MONTHS_IN_CHART:]
    drawing = Drawing(170 * mm, 75 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y = 15 * mm, 15 * mm
    chart.width, chart.height = 150 * mm, 50 * mm
    chart.data = [[m.added for m in shown], [m.taken for m in shown]]
    chart.categoryAxis.categoryNames = [m.month for m in shown]
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.angle = 45 if len(shown) > 8 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(shown) > 8 else "n"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor, chart.bars[1].fillColor = _ADDED, _USED
    chart.bars.strokeColor = None
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = 20 * mm, 73 * mm
    legend.fontSize = 8
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.colorNamePairs = [(_ADDED, wording.ADDED), (_USED, "Used or taken back")]
    drawing.add(legend)
    return drawing


def _ledger_table(entries: Sequence[ReportEntry], start: int, stop: int, tz: tzinfo) -> Table:
    data = [["#", "When", "Kind", "What", "Change", "Balance"]]
    for number, e in enumerate(entries[start:stop], start=start + 1):
        data.append(
            [
                wording.count(number),
                f"{e.when.astimezone(tz):%Y-%m-%d %H:%M}",
                wording.kind_word(e.kind),
                _clip(" ".join(e.what.split()), 27),
                wording.signed(e.delta),
                wording.count(e.balance_after),
            ]
        )
    table = Table(
        data,
        # Kind fits the longest customer word ("Taken back (payment refunded)") at 8 pt.
        colWidths=(14 * mm, 27 * mm, 45 * mm, 44 * mm, 18 * mm, 22 * mm),
        repeatRows=1,
    )
    table.setStyle(_LEDGER_STYLE)
    return table


def _table(data: list[list[str]], col_widths: tuple[float, ...]) -> Table:
    table = Table(data, colWidths=col_widths, hAlign="LEFT")
    table.setStyle(_SUMMARY_STYLE)
    return table


def _clip(text: str, limit: int) -> str:
    # Table cells do not wrap plain strings; clipping keeps a long description in its column.
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _build(
    story: list[Flowable],
    buffer: io.BytesIO,
    person: str,
    generated_at: datetime,
    report: _Progress,
) -> int:
    pages = 0

    def footer(canvas: Any, doc: Any) -> None:
        nonlocal pages
        pages = doc.page
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.grey)
        canvas.drawString(doc.leftMargin, 10 * mm, f"{person} - credit usage report")
        canvas.drawRightString(A4[0] - doc.rightMargin, 10 * mm, f"Page {doc.page}")
        canvas.restoreState()

    total = len(story)

    def on_progress(kind: str, value: int) -> None:
        # reportlab reports how many flowables it has laid out; a ledger table is a page.
        if kind == "PROGRESS" and value >= total:
            # Everything is laid out; reportlab now serialises the pages (about a tenth of
            # the time) and has no progress event of its own for that.
            report(0.95, "Writing the PDF", force=True)
        elif kind == "PROGRESS":
            report(0.20 + 0.75 * value / total, f"Laying out the pages ({pages} done)")

    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title="Credit usage report",
        author=person,
        subject=f"Credit usage of {person}, generated {generated_at:%Y-%m-%d}",
        creator="credit_app",
    )
    doc.setProgressCallBack(on_progress)
    report(0.20, "Laying out the pages", force=True)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return pages


_SUMMARY_STYLE = TableStyle(
    [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, _ZEBRA]),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
)

_LEDGER_STYLE = TableStyle(
    [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
        ("ALIGN", (0, 0), (0, -1), "RIGHT"),
        ("ALIGN", (4, 0), (5, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, _ZEBRA]),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
)
