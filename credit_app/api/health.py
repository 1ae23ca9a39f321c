"""GET /api/health: the app is up and its database answers.
GET /api/ready: ready for traffic, what a load balancer asks: the database answers, and
Redis too when REDIS_URL is set (each within READY_TIMEOUT_SECONDS, on worker threads)."""

import asyncio
from collections.abc import Callable

import redis
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from credit_app.db import get_engine
from credit_app.settings import get_settings

READY_TIMEOUT_SECONDS = 2.0


def _database_ok() -> bool:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


async def health(_request: Request) -> JSONResponse:
    ok = await asyncio.to_thread(_database_ok)
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "database": ok}, status_code=200 if ok else 503
    )


def _redis_ok(url: str) -> bool:
    client = redis.Redis.from_url(
        url, socket_timeout=READY_TIMEOUT_SECONDS, socket_connect_timeout=READY_TIMEOUT_SECONDS
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


async def _answers(check: Callable[[], bool]) -> bool:
    """`check` on a worker thread, False when it takes longer than the timeout (the
    thread is left to finish; the probe is answered now)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(check), READY_TIMEOUT_SECONDS)
    except TimeoutError:
        return False


async def ready(_request: Request) -> JSONResponse:
    redis_url = get_settings().redis_url
    checks = [_answers(_database_ok)]
    if redis_url:
        checks.append(_answers(lambda: _redis_ok(redis_url)))
    database, *rest = await asyncio.gather(*checks)
    redis_answers = rest[0] if rest else None
    ok = database and redis_answers is not False
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "database": database, "redis": redis_answers},
        status_code=200 if ok else 503,
    )
