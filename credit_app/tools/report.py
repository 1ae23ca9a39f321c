"""Render a person's credit ledger as a PDF: title page, totals, per-tool chart, every entry."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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

from credit_app.tools.errors import ToolInputError

ProgressCallback = Callable[[float, str], None]

MAX_ROWS = 100_000  # ~2,200 pages; past that a person should pick a shorter period
# About one A4 page of rows per table: reportlab reports progress per flowable, so a page-sized
# table gives a step per page (a table that does not fit is split across pages as usual).
ROWS_PER_TABLE = 50
# Kinds that pay for (or give back the price of) a tool; their `what` names the tool.
USAGE_KINDS = frozenset({"spend", "capture", "refund"})
MAX_TOOLS_IN_CHART = 12
MAX_MONTHS_IN_CHART = 24
_REQUIRED_KEYS = ("when", "kind", "what", "delta", "balance_after")

_ACCENT = colors.HexColor("#4f46e5")
_ADDED = colors.HexColor("#16a34a")
_USED = colors.HexColor("#dc2626")
_ZEBRA = colors.HexColor("#f3f4f6")


@dataclass(frozen=True)
class ReportResult:
    pdf: bytes
    filename: str  # suggested download name, e.g. "credit-usage-2025-11-26.pdf"
    pages: int
    rows: int


@dataclass(frozen=True)
class _Row:
    when: datetime
    kind: str
    what: str
    delta: int
    balance_after: int


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
    rows: Sequence[Mapping[str, Any]],
    *,
    name: str,
    balance: int,
    progress: ProgressCallback | None = None,
    generated_at: datetime | None = None,
) -> ReportResult:
    """Build the PDF for `rows` (ledger entries, oldest first, each a mapping with keys when,
    kind, what, delta, balance_after) belonging to `name`, whose balance is now `balance`.

    `progress(fraction, message)` is called with non-decreasing fractions from 0.0 to 1.0, at
    least every 10% of the work. It runs in the calling thread; keep it quick.
    """
    report = _Progress(progress)
    check_input(row_count=len(rows))
    generated_at = (generated_at or datetime.now(UTC)).astimezone(UTC)
    person = " ".join(str(name).split()) or "Unnamed account"

    report(0.0, f"Reading {len(rows):,} ledger entries", force=True)
    entries: list[_Row] = []
    step = max(1, len(rows) // 10)
    for index, raw in enumerate(rows):
        entries.append(_row(index, raw))
        if index % step == 0:
            report(0.05 * index / len(rows), f"Reading {len(rows):,} ledger entries")

    report(0.05, "Adding up totals", force=True)
    story: list[Flowable] = []
    story += _title_page(entries, person, balance, generated_at)
    story += _summary_pages(entries, balance)

    report(0.10, "Preparing the ledger tables", force=True)
    story.append(Paragraph("Every ledger entry", _styles()["Heading1"]))
    chunks = range(0, len(entries), ROWS_PER_TABLE)
    for number, start in enumerate(chunks):
        story.append(_ledger_table(entries, start, start + ROWS_PER_TABLE))
        report(0.10 + 0.10 * (number + 1) / len(chunks), "Preparing the ledger tables")

    buffer = io.BytesIO()
    pages = _build(story, buffer, person, generated_at, report)
    report(1.0, f"Done: {pages} pages", force=True)
    return ReportResult(
        pdf=buffer.getvalue(),
        filename=f"credit-usage-{generated_at:%Y-%m-%d}.pdf",
        pages=pages,
        rows=len(entries),
    )


def check_input(*, row_count: int) -> None:
    """Raise ToolInputError unless a report of `row_count` ledger entries can be built. The
    web layer calls it with a count, before charging and before reading the rows."""
    if row_count <= 0:
        raise ToolInputError("There is no credit activity to report yet.", field="rows")
    if row_count > MAX_ROWS:
        raise ToolInputError(
            f"That is {row_count:,} ledger entries; a report holds at most {MAX_ROWS:,}. "
            "Export your history as CSV from the Usage page instead.",
            field="rows",
        )


def _row(index: int, raw: Mapping[str, Any]) -> _Row:
    """Check one ledger row. Rows come from our ledger, not from the person, so a bad row is
    our bug: it raises ValueError/TypeError, not ToolInputError."""
    missing = [key for key in _REQUIRED_KEYS if key not in raw]
    if missing:
        raise ValueError(f"ledger row {index} lacks {', '.join(missing)}")
    when = raw["when"]
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if not isinstance(when, datetime):
        raise TypeError(f"ledger row {index}: when must be a datetime, got {type(when).__name__}")
    # Naive timestamps are taken as UTC, which is how the ledger stores them.
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    delta, balance_after = raw["delta"], raw["balance_after"]
    for key, value in (("delta", delta), ("balance_after", balance_after)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"ledger row {index}: {key} must be an int, got {value!r}")
    return _Row(
        when=when,
        kind=str(raw["kind"] or "").strip().lower() or "unknown",
        what=" ".join(str(raw["what"] or "").split()),
        delta=delta,
        balance_after=balance_after,
    )


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
    entries: list[_Row], person: str, balance: int, generated_at: datetime
) -> list[Flowable]:
    styles = _styles()
    first, last = min(e.when for e in entries), max(e.when for e in entries)
    facts = [
        ("Account", person),
        ("Current balance", f"{balance:,} credits"),
        ("Period", f"{first:%d %b %Y} to {last:%d %b %Y}"),
        ("Ledger entries", f"{len(entries):,}"),
        ("Generated", f"{generated_at:%d %b %Y, %H:%M} UTC"),
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


def _summary_pages(entries: list[_Row], balance: int) -> list[Flowable]:
    styles = _styles()
    story: list[Flowable] = [Paragraph("Totals", styles["Heading1"])]

    added = sum(e.delta for e in entries if e.delta > 0)
    used = -sum(e.delta for e in entries if e.delta < 0)
    opening = entries[0].balance_after - entries[0].delta
    totals = [
        ["", "Credits"],
        ["Balance before the first entry", f"{opening:,}"],
        ["Credits added", f"+{added:,}"],
        ["Credits taken", f"-{used:,}"],
        ["Balance after the last entry", f"{entries[-1].balance_after:,}"],
        ["Balance now", f"{balance:,}"],
    ]
    story += [_table(totals, col_widths=(110 * mm, 40 * mm)), Spacer(1, 6 * mm)]

    by_kind: dict[str, list[int]] = {}
    for e in entries:
        count_in_out = by_kind.setdefault(e.kind, [0, 0, 0])
        count_in_out[0] += 1
        count_in_out[1 if e.delta > 0 else 2] += abs(e.delta)
    kinds = [["Kind", "Entries", "Credits in", "Credits out"]] + [
        [kind.capitalize(), f"{n:,}", f"{cin:,}", f"{cout:,}"]
        for kind, (n, cin, cout) in sorted(by_kind.items())
    ]
    story += [
        Paragraph("By kind of entry", styles["Heading2"]),
        _table(kinds, col_widths=(60 * mm, 30 * mm, 30 * mm, 30 * mm)),
    ]

    # Per tool: net credits paid (spends and captures minus refunds) and how often it ran.
    by_tool: dict[str, list[int]] = {}
    for e in entries:
        if e.kind in USAGE_KINDS:
            uses_net = by_tool.setdefault(e.what or "(unnamed)", [0, 0])
            uses_net[0] += 1 if e.delta < 0 else 0
            uses_net[1] -= e.delta
    ranked = sorted(by_tool.items(), key=lambda item: (-item[1][1], item[0]))
    story.append(PageBreak())
    story.append(Paragraph("Credits spent per tool", styles["Heading1"]))
    if ranked:
        tools = [["Tool", "Uses", "Credits spent"]] + [
            [_clip(tool, 60), f"{uses:,}", f"{net:,}"] for tool, (uses, net) in ranked
        ]
        story += [
            _table(tools, col_widths=(100 * mm, 25 * mm, 35 * mm)),
            Spacer(1, 8 * mm),
            KeepTogether([_tool_chart(ranked[:MAX_TOOLS_IN_CHART])]),
        ]
    else:
        story.append(Paragraph("No tool was used in this period.", styles["Body"]))

    story += [
        Spacer(1, 8 * mm),
        Paragraph("Credits added and taken per month", styles["Heading2"]),
        _month_chart(entries),
        PageBreak(),
    ]
    return story


def _tool_chart(ranked: list[tuple[str, list[int]]]) -> Drawing:
    """Horizontal bars, one per tool, longest at the top (reportlab draws the first category
    at the bottom, hence the reversal)."""
    rows = list(reversed(ranked))
    bar_height = 9 * mm
    height = 20 * mm + bar_height * len(rows)
    drawing = Drawing(170 * mm, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 55 * mm, 10 * mm
    chart.width, chart.height = 105 * mm, bar_height * len(rows)
    chart.data = [[max(net, 0) for _, (_, net) in rows]]
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
    drawing.add(String(55 * mm, 2 * mm, "Credits spent", fontSize=8, fillColor=colors.grey))
    return drawing


def _month_chart(entries: list[_Row]) -> Drawing:
    months: dict[str, list[int]] = {}
    for e in entries:
        added_used = months.setdefault(f"{e.when:%Y-%m}", [0, 0])
        added_used[0 if e.delta > 0 else 1] += abs(e.delta)
    shown = sorted(months.items())[-MAX_MONTHS_IN_CHART:]
    drawing = Drawing(170 * mm, 75 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y = 15 * mm, 15 * mm
    chart.width, chart.height = 150 * mm, 50 * mm
    chart.data = [[a for _, (a, _) in shown], [u for _, (_, u) in shown]]
    chart.categoryAxis.categoryNames = [month for month, _ in shown]
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
    legend.colorNamePairs = [(_ADDED, "Added"), (_USED, "Taken")]
    drawing.add(legend)
    return drawing


def _ledger_table(entries: list[_Row], start: int, stop: int) -> Table:
    data = [["#", "When (UTC)", "Kind", "What", "Change", "Balance"]]
    for number, e in enumerate(entries[start:stop], start=start + 1):
        data.append(
            [
                f"{number:,}",
                f"{e.when:%Y-%m-%d %H:%M}",
                e.kind,
                _clip(e.what, 38),
                f"{e.delta:+,}",
                f"{e.balance_after:,}",
            ]
        )
    table = Table(
        data,
        colWidths=(16 * mm, 32 * mm, 20 * mm, 62 * mm, 20 * mm, 22 * mm),
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
