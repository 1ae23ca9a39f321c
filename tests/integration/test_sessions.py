"""Sessions carry a second secret, the live token, that the server pushes changes under;
ended sessions are found wherever they ended."""

from datetime import timedelta

from credit_app.auth import sessions
from credit_app.auth.sessions import (
    check_session,
    create_session,
    ended_between,
    live_tokens,
    revoke_session,
)
from credit_app.db import session_scope
from credit_app.models import utcnow
from tests.async_run import run
from tests.factories import make_user


def test_each_session_has_its_own_secret_live_token(engine):
    user = make_user(engine)
    with session_scope(engine) as session:
        first = create_session(session, user_id=user, ttl=timedelta(hours=1))
        second = create_session(session, user_id=user, ttl=timedelta(hours=1))
    with session_scope(engine) as session:
        a, b = check_session(session, first), check_session(session, second)
        assert a.user_id == b.user_id == user
        assert a.live_token != b.live_token and len(a.live_token) == 64
        assert "_" not in a.live_token  # Reflex link tokens may not contain underscores
        assert a.live_token not in (first, second)
        assert sorted(live_tokens(session, user_id=user)) == sorted([a.live_token, b.live_token])
        assert check_session(session, "not-a-token") is None
        assert check_session(session, "") is None


def test_revoked_and_expired_sessions_stop_receiving_and_are_found_as_ended(engine):
    user = make_user(engine)
    start = utcnow()
    with session_scope(engine) as session:
        kept = create_session(session, user_id=user, ttl=timedelta(hours=1))
        revoked = create_session(session, user_id=user, ttl=timedelta(hours=1))
        expiring = create_session(session, user_id=user, ttl=timedelta(seconds=1))
    with session_scope(engine) as session:
        tokens = {t: check_session(session, t).live_token for t in (kept, revoked, expiring)}
        revoke_session(session, revoked)
    later = start + timedelta(seconds=5)
    with session_scope(engine) as session:
        assert check_session(session, revoked) is None
        assert check_session(session, expiring, now=later) is None
        assert live_tokens(session, user_id=user, now=later) == [tokens[kept]]
        ended = ended_between(session, start=start, end=later)
        assert sorted(ended) == sorted([tokens[revoked], tokens[expiring]])
        assert ended_between(session, start=later, end=later + timedelta(seconds=5)) == []


def _live_token(engine, token):
    return run(sessions.resolve_session(token, engine=engine)).live_token


def test_successive_looks_find_each_ended_session_once(engine):
    """What the app's sign-out task does every second (credit_app.background)."""
    user = make_user(engine)
    first_look, nothing = run(sessions.ended_since(None, engine=engine))
    assert nothing == []  # the first look only learns the time

    revoked = run(sessions.start_session(user, ttl=timedelta(hours=1), engine=engine))
    expiring = run(sessions.start_session(user, ttl=timedelta(seconds=1), engine=engine))
    kept = run(sessions.start_session(user, ttl=timedelta(hours=1), engine=engine))
    live = {t: _live_token(engine, t) for t in (revoked, expiring, kept)}
    run(sessions.end_session(revoked, engine=engine))

    second_look, ended = run(sessions.ended_since(first_look, engine=engine))
    assert ended == [live[revoked]]
    later = second_look + timedelta(seconds=5)
    third_look, ended = run(sessions.ended_since(second_look, now=later, engine=engine))
    assert (third_look, ended) == (later, [live[expiring]])
    assert run(sessions.ended_since(third_look, now=later, engine=engine))[1] == []
    still_live = run(sessions.live_sessions_of(user, engine=engine))
    assert live[kept] in still_live and live[revoked] not in still_live
