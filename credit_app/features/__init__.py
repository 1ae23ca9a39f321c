"""The premium tools as plain functions, their cost catalogue and their errors (no Reflex, no DB).

The web layer charges `load_catalogue()[tool_id].credits`, calls `TOOLS[tool_id](...)` inside
its credit guard, shows a `ToolInputError` beside the field (and gives the credits back), and
treats any other exception as a failed run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from credit_app.features import keywords, qr, report
from credit_app.features.catalogue import KNOWN_TOOL_IDS, ToolSpec, load_catalogue, parse_catalogue
from credit_app.features.errors import CatalogueError, ToolInputError
from credit_app.features.keywords import Keyphrase, KeywordsResult
from credit_app.features.qr import QrResult
from credit_app.features.report import ProgressCallback, ReportResult

TOOLS: dict[str, Callable[..., Any]] = {
    "qr": qr.run,
    "keywords": keywords.run,
    "report": report.run,
}
# The catalogue validates ids against KNOWN_TOOL_IDS; keep the two lists from drifting apart.
if tuple(TOOLS) != KNOWN_TOOL_IDS:
    raise RuntimeError("features.TOOLS and catalogue.KNOWN_TOOL_IDS list different tools")

__all__ = [
    "KNOWN_TOOL_IDS",
    "TOOLS",
    "CatalogueError",
    "Keyphrase",
    "KeywordsResult",
    "ProgressCallback",
    "QrResult",
    "ReportResult",
    "ToolInputError",
    "ToolSpec",
    "keywords",
    "load_catalogue",
    "parse_catalogue",
    "qr",
    "report",
]
