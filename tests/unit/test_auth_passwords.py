"""The Argon2 pool: bounded admission, a bounded wait for a turn, refusals without hashing."""

from contextlib import ExitStack

import pytest

from credit_app.auth.passwords import PasswordHashingBusy, PasswordPool


def test_hash_and_verify_round_trip():
    pool = PasswordPool(workers=1, wait_seconds=5)
    with pool.turn() as turn:
        stored = turn.hash("s3cret-pass").result()
    with pool.turn() as turn:
        assert turn.verify(stored, "s3cret-pass").result() is True
        assert turn.verify(stored, "wrong-pass").result() is False
        # No such user: the dummy hash is checked, and the answer is still no.
        assert turn.verify(None, "s3cret-pass").result() is False


def test_a_full_queue_refuses_at_once_and_a_freed_place_admits_again():
    pool = PasswordPool(workers=1, wait_seconds=5)
    with ExitStack() as held:
        first = held.enter_context(ExitStack())
        first.enter_context(pool.turn())
        for _ in range(4):  # one worker plus its queue of four
            held.enter_context(pool.turn())
        with pytest.raises(PasswordHashingBusy), pool.turn():
            pass
        first.close()
        with pool.turn() as turn:
            assert turn.verify(None, "x").result() is False


def test_a_turn_that_does_not_start_within_the_wait_is_refused_without_hashing():
    pool = PasswordPool(workers=1, wait_seconds=0.01)
    with pool.turn() as first, pool.turn() as second:
        # Argon2 takes far longer than 10 ms, so the second job starts past its deadline.
        busy = first.hash("occupies the only worker")
        late = second.verify(None, "x")
        with pytest.raises(PasswordHashingBusy):
            late.result(timeout=5)
        assert busy.result(timeout=5).startswith("$argon2id$")
