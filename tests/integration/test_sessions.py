"""Sessions carry a second secret, the live token, that the server pushes changes under;
ended sessions are found wherever they ended."""

from datetime import timedelta

from credit_app.auth.sessions import (
    check_session,
    create_session,
    ended_between,
    live_tokens,
    revoke_session,
)
from credit_app.db import session_scope
from credit_app.models import utcnow
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
