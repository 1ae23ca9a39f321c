"""Password hashing with Argon2id (argon2-cffi's maintained defaults) on its own thread pool.

An Argon2 call takes ~0.15 s and 64 MiB. It releases the GIL, so it runs on a few threads of
its own: session checks and database reads on asyncio's default pool never queue behind
it. Admission is bounded instead of counted: at most `workers` hashes run and a short queue
waits; a caller that finds the queue full is refused at once, and one whose turn does not
start within `wait_seconds` is refused then, in both cases without hashing. A flood gets
quick refusals, and as nothing is remembered beyond the queue, nobody stays locked out
once it drains.
"""

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache, lru_cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from credit_app.settings import get_settings

T = TypeVar("T")

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Checked against when the email is unknown, so a miss costs as long as a wrong
    password and response time does not reveal which emails have accounts. Made on first
    use, not at import: every process importing the app (the CLI, tool workers) would pay
    for a hash it never needs."""
    return _hasher.hash("not-a-real-password")


# Callers allowed to wait per worker. A verification takes ~0.15 s, so a full queue drains
# in well under a second; a longer queue would only turn refusals into slow refusals.
_QUEUE_PER_WORKER = 4


class PasswordHashingBusy(Exception):
    """No hashing turn now: the queue is full or the turn did not come within the wait."""


def _verify(password_hash: str | None, password: str) -> bool:
    """True only for a stored hash that matches. `None` (no such user) still does the work."""
    try:
        _hasher.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


class Turn:
    """A reserved place in the hashing queue; its work runs on the pool's threads."""

    def __init__(self, executor: ThreadPoolExecutor, deadline: float) -> None:
        self._executor = executor
        self._deadline = deadline

    def _submit(self, work: Callable[..., T], *args: str | None) -> "Future[T]":
        def run() -> T:
            # The queue was longer than the wait: refuse rather than keep the caller on.
            if time.monotonic() > self._deadline:
                raise PasswordHashingBusy
            return work(*args)

        return self._executor.submit(run)

    def hash(self, password: str) -> "Future[str]":
        return self._submit(_hasher.hash, password)

    def verify(self, password_hash: str | None, password: str) -> "Future[bool]":
        return self._submit(_verify, password_hash, password)


class PasswordPool:
    def __init__(self, *, workers: int, wait_seconds: float) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._places = threading.BoundedSemaphore(workers * (1 + _QUEUE_PER_WORKER))
        self._wait_seconds = wait_seconds

    @contextmanager
    def turn(self) -> Iterator[Turn]:
        """Reserve a place, or raise PasswordHashingBusy at once. Wait for the work's
        result inside the block: leaving it gives the place back. Taking the turn before
        anything is written lets a busy refusal leave no trace."""
        if not self._places.acquire(blocking=False):
            raise PasswordHashingBusy
        try:
            yield Turn(self._executor, time.monotonic() + self._wait_seconds)
        finally:
            self._places.release()


@lru_cache(maxsize=1)
def process_pool() -> PasswordPool:
    """The pool every sign-in and sign-up of this process shares. Making it also makes the
    dummy hash, so the first unknown email costs no more than the first wrong password."""
    _dummy_hash()
    settings = get_settings()
    return PasswordPool(
        workers=settings.password_hash_workers, wait_seconds=settings.password_hash_wait_seconds
    )


def hash_password(password: str) -> str:
    """Hash on the process pool and wait here: for callers that are not on an event loop
    (the CLI, test factories). Raises PasswordHashingBusy."""
    with process_pool().turn() as turn:
        return turn.hash(password).result()
