"""Reading request bodies with a size cap, for every route that reads one.

Starlette's `request.body()` buffers whatever the client sends. Here the declared
Content-Length is refused up front when it is over the cap, and the stream is counted as it
arrives (a chunked body declares no length, and a declared length may lie), so no more
than `limit` bytes are ever held.
"""

from starlette.requests import Request

from .errors import StripeError


def too_large(limit: int) -> StripeError:
    return StripeError(413, f"Request body too large (at most {limit} bytes).")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or StripeError 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
