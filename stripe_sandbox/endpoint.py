"""The request pipeline every /v1 route shares: auth, form decoding, idempotency, expansion,
pagination, error rendering, and handing the action's events to webhook delivery."""

import asyncio
import hmac
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import objects
from .api_faults import api_error
from .bodies import read_body
from .core import Sandbox
from .errors import StripeError
from .events import Batch, Cause
from .formdata import as_int, as_str_list, decode
from .ids import new_id
from .store import Store

Handler = Callable[[Sandbox, Request, dict[str, Any], Batch], dict[str, Any]]


def _auth(sandbox: Sandbox, request: Request) -> str:
    header = request.headers.get("authorization", "")
    if not header:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY').",
        )
    scheme, _, key = header.partition(" ")
    key = key.strip()
    expected = sandbox.settings.api_key
    # Bytes: compare_digest refuses non-ASCII str, and a header may carry any latin-1 text.
    valid = scheme.lower() == "bearer" and (
        hmac.compare_digest(key.encode(), expected.encode())
        if expected
        else key.startswith(("sk_test_", "rk_test_"))
    )
    if not valid:
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "***"
        raise StripeError(401, f"Invalid API Key provided: {shown}")
    return key


async def _params(sandbox: Sandbox, request: Request) -> dict[str, Any]:
    query = decode(request.url.query)
    if request.method != "POST":
        return query
    body = await read_body(request, sandbox.settings.max_body_bytes)
    return {**query, **decode(body)}


def _json(status: int, body: dict[str, Any], request_id: str, replayed: bool = False) -> Response:
    headers = {"Request-Id": request_id, "Stripe-Version": objects.API_VERSION}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        json.dumps(body, indent=2),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _api_path(request: Request) -> str:
    """The request's path as Stripe's (`/v1/...`), also when the sandbox is mounted under a
    prefix (Starlette keeps the full path and puts the mount's prefix in `root_path`)."""
    path = request.url.path
    root = str(request.scope.get("root_path") or "").rstrip("/")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def route(sandbox: Sandbox, handler: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        request_id = new_id("req_", 14)
        try:
            key = _auth(sandbox, request)
            params = await _params(sandbox, request)
        except StripeError as exc:
            return _json(exc.status, exc.body(), request_id)
        fault = sandbox.api_faults.take(request.method, _api_path(request))
        if fault is not None and fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)  # a slow Stripe: the caller waits
        if fault is not None and fault.status is not None:
            # Nothing happens: the request fails before any action.
            response = _json(fault.status, api_error(fault).body(), request_id)
            if fault.should_retry is not None:
                response.headers["Stripe-Should-Retry"] = str(fault.should_retry).lower()
            return response
        idem_key = request.headers.get("idempotency-key") if request.method == "POST" else None
        cache_key = (key, request.method, request.url.path, idem_key or "")
        batch = sandbox.batch(Cause(request_id, idem_key))
        with sandbox.store.lock:
            if idem_key and cache_key in sandbox.store.idempotency:
                first_params, status, body = sandbox.store.idempotency[cache_key]
                if first_params != params:
                    error = StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with. Try using a key other than "
                        f"'{idem_key}' if you meant to execute a different request.",
                        type_="idempotency_error",
                    )
                    return _json(400, error.body(), request_id)
                return _json(status, body, request_id, replayed=True)
            try:
                result = handler(sandbox, request, params, batch)
                status, body = 200, expand(sandbox.store, Store.snapshot(result), params)
            except StripeError as exc:
                # Events of a refused action are never sent (actions validate before
                # emitting), except those of an action that happened and then failed.
                if not exc.keeps_events:
                    batch.events.clear()
                status, body = exc.status, exc.body()
            if idem_key:
                sandbox.store.idempotency[cache_key] = (params, status, body)
        sandbox.deliverer.enqueue(batch.events)
        return _json(status, body, request_id)

    return endpoint


def expand(store: Store, obj: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Apply `expand[]`: replace id strings at the given dotted paths by the objects."""
    for path in as_str_list(params, "expand"):
        _expand(store, obj, path.split("."), path)
    return obj


def _expand(store: Store, node: Any, parts: list[str], path: str) -> None:
    if isinstance(node, list):
        for item in node:
            _expand(store, item, parts, path)
        return
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    if head not in node:
        raise StripeError(
            400,
            f"This property cannot be expanded ({path}).",
            param="expand",
        )
    value = node[head]
    if isinstance(value, str):
        # Every id along the path is expanded, as Stripe does for `payment_intent.payment_method`.
        found = store.by_id(value)
        if found is not None:
            value = node[head] = Store.snapshot(found)
    if rest:
        _expand(store, value, rest, path)


def paginate(items: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
    """Stripe list semantics: newest first, `limit` 1..100 (default 10), cursors by id."""
    limit = as_int(params, "limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= 100:
        raise StripeError(
            400,
            "Invalid integer: limit must be between 1 and 100",
            param="limit",
            code="parameter_invalid_integer",
        )
    ids = [item["id"] for item in items]
    after, before = params.get("starting_after"), params.get("ending_before")
    if after:
        if after not in ids:
            raise StripeError(400, f"Invalid starting_after id: {after}", param="starting_after")
        items = items[ids.index(after) + 1 :]
        window = items[:limit]
        has_more = len(items) > limit
    elif before:
        if before not in ids:
            raise StripeError(400, f"Invalid ending_before id: {before}", param="ending_before")
        items = items[: ids.index(before)]
        window = items[-limit:]
        has_more = len(items) > limit
    else:
        window = items[:limit]
        has_more = len(items) > limit
    return objects.list_object(window, url, has_more)
