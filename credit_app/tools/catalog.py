"""Load and validate the premium tools' cost catalog (costs.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from credit_app.tools.errors import CatalogError

# The tools that have code behind them. A catalog entry for anything else would offer a tool
# that cannot run; a missing entry would leave a tool without a price. Both are rejected.
KNOWN_TOOL_IDS: tuple[str, ...] = ("qr", "keywords", "report")

_REQUIRED_TEXT_FIELDS = ("name", "description", "icon")


@dataclass(frozen=True)
class ToolSpec:
    """One premium tool as the catalog describes it."""

    id: str
    name: str
    credits: int
    description: str
    icon: str


def load_catalog(path: str | Path | None = None) -> dict[str, ToolSpec]:
    """Read the catalog (the bundled costs.toml unless `path` is given) and validate it.

    Not cached on purpose: the file is tiny, and reading it each time means an edited price
    takes effect without a restart.
    """
    if path is None:
        text = resources.files("credit_app.tools").joinpath("costs.toml").read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return parse_catalog(text)


def parse_catalog(text: str) -> dict[str, ToolSpec]:
    """Validate catalog TOML text; returns tool id -> ToolSpec in KNOWN_TOOL_IDS order."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"costs.toml is not valid TOML: {exc}") from exc
    tools = data.get("tools")
    if not isinstance(tools, dict) or not tools:
        raise CatalogError("costs.toml must have a [tools.<id>] table for each tool")

    unknown = sorted(set(tools) - set(KNOWN_TOOL_IDS))
    if unknown:
        raise CatalogError(f"costs.toml names unknown tools: {', '.join(unknown)}")
    missing = [tool_id for tool_id in KNOWN_TOOL_IDS if tool_id not in tools]
    if missing:
        raise CatalogError(f"costs.toml has no entry for: {', '.join(missing)}")

    return {tool_id: _spec(tool_id, tools[tool_id]) for tool_id in KNOWN_TOOL_IDS}


def _spec(tool_id: str, entry: Any) -> ToolSpec:
    if not isinstance(entry, dict):
        raise CatalogError(f"[tools.{tool_id}] must be a table")
    extra = sorted(set(entry) - {"credits", *_REQUIRED_TEXT_FIELDS})
    if extra:
        # Most likely a typo ("credit", "cost") that would otherwise be silently ignored.
        raise CatalogError(f"[tools.{tool_id}] has unknown keys: {', '.join(extra)}")

    credits = entry.get("credits")
    # bool is an int subclass in Python; `credits = true` must not mean 1 credit.
    if not isinstance(credits, int) or isinstance(credits, bool) or credits <= 0:
        raise CatalogError(
            f"[tools.{tool_id}] credits must be a positive whole number, got {credits!r}"
        )

    texts: dict[str, str] = {}
    for key in _REQUIRED_TEXT_FIELDS:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise CatalogError(f"[tools.{tool_id}] {key} must be a non-empty string")
        texts[key] = value.strip()

    return ToolSpec(id=tool_id, credits=credits, **texts)
