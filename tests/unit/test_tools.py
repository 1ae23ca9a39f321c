"""The premium tools (credit_app.tools): real outputs, input validation, the cost catalog."""

from __future__ import annotations

import base64
import io
import itertools
import re
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from credit_app.models import EntryKind
from credit_app.tools import (
    KNOWN_TOOL_IDS,
    TOOLS,
    CatalogError,
    ReportEntry,
    ToolInputError,
    keywords,
    load_catalog,
    parse_catalog,
    qr,
    report,
)

# ---------------------------------------------------------------- QR code

# Only QR codes: a dense symbol can otherwise also yield a spurious 1-D barcode read.
_QR = zxingcpp.BarcodeFormat.QRCode


def _decode_png_data_url(data_url: str) -> list[str]:
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix) :]))).convert("L")
    return [result.text for result in zxingcpp.read_barcodes(image, formats=_QR)]


def _svg_to_matrix(svg: str) -> list[list[bool]]:
    """Rebuild the module grid from segno's SVG path ("M x y h n m dx dy ..."), so the SVG
    markup itself, not only the library's matrix, is what gets decoded."""
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    scale = int(re.search(r'transform="scale\((\d+)\)"', svg).group(1))
    modules = size // scale
    path = re.search(r'class="qrline"[^>]* d="([^"]+)"', svg).group(1)
    grid = [[False] * modules for _ in range(modules)]
    x = y = 0.0
    for op, args in re.findall(r"([MmHh])([-\d. ]+)", path.replace("h", " h").replace("m", " m")):
        numbers = [float(n) for n in args.split()]
        if op == "M":
            x, y = numbers
        elif op == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:  # h: a horizontal run of dark modules on row floor(y)
            for column in range(int(x), int(x + numbers[0])):
                grid[int(y)][column] = True
            x += numbers[0]
    return grid


def _decode_matrix(grid: list[list[bool]], pixels: int = 4) -> list[str]:
    image = Image.new("L", (len(grid) * pixels, len(grid) * pixels), 255)
    for row, line in enumerate(grid):
        for column, dark in enumerate(line):
            if dark:
                image.paste(
                    0, (column * pixels, row * pixels, (column + 1) * pixels, (row + 1) * pixels)
                )
    return [result.text for result in zxingcpp.read_barcodes(image, formats=_QR)]


@pytest.mark.parametrize(
    "text",
    ["https://example.com/tools?q=1&lang=en", "Grüße aus Köln: 日本語 ✓", "x" * qr.MAX_CHARS],
)
def test_qr_png_and_svg_decode_back_to_the_text(text):
    result = qr.run(text)

    assert _decode_png_data_url(result.png_data_url) == [text]
    assert result.svg.startswith("<svg") and result.svg.rstrip().endswith("</svg>")
    grid = _svg_to_matrix(result.svg)
    assert _decode_matrix(grid) == [text]
    # The SVG draws a 4-module quiet zone around the symbol the result describes.
    assert len(grid) == result.modules + 8
    assert result.modules == 17 + 4 * result.version


@pytest.mark.parametrize("text", ["hi", "https://example.com/a", "x" * qr.MAX_CHARS])
def test_qr_downloads_an_svg_file_and_a_print_size_png(text):
    result = qr.run(text)

    # The print PNG (drawn on request): square, at least PRINT_PIXELS wide, and it scans.
    printed = qr.print_png(text)
    image = Image.open(io.BytesIO(printed))
    assert image.size[0] == image.size[1]
    assert qr.PRINT_PIXELS <= image.size[0] < qr.PRINT_PIXELS + result.modules + 8
    prefix = "data:image/png;base64,"
    assert _decode_png_data_url(prefix + base64.b64encode(printed).decode()) == [text]
    # The preview stays small.
    preview = result.png_data_url[len(prefix) :]
    assert Image.open(io.BytesIO(base64.b64decode(preview))).size[0] < image.size[0]

    # The SVG file: a standalone document (XML declaration, namespace, a nominal size)
    # whose drawing decodes back to the text.
    media = "data:image/svg+xml;charset=utf-8,"
    assert result.svg_data_url.startswith(media)
    svg = urllib.parse.unquote(result.svg_data_url[len(media) :])
    assert svg.startswith("<?xml") and 'xmlns="http://www.w3.org/2000/svg"' in svg.replace("'", '"')
    side = (result.modules + 8) * qr.SVG_FILE_SCALE
    assert f'width="{side}"' in svg.replace("'", '"')
    markup = svg[svg.index("<svg") :].replace("'", '"')
    sized = f'width="{side}" height="{side}"'
    assert sized in markup
    grid = _svg_to_matrix(markup.replace(sized, f'viewBox="0 0 {side} {side}"'))
    assert _decode_matrix(grid) == [text]


def test_qr_error_level_is_at_least_the_one_asked_for():
    assert qr.run("hello", error_level="h").error_level == "H"
    assert qr.run("hello", error_level="L").error_level in {"L", "M", "Q", "H"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   \n\t"}, "text"),
        ({"text": "x" * (qr.MAX_CHARS + 1)}, "text"),
        # 1,000 emoji are 4,000 UTF-8 bytes: more than the largest QR code holds.
        ({"text": "🎉" * 1000}, "text"),
        ({"text": "ok", "error_level": "Z"}, "error_level"),
        ({"text": "ok", "scale": 0}, "scale"),
    ],
)
def test_qr_rejects_bad_input_with_a_message_for_the_field(kwargs, field):
    with pytest.raises(ToolInputError) as caught:
        qr.run(**kwargs)
    assert caught.value.field == field
    assert caught.value.message and str(caught.value) == caught.value.message


# ---------------------------------------------------------------- keywords and summary

ARTICLE = """
Honeybees are essential pollinators for many of the crops that people eat. A single honeybee
colony can contain tens of thousands of worker bees, a queen and a few hundred drones. Worker
bees collect nectar and pollen from flowers and carry it back to the hive. In the hive, nectar
is turned into honey, which the colony stores as food for the winter.

Over the past two decades, beekeepers in Europe and North America have reported heavy colony
losses. Scientists link these colony losses to parasites such as the varroa mite, to pesticides
and to a shortage of flowering plants. The varroa mite feeds on bees and spreads viruses between
them, weakening the whole colony. Farmers and city councils can help honeybees by planting
wildflowers and by using fewer pesticides. Some cities now keep beehives on rooftops.
Protecting honeybee colonies protects the pollination of crops and therefore our food supply.
"""


def test_keywords_finds_the_obvious_keyphrases_and_summarises_from_the_text():
    result = keywords.run(ARTICLE)

    phrases = [k.phrase.lower() for k in result.keyphrases]
    assert len(phrases) == 10
    for expected in ("varroa mite", "worker bees", "colony losses"):
        assert expected in phrases
    scores = [k.score for k in result.keyphrases]
    assert scores[0] == 1.0 and scores == sorted(scores, reverse=True) and scores[-1] > 0

    flat = " ".join(ARTICLE.split())
    assert len(result.summary) == 3
    for sentence in result.summary:
        assert sentence in flat
    # Summary sentences keep the order they have in the text.
    positions = [flat.index(s) for s in result.summary]
    assert positions == sorted(positions)
    # The varroa sentences share the most with the rest: TextRank must pick one of them.
    assert any("varroa" in s for s in result.summary)
    assert result.sentence_count == 10 and result.word_count > 100


def test_keywords_on_a_short_text_returns_every_sentence_once():
    text = "Rust makes memory safety the default. " * 3 + "Go makes concurrency the default " * 2
    result = keywords.run(text.strip(), top=3)
    assert len(result.keyphrases) <= 3
    assert result.summary == (
        "Rust makes memory safety the default.",
        "Go makes concurrency the default Go makes concurrency the default",
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "Too short to say anything about."}, "text"),
        ({"text": "word " * 12_000}, "text"),  # 60,000 characters
        ({"text": ARTICLE, "top": 0}, "top"),
        ({"text": ARTICLE, "summary_sentences": 0}, "summary_sentences"),
    ],
)
def test_keywords_rejects_bad_input_with_a_message_for_the_field(kwargs, field):
    with pytest.raises(ToolInputError) as caught:
        keywords.run(**kwargs)
    assert caught.value.field == field


# ---------------------------------------------------------------- PDF report

NAME = "Ada Lovelace"
COSTS = {"qr": 1, "keywords": 3, "report": 10}
NAMES = {"qr": "QR code generator", "keywords": "Keywords & summary", "report": "Report"}


def _entry(when, kind, delta, balance_after, feature=None, what=None) -> ReportEntry:
    return ReportEntry(
        when=when,
        kind=kind,
        feature=feature,
        what=what or NAMES.get(feature or "", kind),
        delta=delta,
        balance_after=balance_after,
    )


def _ledger(count: int) -> tuple[list[ReportEntry], int]:
    """A plausible ledger: a signup grant, then spends on the three tools, a top-up whenever
    the balance runs low, and the odd refund of a failed run. An entry an hour, starting
    long enough ago that even MAX_ROWS entries end in the past (inside the default window)."""
    when = datetime(2010, 1, 1, 9, 0, tzinfo=UTC)
    balance = 100
    entries = [_entry(when, "grant", 100, 100, what="Signup")]
    for i in range(1, count):
        when += timedelta(hours=1)
        tool = ("qr", "keywords", "report")[i % 3]
        if balance < 10:
            balance += 500
            entries.append(_entry(when, "grant", 500, balance, what="Credit pack"))
        elif i % 50 == 0:
            balance += COSTS[tool]
            what = f"Refund: {NAMES[tool]} failed"
            entries.append(_entry(when, "refund", COSTS[tool], balance, tool, what))
        else:
            balance -= COSTS[tool]
            entries.append(_entry(when, "spend", -COSTS[tool], balance, tool))
    return entries, balance


@pytest.fixture(scope="module")
def big_report():
    rows, balance = _ledger(1500)
    calls: list[tuple[float, str]] = []
    result = report.run(
        rows, name=NAME, balance=balance, progress=lambda f, m: calls.append((f, m))
    )
    return result, calls


def _pdf_pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_report_is_a_multi_page_pdf_naming_the_person(big_report):
    result, _ = big_report
    assert result.pdf.startswith(b"%PDF-") and result.pdf.rstrip().endswith(b"%%EOF")
    pages = _pdf_pages(result.pdf)
    # Title, totals, per-tool page, then ledger pages of about 50 rows.
    assert len(pages) == result.pages >= 3 + 1500 // 60
    assert NAME in pages[0]
    assert "All activity up to" in pages[0]  # the report states its window
    per_tool = pages[2]
    assert "Credits used per tool" in per_tool and "Keywords & summary" in per_tool
    assert "1,500" in pages[-1]  # the last ledger entry's number
    assert result.rows == 1500 and result.filename.endswith(".pdf")


def test_report_progress_rises_to_one_in_steps_of_at_most_a_tenth(big_report):
    _, calls = big_report
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert max(b - a for a, b in itertools.pairwise(fractions)) <= 0.10
    assert all(isinstance(m, str) and m for _, m in calls)


def test_report_totals_match_the_ledger():
    day = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    rows = [
        _entry(day, "grant", 100, 100, what="Signup"),
        _entry(day + timedelta(days=1), "spend", -1, 99, "qr"),
        _entry(day + timedelta(days=1, hours=1), "capture", -10, 89, "report"),
    ]
    result = report.run(rows, name="Bob <b>&</b>", balance=89)
    text = "\n".join(_pdf_pages(result.pdf))
    assert "Bob <b>&</b>" in text  # markup in a name is printed, not interpreted
    assert "+100" in text and "-11" in text and "89 credits" in text
    assert (result.summary.granted, result.summary.spent, result.summary.taken_back) == (100, 11, 0)


def test_a_refunded_failed_run_nets_against_its_tool_not_as_a_tool_of_its_own():
    """The bug: the summary grouped tool spending by display text, so the refund of a
    failed QR run ("Refund: QR code generator failed") showed as another tool at -1."""
    day = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    rows = [
        _entry(day, "grant", 100, 100, what="Signup"),
        _entry(day + timedelta(minutes=1), "spend", -1, 99, "qr"),
        _entry(day + timedelta(minutes=2), "spend", -1, 98, "qr"),
        _entry(
            day + timedelta(minutes=3), "refund", 1, 99, "qr", "Refund: QR code generator failed"
        ),
        _entry(day + timedelta(minutes=4), "spend", -3, 96, "keywords"),
        _entry(day + timedelta(minutes=5), "spend", -1, 95, "qr"),
        _entry(
            day + timedelta(minutes=6), "refund", 1, 96, "qr", "Refund: QR code generator failed"
        ),
    ]
    window = report.ReportWindow(until=day + timedelta(hours=1))
    summary = report.summarise(rows, window)
    assert summary.spent_per_tool == {"keywords": 3, "qr": 1}
    qr_spending = next(t for t in summary.per_tool if t.tool == "qr")
    assert (qr_spending.runs, qr_spending.refunded, qr_spending.spent) == (3, 2, 1)
    assert (summary.granted, summary.spent, summary.taken_back) == (100, 4, 0)
    assert summary.opening_balance + summary.granted - summary.spent == summary.closing_balance

    result = report.run(rows, name=NAME, balance=96, window=window)
    assert result.summary == summary
    per_tool_page = _pdf_pages(result.pdf)[2]
    assert "QR code generator" in per_tool_page and "Refund:" not in per_tool_page


def test_a_tool_whose_only_run_was_refunded_shows_zero_spent():
    day = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    rows = [
        _entry(day, "grant", 5, 5, what="Signup"),
        _entry(day + timedelta(minutes=1), "spend", -1, 4, "qr"),
        _entry(
            day + timedelta(minutes=2), "refund", 1, 5, "qr", "Refund: QR code generator failed"
        ),
    ]
    summary = report.summarise(rows, report.ReportWindow(until=day + timedelta(hours=1)))
    assert summary.spent_per_tool == {"qr": 0} and summary.spent == 0


def test_the_summary_adds_up_and_states_its_window(big_report):
    result, _ = big_report
    summary = result.summary
    assert summary.window.since is None and summary.window.describe().startswith("All activity")
    assert (
        summary.opening_balance + summary.granted - summary.spent - summary.taken_back
        == summary.closing_balance
    )
    assert sum(summary.spent_per_tool.values()) == summary.spent
    assert set(summary.spent_per_tool) == {"qr", "keywords", "report"}
    assert sum(k.entries for k in summary.by_kind) == summary.entries == 1500


def test_the_report_knows_every_kind_of_ledger_entry():
    assert {k.value for k in EntryKind} == report.ENTRY_KINDS
    assert {EntryKind.SPEND, EntryKind.CAPTURE, EntryKind.REFUND} == report.TOOL_KINDS


def test_report_without_rows_is_an_input_error_and_a_broken_row_is_a_bug():
    with pytest.raises(ToolInputError):
        report.run([], name=NAME, balance=0)
    with pytest.raises(TypeError, match="not a ReportEntry"):
        report.run(
            [dict(when=datetime.now(UTC), kind="grant", what="x", delta=1)],
            name=NAME,
            balance=1,
        )
    naive = _entry(datetime(2025, 1, 1), "grant", 1, 1, what="x")
    with pytest.raises(TypeError, match="timezone-aware"):
        report.run([naive], name=NAME, balance=1)
    later = _entry(datetime(2030, 1, 1, tzinfo=UTC), "grant", 1, 1, what="x")
    with pytest.raises(ValueError, match="outside the window"):
        report.run(
            [later],
            name=NAME,
            balance=1,
            window=report.ReportWindow(until=datetime(2029, 1, 1, tzinfo=UTC)),
        )


def test_report_stops_when_the_progress_callback_raises():
    class Cancelled(Exception):
        pass

    def cancel_at_half(fraction: float, _message: str) -> None:
        if fraction >= 0.5:
            raise Cancelled

    rows, balance = _ledger(300)
    with pytest.raises(Cancelled):
        report.run(rows, name=NAME, balance=balance, progress=cancel_at_half)


# ---------------------------------------------------------------- catalog

GOOD = """
[tools.qr]
name = "QR"
credits = 1
description = "d"
icon = "qr-code"
[tools.keywords]
name = "Keywords"
credits = 3
description = "d"
icon = "tags"
[tools.report]
name = "Report"
credits = 10
description = "d"
icon = "file-text"
"""


def test_the_bundled_catalog_prices_every_tool():
    catalog = load_catalog()
    assert tuple(catalog) == KNOWN_TOOL_IDS == tuple(TOOLS)
    assert {tool_id: spec.credits for tool_id, spec in catalog.items()} == {
        "qr": 1,
        "keywords": 3,
        "report": 10,
    }
    assert all(spec.name and spec.description and spec.icon for spec in catalog.values())


def test_a_cost_change_in_the_file_is_all_it_takes():
    assert parse_catalog(GOOD.replace("credits = 10", "credits = 25"))["report"].credits == 25


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (GOOD.replace("credits = 3", "credits = 0"), "positive whole number"),
        (GOOD.replace("credits = 3", "credits = -3"), "positive whole number"),
        (GOOD.replace("credits = 3", "credits = 2.5"), "positive whole number"),
        (GOOD.replace("credits = 3", 'credits = "3"'), "positive whole number"),
        (GOOD.replace("credits = 3", "credits = true"), "positive whole number"),
        (GOOD.replace("credits = 3\n", ""), "positive whole number"),
        (GOOD.replace("credits = 3", "cost = 3"), "unknown keys"),
        (GOOD.replace('icon = "tags"', 'icon = ""'), "icon"),
        (
            GOOD + '[tools.ocr]\nname = "OCR"\ncredits = 5\ndescription = "d"\nicon = "x"\n',
            "unknown tools: ocr",
        ),
        (GOOD.split("[tools.report]")[0], "no entry for: report"),
        ("[tools", "not valid TOML"),
        ("", "must have"),
    ],
)
def test_the_catalog_rejects_bad_entries(bad, reason):
    with pytest.raises(CatalogError, match=reason):
        parse_catalog(bad)
