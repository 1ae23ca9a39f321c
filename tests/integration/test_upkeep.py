"""What the app's periodic jobs ask of the ledger (credits.upkeep), with no browser and no
running app: entries committed since the last look, and holds left behind."""

import uuid
from datetime import timedelta

from credit_app import credits
from credit_app.credits import upkeep
from credit_app.db import read_scope, session_scope
from credit_app.models import GrantSource, Hold, HoldStatus, utcnow
from tests.async_run import run
from tests.factories import make_user


def test_the_ledger_follower_sees_every_new_entry_with_its_user(engine):
    first, second = make_user(engine), make_user(engine)
    newest, entries = run(upkeep.ledger_since(-1, engine=engine))
    assert [user for _, user in entries] == [first, second]
    assert newest == entries[-1][0]

    with session_scope(engine) as session:
        credits.grant(
            session,
            user_id=second,
            amount=5,
            idempotency_key=f"test:{uuid.uuid4()}",
            source=GrantSource.ADMIN,
        )
    latest, fresh = run(upkeep.ledger_since(newest, engine=engine))
    assert len(fresh) == 1 and fresh[0][1] == second and latest == fresh[0][0] > newest
    assert run(upkeep.ledger_since(latest, engine=engine)) == (latest, [])


def test_holds_past_their_expiry_are_released(engine):
    user_id = make_user(engine, initial_credits=50)
    with session_scope(engine) as session:
        stale = credits.reserve(
            session,
            user_id=user_id,
            amount=20,
            idempotency_key="test:stale",
            feature="report",
            now=utcnow() - timedelta(hours=2),
            ttl=timedelta(minutes=10),
        )
        live = credits.reserve(
            session, user_id=user_id, amount=10, idempotency_key="test:live", feature="report"
        )
    assert run(upkeep.expire_stale_holds(engine=engine)) == 1
    assert run(upkeep.expire_stale_holds(engine=engine)) == 0
    with read_scope(engine) as session:
        assert session.get(Hold, stale.hold_id).status == HoldStatus.EXPIRED
        assert session.get(Hold, live.hold_id).status == HoldStatus.ACTIVE
        assert credits.available(session, user_id=user_id) == 40
