"""A worker that spends 1 credit at a time until refused; run in threads and processes."""

import uuid

from credit_app import credits
from credit_app.db import make_engine, session_scope


def spend_until_refused(database_url: str, user_id: uuid.UUID, worker: str) -> int:
    """Returns how many spends succeeded. Each spend is its own transaction and key."""
    engine = make_engine(database_url)
    succeeded = 0
    try:
        while True:
            try:
                with session_scope(engine) as session:
                    credits.spend(
                        session,
                        user_id=user_id,
                        amount=1,
                        idempotency_key=f"{worker}-{succeeded}",
                        feature="load-test",
                    )
            except credits.InsufficientCredits:
                return succeeded
            succeeded += 1
    finally:
        engine.dispose()
