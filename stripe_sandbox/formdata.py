"""Decoding of Stripe's form encoding (`metadata[k]=v`, `line_items[0][price]=p`, `expand[]=x`).

Stripe request bodies and query strings are flat key/value pairs whose keys use bracket
notation for nesting. The SDK always indexes arrays (`expand[0]`), other clients use `[]`;
both decode to Python lists. Values stay strings: each endpoint coerces what it reads, so
that a bad value produces Stripe's `parameter_invalid_*` error naming the parameter.
"""

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import StripeError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode(raw: str) -> dict[str, Any]:
    """Nested dicts/lists from an urlencoded string."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _KEY.match(key)
        if not match:
            raise StripeError(400, f"Invalid parameter name: {key}", param=key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _insert(root, parts, value)
    return _listify(root)


def _insert(node: dict[str, Any], parts: list[str], value: str) -> None:
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "":
            # `a[]=x`: append, represented as the next free integer key until _listify.
            part = str(sum(1 for k in node if k.isdigit()))
        if last:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def as_bool(params: dict[str, Any], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value in ("true", "false"):
        return value == "true"
    raise StripeError(
        400, f"Invalid boolean: {value}", param=name, code="parameter_invalid_boolean"
    )


def as_int(params: dict[str, Any], name: str, param: str | None = None) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(
            400,
            f"Invalid integer: {value}",
            param=param or name,
            code="parameter_invalid_integer",
        ) from None


def as_str_list(params: dict[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise StripeError(400, f"Invalid array: {name}", param=name)


def as_metadata(params: dict[str, Any], name: str = "metadata") -> dict[str, str] | None:
    """Metadata to merge: `None` when absent; `metadata=` (empty string) clears everything."""
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise StripeError(400, "Invalid hash", param=name, code="parameter_invalid_hash")
    return value


def merge_metadata(current: dict[str, str], update: dict[str, str] | None, clear: bool) -> dict:
    """Stripe merges metadata keys; an empty value deletes a key, an empty hash clears all."""
    if update is None:
        return current
    if clear:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
