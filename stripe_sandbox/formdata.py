"""Decoding of Stripe's form encoding (`metadata[k]=v`, `line_items[0][price]=p`, `expand[]=x`).

Stripe request bodies and query strings are flat key/value pairs whose keys use bracket
notation for nesting. The SDK always indexes arrays (`expand[0]`), other clients use `[]`;
both decode to Python lists. Values stay strings: each endpoint coerces what it reads, so
that a bad value produces Stripe's `parameter_invalid_*` error naming the parameter.

Decoding runs before any other check, on input anyone can send, so it is linear in the
input and bounded: too many parameters, keys that are too long or too deep, and list
indexes beyond `MAX_LIST_INDEX` are refused with Stripe's 400 before any work is done.
"""

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import StripeError

# Far above anything the app or the SDK sends (Stripe allows 50 metadata keys, and a
# checkout session here has one line item), far below what would cost real time.
MAX_PARAMS = 2_000
MAX_KEY_LENGTH = 200
MAX_DEPTH = 10  # brackets after the name: `a[b][c]` has depth 2
# Lists are built from the indexes present (`a[5]` alone is `[x]`), so a large index costs
# nothing; the cap just keeps every index within what a list of MAX_PARAMS values needs.
MAX_LIST_INDEX = MAX_PARAMS - 1

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"[0-9]+")


class _Node(dict):
    """A dict that counts its list-index keys, so `a[]=x` appends in constant time."""

    __slots__ = ("indexes",)

    def __init__(self) -> None:
        super().__init__()
        self.indexes = 0


def decode(raw: str | bytes) -> dict[str, Any]:
    """Nested dicts/lists from an urlencoded string (a body arrives as UTF-8 bytes)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise StripeError(400, "The request body is not valid UTF-8.") from None
    try:
        # max_num_fields counts the separators before parsing anything.
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=MAX_PARAMS)
    except ValueError:
        raise StripeError(400, f"Too many parameters (at most {MAX_PARAMS}).") from None
    root = _Node()
    for key, value in pairs:
        _insert(root, _parts(key), value)
    return _listify(root)


def _parts(key: str) -> list[str]:
    """`a[b][]` → ["a", "b", ""], refusing malformed, overlong and overdeep keys."""
    shown = key[:MAX_KEY_LENGTH]
    if len(key) > MAX_KEY_LENGTH:
        raise StripeError(
            400, f"Parameter name too long (at most {MAX_KEY_LENGTH}): {shown}…", param=shown
        )
    match = _KEY.match(key)
    if not match:
        raise StripeError(400, f"Invalid parameter name: {key}", param=key)
    parts = [match.group(1), *_PART.findall(match.group(2))]
    if len(parts) - 1 > MAX_DEPTH:
        raise StripeError(400, f"Parameter nested too deeply: {key}", param=key)
    for part in parts[1:]:
        if _INDEX.fullmatch(part) and int(part) > MAX_LIST_INDEX:
            raise StripeError(
                400, f"List index too large (at most {MAX_LIST_INDEX}): {key}", param=key
            )
    return parts


def _insert(node: _Node, parts: list[str], value: str) -> None:
    for index, part in enumerate(parts):
        if part == "":
            # `a[]=x`: append, as the next free integer key until _listify.
            part = str(node.indexes)
        if part not in node and _INDEX.fullmatch(part):
            node.indexes += 1
        if index == len(parts) - 1:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, _Node):
            child = _Node()
            node[part] = child
        node = child


def _listify(node: Any) -> Any:
    if not isinstance(node, _Node):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and node.indexes == len(converted):
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
