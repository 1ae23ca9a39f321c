"""The metrics' helpers: counting at commit, timing with late labels, bounded labels, and
who may read /metrics."""

import ipaddress

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from credit_app import metrics
from credit_app.api.metrics import direct_peer_in
from credit_app.api.stripe_webhook import event_type_label
from credit_app.settings import Settings
from credit_app.state.event_timing import handler_label
from credit_app.state.session import SessionState


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_counts_run_when_the_transaction_commits(session):
    counted: list[str] = []
    session.execute(text("SELECT 1"))
    metrics.at_commit(session, lambda: counted.append("spend"))
    assert counted == []
    session.commit()
    assert counted == ["spend"]
    session.execute(text("SELECT 1"))
    session.commit()  # a later transaction counts nothing again
    assert counted == ["spend"]


def test_counts_are_dropped_with_a_rollback_or_a_close(session):
    counted: list[str] = []
    session.execute(text("SELECT 1"))
    metrics.at_commit(session, lambda: counted.append("rolled back"))
    session.rollback()
    session.execute(text("SELECT 1"))
    metrics.at_commit(session, lambda: counted.append("closed"))
    session.close()
    session.execute(text("SELECT 1"))
    session.commit()
    assert counted == []


def _count(histogram: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"{histogram}_count", labels) or 0.0


def test_timed_reads_labels_set_inside_the_block_even_when_it_raises():
    name = "credit_app_stripe_webhook_seconds"
    before = _count(name, event_type="other", outcome="rejected")
    with (
        pytest.raises(RuntimeError),
        metrics.timed(metrics.STRIPE_WEBHOOKS, event_type="other", outcome="error") as labels,
    ):
        labels["outcome"] = "rejected"
        raise RuntimeError
    assert _count(name, event_type="other", outcome="rejected") == before + 1


def test_webhook_event_types_outside_the_handled_set_are_other():
    assert event_type_label("invoice.paid") == "invoice.paid"
    assert event_type_label("invoice.created") == "other"
    assert event_type_label("x" * 500) == "other"
    assert event_type_label(["invoice.paid"]) == "other"


def test_event_handlers_are_named_only_when_they_are_ours():
    assert handler_label(SessionState.redirect_if_signed_in.fn) == (
        "SessionState.redirect_if_signed_in"
    )
    assert handler_label(ipaddress.ip_address) == "other"


@pytest.mark.parametrize(
    ("client", "headers", "allowed"),
    [
        (("127.0.0.1", 1), [], True),
        (("127.9.9.9", 1), [], True),
        (("::1", 1), [], True),
        (("::ffff:127.0.0.1", 1), [], True),
        (("10.0.0.8", 1), [], False),
        (("127.0.0.1", 1), [(b"x-forwarded-for", b"10.0.0.8")], False),
        (("127.0.0.1", 1), [(b"X-Real-IP", b"127.0.0.1")], False),
        (("127.0.0.1", 1), [(b"forwarded", b"for=127.0.0.1")], False),
        (None, [], False),
        (("unix-socket", 0), [], False),
    ],
)
def test_only_direct_peers_in_metrics_allow_read_the_metrics(client, headers, allowed):
    scope = {"type": "http", "client": client, "headers": headers}
    assert direct_peer_in(scope, Settings().metrics_networks) is allowed


def test_metrics_allow_takes_cidrs_and_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("METRICS_ALLOW", "10.0.0.0/8, 192.168.1.7 ,fd00::/8")
    assert [str(n) for n in Settings().metrics_networks] == [
        "10.0.0.0/8",
        "192.168.1.7/32",
        "fd00::/8",
    ]
    for bad in ("10.0.0.0/33", "localhost", "10.0.0.1/8"):
        monkeypatch.setenv("METRICS_ALLOW", bad)
        with pytest.raises(ValidationError, match="METRICS_ALLOW"):
            Settings()


def test_a_count_that_fails_never_fails_the_commit(session, caplog):
    counted: list[str] = []

    def broken() -> None:
        raise OSError("PROMETHEUS_MULTIPROC_DIR is gone")

    session.execute(text("SELECT 1"))
    metrics.at_commit(session, broken)
    metrics.at_commit(session, lambda: counted.append("next"))
    session.commit()
    assert counted == ["next"]
    assert "counting a committed change in the metrics failed" in caplog.text
