"""The premium tools as plain functions, their cost catalog and their errors (no Reflex, no DB).

The service layer (credits.tool_runs) checks the input with `check_input(tool_id, ...)` before
anything is charged (a `ToolInputError` is shown beside the field), charges
`load_catalog()[tool_id].credits`, and runs `TOOLS[tool_id](...)` on the bounded worker pool
(`pool.get_pool()`); any other exception is a failed run and the credits go back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from credit_app.tools import keywords, qr, report
from credit_app.tools.catalog import KNOWN_TOOL_IDS, ToolSpec, load_catalog, parse_catalog
from credit_app.tools.errors import CatalogError, ToolInputError
from credit_app.tools.keywords import Keyphrase, KeywordsResult
from credit_app.tools.qr import QrResult
from credit_app.tools.report import (
    ProgressCallback,
    ReportEntry,
    ReportResult,
    ReportSummary,
    ReportWindow,
)

TOOLS: dict[str, Callable[..., Any]] = {
    "qr": qr.run,
    "keywords": keywords.run,
    "report": report.run,
}
# Each tool's input check: cheap, run before charging so bad input costs nothing.
INPUT_CHECKS: dict[str, Callable[..., None]] = {
    "qr": qr.check_input,
    "keywords": keywords.check_input,
    "report": report.check_input,
}
# The catalog validates ids against KNOWN_TOOL_IDS; keep the lists from drifting apart.
if tuple(TOOLS) != KNOWN_TOOL_IDS or tuple(INPUT_CHECKS) != KNOWN_TOOL_IDS:
    raise RuntimeError("tools.TOOLS, INPUT_CHECKS and KNOWN_TOOL_IDS list different tools")


def check_input(tool_id: str, **inputs: Any) -> None:
    """Raise ToolInputError unless `tool_id` can run on `inputs`. For qr and keywords the
    inputs are the tool's own arguments; for the report, `row_count` (its rows come from our
    ledger, and are read only once the count is known to be acceptable)."""
    INPUT_CHECKS[tool_id](**inputs)


__all__ = [
    "INPUT_CHECKS",
    "KNOWN_TOOL_IDS",
    "TOOLS",
    "CatalogError",
    "Keyphrase",
    "KeywordsResult",
    "ProgressCallback",
    "QrResult",
    "ReportEntry",
    "ReportResult",
    "ReportSummary",
    "ReportWindow",
    "ToolInputError",
    "ToolSpec",
    "check_input",
    "keywords",
    "load_catalog",
    "parse_catalog",
    "qr",
    "report",
]
