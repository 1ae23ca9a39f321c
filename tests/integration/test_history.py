"""Reading the ledger back: filters, pages, CSV, spending per day and period totals."""

import csv
import io
from datetime import timedelta

from credit_app import credits
from credit_app.credits import history
from credit_app.db import session_scope
from credit_app.models import utcnow
from tests.factories import make_user


def _spend(engine, user, amount, key, feature):
    with session_scope(engine) as session:
        credits.spend(session, user_id=user, amount=amount, idempotency_key=key, feature=feature)


def test_filters_pages_and_csv(engine):
    user = make_user(engine)
    for i in range(25):
        _spend(engine, user, 1, f"q{i}", "qr")
    _spend(engine, user, 3, "k", "keywords")
    with session_scope(engine) as session:
        qr = history.LedgerFilter(feature="qr")
        rows = history.ledger_page(session, user_id=user, where=qr, page=2, per_page=20)
        assert (len(rows), history.count_entries(session, user_id=user, where=qr)) == (5, 25)
        assert [r.idempotency_key for r in rows][-1] == "q0"  # newest first: last page is oldest
        grants = history.LedgerFilter(kind="grant")
        rows = history.ledger_page(session, user_id=user, where=grants, page=1)
        assert history.count_entries(session, user_id=user, where=grants) == 1
        assert len(rows) == 1 and rows[0].delta == 100
        text = history.ledger_csv(session, user_id=user, where=history.LedgerFilter())
        assert history.features_used(session, user_id=user) == ["keywords", "qr"]
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 27
    assert sum(int(r["delta"]) for r in table) == 100 - 25 - 3
    assert table[-1]["feature"] == "keywords" and table[-1]["balance_after"] == "72"


def test_spending_per_day_has_every_day_and_nets_refunds(engine):
    user = make_user(engine)
    _spend(engine, user, 3, "k1", "keywords")
    _spend(engine, user, 1, "q1", "qr")
    with session_scope(engine) as session:
        days = history.spending_by_day(session, user_id=user, days=30)
        totals = history.usage_totals(session, user_id=user, since=utcnow() - timedelta(days=1))
    assert len(days) == 30
    assert days[-1]["keywords"] == 3 and days[-1]["qr"] == 1
    assert all(set(d) == {"day"} for d in days[:-1])
    assert (totals.granted, totals.spent, totals.taken_back) == (100, 4, 0)
    assert totals.spent_per_tool == {"keywords": 3, "qr": 1}


def test_totals_count_entries_inside_their_window_only(engine):
    user = make_user(engine)
    _spend(engine, user, 1, "q1", "qr")
    middle = utcnow()
    _spend(engine, user, 3, "k1", "keywords")
    with session_scope(engine) as session:
        before = history.usage_totals(session, user_id=user, until=middle)
        after = history.usage_totals(session, user_id=user, since=middle)
        everything = history.usage_totals(session, user_id=user)
    assert (before.granted, before.spent_per_tool) == (100, {"qr": 1})
    assert (after.granted, after.spent_per_tool) == (0, {"keywords": 3})
    assert everything.spent == before.spent + after.spent == 4


def test_entries_since_lists_new_entries_with_their_users(engine):
    alice, bob = make_user(engine), make_user(engine)
    with session_scope(engine) as session:
        mark = history.newest_entry_id(session)
    _spend(engine, bob, 1, "b1", "qr")
    with session_scope(engine) as session:
        (entry,) = history.entries_since(session, after_id=mark)
        assert entry[1] == bob and entry[0] > mark
        assert history.entries_since(session, after_id=entry[0]) == []
    assert alice != bob
