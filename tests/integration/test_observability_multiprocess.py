"""Several processes (granian workers) sharing one PROMETHEUS_MULTIPROC_DIR: each counts
its own spends through the real ledger, and one scrape sums them."""

import os
import subprocess
import sys
import uuid

from prometheus_client.parser import text_string_to_metric_families

from credit_app import credits, metrics
from credit_app.db import session_scope
from tests.factories import make_user

SPENDS_PER_PROCESS = 4

# What each worker process runs: spends of 2 credits by the QR tool, each committed.
_WORKER = """
import sys
import uuid
from credit_app import credits
from credit_app.db import make_engine, session_scope

url, user_id, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
engine = make_engine(url)
for n in range(count):
    with session_scope(engine) as session:
        credits.spend(
            session, user_id=uuid.UUID(user_id), amount=2,
            idempotency_key=f"{name}:{n}", feature="qr",
        )
"""


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_one_scrape_sums_the_spends_of_every_process(engine, database_url, tmp_path, monkeypatch):
    user_id = make_user(engine)
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {**os.environ, metrics.MULTIPROC_DIR_VARIABLE: str(shared)}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                database_url,
                str(user_id),
                name,
                str(SPENDS_PER_PROCESS),
            ],
            env=env,
        )
        for name in (f"worker-a-{uuid.uuid4()}", f"worker-b-{uuid.uuid4()}")
    ]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    # One file per process and kind of metric: both processes wrote.
    assert len(list(shared.glob("counter_*.db"))) == 2

    monkeypatch.setenv(metrics.MULTIPROC_DIR_VARIABLE, str(shared))
    text, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    scraped = text.decode()
    assert _samples(scraped, "credit_app_spends_total") == {
        (("feature", "qr"),): 2 * SPENDS_PER_PROCESS
    }
    assert _samples(scraped, "credit_app_spent_credits_total") == {
        (("feature", "qr"),): 2 * 2 * SPENDS_PER_PROCESS
    }
    with session_scope(engine) as session:
        assert credits.balance(session, user_id=user_id) == 100 - 2 * 2 * SPENDS_PER_PROCESS
