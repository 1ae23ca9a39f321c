"""QR code generator: text or a URL in, a scannable QR code out: SVG markup for the page, a
PNG preview, and two downloads: an SVG file, and a print-size PNG (at least PRINT_PIXELS
wide) drawn only when it is asked for (`print_png`): it is half the work of a run, and a
large image to carry in every result."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import segno
from segno import DataOverflowError, encoder

from credit_app.tools.errors import ToolInputError

MAX_CHARS = 1000
ERROR_LEVELS = ("L", "M", "Q", "H")
BORDER = 4  # the quiet zone, in modules, that scanners need around the symbol
# The print PNG is at least this many pixels wide: 10 cm at 300 dpi is about 1,200.
PRINT_PIXELS = 1200
SVG_FILE_SCALE = 10  # the SVG file's nominal pixels per module (it scales without loss)
# Explicit white background: a transparent code on a dark-themed page does not scan.
COLOURS: dict[str, Any] = {"dark": "#000", "light": "#fff", "border": BORDER}


@dataclass(frozen=True)
class QrResult:
    text: str
    svg: str  # inline <svg> element (no XML declaration), sized by its viewBox
    png_data_url: str  # "data:image/png;base64,..." for an <img> or a download link
    # The SVG download: a standalone file (with its XML declaration and a nominal size), as
    # a data URL for a download link.
    svg_data_url: str
    version: int  # QR version 1..40: the symbol's size class
    error_level: str  # L, M, Q or H as encoded (may be higher than asked, see run)
    modules: int  # width of the symbol in modules, quiet zone excluded


def check_input(text: str, *, error_level: str = "M", scale: int = 8) -> None:
    """Raise ToolInputError unless `run` can encode these inputs, including whether the text
    fits the largest QR symbol. A few milliseconds (no symbol is drawn), so the web layer
    calls it before charging: bad input costs nothing and writes nothing."""
    if not isinstance(text, str) or not text.strip():
        raise ToolInputError("Enter the text or link to put in the QR code.", field="text")
    if len(text) > MAX_CHARS:
        raise ToolInputError(
            f"That is {len(text):,} characters; a QR code here holds at most {MAX_CHARS:,}.",
            field="text",
        )
    level = error_level.upper() if isinstance(error_level, str) else ""
    if level not in ERROR_LEVELS:
        raise ToolInputError("Error correction must be one of L, M, Q or H.", field="error_level")
    if not isinstance(scale, int) or not 1 <= scale <= 40:
        raise ToolInputError("Scale must be a whole number from 1 to 40.", field="scale")
    try:
        # segno's own sizing step (segno.make runs it first), without drawing the symbol
        # and choosing its mask, which take 100 times longer.
        encoder.find_version(
            encoder.prepare_data(text, None, None),
            encoder.normalize_errorlevel(level),
            eci=False,
            micro=False,
        )
    except DataOverflowError as exc:
        # 1,000 ASCII characters always fit; emoji and non-Latin letters take 3-4 bytes each
        # and can overflow the largest symbol (version 40), which is the person's to fix.
        raise ToolInputError(
            "This text is too long to fit in a QR code. Shorten it: emoji and non-Latin "
            "letters take more room than plain letters.",
            field="text",
        ) from exc


def run(text: str, *, error_level: str = "M", scale: int = 8) -> QrResult:
    """Encode `text` as a QR code.

    `error_level` is the minimum error correction (L 7%, M 15%, Q 25%, H 30% of the symbol can
    be damaged); the library raises it for free when the data fits the same symbol size.
    `scale` is pixels per module in the PNG and the SVG's nominal size.
    """
    check_input(text, error_level=error_level, scale=scale)
    qr = _symbol(text, error_level)
    # omitsize=True gives a viewBox instead of fixed width/height, so CSS can size the SVG.
    svg = qr.svg_inline(scale=scale, omitsize=True, **COLOURS)
    png = qr.png_data_uri(scale=scale, **COLOURS)
    svg_file = qr.svg_data_uri(xmldecl=True, scale=SVG_FILE_SCALE, **COLOURS)
    return QrResult(
        text=text,
        svg=svg,
        png_data_url=png,
        svg_data_url=svg_file,
        version=int(qr.version),
        error_level=qr.error,
        modules=int(qr.symbol_size(border=0)[0]),
    )


def print_png(text: str, *, error_level: str = "M") -> bytes:
    """The print-size PNG of the code `run` made for the same inputs (segno draws the same
    symbol for them every time), at least PRINT_PIXELS square."""
    check_input(text, error_level=error_level)
    qr = _symbol(text, error_level)
    width = int(qr.symbol_size(border=BORDER)[0])
    out = io.BytesIO()
    qr.save(out, kind="png", scale=math.ceil(PRINT_PIXELS / width), **COLOURS)
    return out.getvalue()


def _symbol(text: str, error_level: str) -> segno.QRCode:
    # micro=False: Micro QR codes are smaller but most phone cameras cannot read them.
    return segno.make(text, error=error_level.upper(), micro=False, boost_error=True)
