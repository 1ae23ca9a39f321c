"""Run a coroutine to completion from sync test code.

Playwright's sync API keeps an event loop running in the main thread for the whole
session once a browser test has run, so plain asyncio.run() would refuse; a worker thread
has no running loop.
"""

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
