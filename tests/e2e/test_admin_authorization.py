"""Every admin event handler, called directly over Reflex's event protocol (as a hostile
script would, skipping the pages) by a normal signed-in user, a signed-out socket and an
admin whose role was revoked mid-session: each is refused, nothing is written, and no
customer data reaches the caller.

The table below names every handler of every admin state with a payload aimed at a real
customer (their id in the URL, a real shortfall, a failed Stripe event, correct
passwords). A handler added without an entry here fails the test, so the table stays
complete."""

import json
import queue
import uuid
from datetime import timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import func, select
from sqlmodel import col

from credit_app import credits, routes
from credit_app.admin import accounts, audit
from credit_app.auth import sessions
from credit_app.auth.accounts import user_id_by_email
from credit_app.billing.webhooks import process_event
from credit_app.db import session_scope
from credit_app.models import (
    AuditEntry,
    AuthSession,
    AutoTopUp,
    LedgerEntry,
    Shortfall,
    User,
    utcnow,
)
from credit_app.state.admin import AdminState
from credit_app.state.admin_audit import AdminAuditState
from credit_app.state.admin_customer import AdminCustomerState
from credit_app.state.admin_customers import AdminCustomersState
from credit_app.state.admin_events import AdminEventsState
from credit_app.state.admin_integrations import AdminIntegrationsState
from credit_app.state.admin_overview import AdminOverviewState
from credit_app.state.admin_shortfalls import AdminShortfallsState
from credit_app.state.login import LoginState
from tests import async_run
from tests import stripe_payloads as sp
from tests.e2e.conftest import RunningApp
from tests.e2e.helpers import PASSWORD
from tests.e2e.reflex_client import ReflexClient
from tests.factories import make_user
from tests.integration.test_webhook_outcomes import StubStripe

pytestmark = pytest.mark.e2e

LOGIN = LoginState.get_full_name() + ".submit"
CLI = audit.Actor.cli()


class Target:
    """The customer every hostile call aims at, and what they have."""

    def __init__(self, app: RunningApp) -> None:
        self.email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
        self.user_id = make_user(app.engine, email=self.email, password=PASSWORD)
        customer = sp.new_id("cus")
        with session_scope(app.engine) as session:
            user = session.get(User, self.user_id)
            assert user is not None
            user.stripe_customer_id = customer
            # A signed-in browser of theirs, which "sign out everywhere" would revoke.
            sessions.create_session(session, user_id=self.user_id, ttl=timedelta(hours=1))
            credits.clawback(
                session,
                user_id=self.user_id,
                amount=150,
                idempotency_key=f"victim-cb-{uuid.uuid4()}",
                description="refund",
            )
            self.shortfall_id = session.scalars(
                select(col(Shortfall.id)).where(col(Shortfall.user_id) == self.user_id)
            ).one()
            credits.grant(
                session,
                user_id=self.user_id,
                amount=500,
                idempotency_key=f"victim-grant-{uuid.uuid4()}",
                source="admin",
            )
            session.add(
                AutoTopUp(
                    user_id=self.user_id,
                    enabled=True,
                    threshold=50,
                    plan_id="pack_500",
                    monthly_cap=2400,
                )
            )
        sub = sp.subscription(str(self.user_id), customer, "pro_monthly")
        paid = sp.event("invoice.paid", sp.invoice(sub, amount=1200))
        down = StubStripe(fail=stripe.APIConnectionError("down"))
        failed = async_run.run(process_event(down, paid, livemode=False, engine=app.engine))
        assert failed.outcome == "failed"
        self.event_id = paid["id"]


def _handlers(target: Target) -> dict[tuple[type[AdminState], str], tuple[str, dict]]:
    """(state, handler) -> (the page it is sent from, its payload)."""
    customer_page = routes.admin_customer(str(target.user_id))
    reason = {"reason": "hostile"}
    admin_form = {"password": PASSWORD, **reason}
    return {
        (AdminOverviewState, "load"): (routes.ADMIN, {}),
        (AdminOverviewState, "set_days"): (routes.ADMIN, {"value": "90"}),
        (AdminOverviewState, "run_reconcile"): (routes.ADMIN, {}),
        (AdminCustomersState, "load"): (f"{routes.ADMIN_CUSTOMERS}?q=victim", {}),
        (AdminCustomersState, "search"): (routes.ADMIN_CUSTOMERS, {"form_data": {"q": "vic"}}),
        (AdminCustomersState, "set_sort"): (routes.ADMIN_CUSTOMERS, {"value": "plan"}),
        (AdminCustomersState, "previous_page"): (routes.ADMIN_CUSTOMERS, {}),
        (AdminCustomersState, "next_page"): (routes.ADMIN_CUSTOMERS, {}),
        (AdminCustomerState, "load"): (customer_page, {}),
        (AdminCustomerState, "set_kind"): (customer_page, {"value": "grant"}),
        (AdminCustomerState, "set_feature"): (customer_page, {"value": "qr"}),
        (AdminCustomerState, "previous_page"): (customer_page, {}),
        (AdminCustomerState, "next_page"): (customer_page, {}),
        (AdminCustomerState, "set_mode"): (customer_page, {"value": "deduct"}),
        (AdminCustomerState, "review"): (
            customer_page,
            {"form_data": {"amount": "400", **reason}},
        ),
        (AdminCustomerState, "choose_take_available"): (customer_page, {"take": True}),
        (AdminCustomerState, "set_adjust_open"): (customer_page, {"open_": True}),
        (AdminCustomerState, "confirm_adjust"): (customer_page, {"form_data": admin_form}),
        (AdminCustomerState, "open_dialog"): (customer_page, {"name": "role"}),
        (AdminCustomerState, "set_dialog_open"): (customer_page, {"open_": True}),
        (AdminCustomerState, "switch_off_topup"): (customer_page, {"form_data": admin_form}),
        (AdminCustomerState, "save_limit"): (
            customer_page,
            {"form_data": {"limit": "1", **admin_form}},
        ),
        (AdminCustomerState, "revoke_sessions"): (customer_page, {"form_data": admin_form}),
        (AdminCustomerState, "set_role"): (customer_page, {"form_data": admin_form}),
        (AdminCustomerState, "stripe_check"): (customer_page, {}),
        (AdminIntegrationsState, "load"): (customer_page, {}),
        (AdminIntegrationsState, "create_key"): (
            customer_page,
            {"form_data": {"name": "hostile", "scope": "spend", **admin_form}},
        ),
        (AdminIntegrationsState, "copied_key"): (customer_page, {}),
        (AdminIntegrationsState, "close_new_key"): (customer_page, {"open_": False}),
        (AdminIntegrationsState, "ask_revoke_key"): (customer_page, {"key_id": "1"}),
        (AdminIntegrationsState, "set_revoke_open"): (customer_page, {"open_": False}),
        (AdminIntegrationsState, "revoke_key"): (customer_page, {}),
        (AdminIntegrationsState, "pick_low_balance"): (customer_page, {"picked": True}),
        (AdminIntegrationsState, "add_endpoint"): (
            customer_page,
            {
                "form_data": {
                    "url": "https://127.0.0.1/hostile",
                    "event:credits.spent": "on",
                    **admin_form,
                }
            },
        ),
        (AdminIntegrationsState, "copied_secret"): (customer_page, {}),
        (AdminIntegrationsState, "close_new_secret"): (customer_page, {"open_": False}),
        (AdminIntegrationsState, "ask_remove_endpoint"): (customer_page, {"endpoint_id": "1"}),
        (AdminIntegrationsState, "set_remove_open"): (customer_page, {"open_": False}),
        (AdminIntegrationsState, "remove_endpoint"): (customer_page, {}),
        (AdminIntegrationsState, "load_more_deliveries"): (customer_page, {}),
        (AdminIntegrationsState, "resend_delivery"): (customer_page, {"delivery_id": "1"}),
        (AdminIntegrationsState, "refresh_deliveries"): (customer_page, {}),
        (AdminEventsState, "load"): (f"{routes.ADMIN_EVENTS}?id={target.event_id}", {}),
        (AdminEventsState, "set_type"): (routes.ADMIN_EVENTS, {"value": "invoice.paid"}),
        (AdminEventsState, "set_outcome"): (routes.ADMIN_EVENTS, {"value": "failed"}),
        (AdminEventsState, "filter_customer"): (
            routes.ADMIN_EVENTS,
            {"form_data": {"customer": target.email}},
        ),
        (AdminEventsState, "clear_filters"): (routes.ADMIN_EVENTS, {}),
        (AdminEventsState, "previous_page"): (routes.ADMIN_EVENTS, {}),
        (AdminEventsState, "next_page"): (routes.ADMIN_EVENTS, {}),
        (AdminEventsState, "set_detail_open"): (routes.ADMIN_EVENTS, {"is_open": True}),
        (AdminEventsState, "replay"): (routes.ADMIN_EVENTS, {"event_id": target.event_id}),
        (AdminShortfallsState, "load"): (routes.ADMIN_SHORTFALLS, {}),
        (AdminShortfallsState, "set_status"): (routes.ADMIN_SHORTFALLS, {"value": "open"}),
        (AdminShortfallsState, "previous_page"): (routes.ADMIN_SHORTFALLS, {}),
        (AdminShortfallsState, "next_page"): (routes.ADMIN_SHORTFALLS, {}),
        (AdminShortfallsState, "ask"): (
            routes.ADMIN_SHORTFALLS,
            {"shortfall_id": str(target.shortfall_id), "action": "write_off"},
        ),
        (AdminShortfallsState, "set_confirming"): (routes.ADMIN_SHORTFALLS, {"is_open": True}),
        (AdminShortfallsState, "check_reason"): (routes.ADMIN_SHORTFALLS, {"value": "x"}),
        (AdminShortfallsState, "confirm"): (routes.ADMIN_SHORTFALLS, {"form_data": admin_form}),
        (AdminAuditState, "load"): (routes.ADMIN_AUDIT, {}),
        (AdminAuditState, "set_action"): (routes.ADMIN_AUDIT, {"value": "grant"}),
        (AdminAuditState, "filter_customer"): (
            routes.ADMIN_AUDIT,
            {"form_data": {"customer": target.email}},
        ),
        (AdminAuditState, "clear_filters"): (routes.ADMIN_AUDIT, {}),
        (AdminAuditState, "load_more"): (routes.ADMIN_AUDIT, {}),
    }


def _every_admin_handler() -> set[tuple[type[AdminState], str]]:
    found = set()
    for state in AdminState.get_substates():
        for name in state.event_handlers:
            # setvar only calls the state's own set_* handlers, each in the table.
            if name != "setvar":
                found.add((state, name))
    return found


def _snapshot(app: RunningApp, target: Target) -> dict[str, Any]:
    """Everything an admin action could change. The customer's own rows only where the
    app's background work (lot expiry, the Stripe sync retrying the failed event) may
    change other rows meanwhile; a replay of the event is seen by its audit row, which
    every replay writes."""
    victim = target.user_id
    with session_scope(app.engine) as session:
        return {
            "audit": session.scalar(select(func.count()).select_from(AuditEntry)),
            "entries": session.scalar(
                select(func.count()).where(col(LedgerEntry.user_id) == victim)
            ),
            "credits": session.scalar(select(col(User.credits)).where(col(User.id) == victim)),
            "roles": sorted(map(tuple, session.execute(select(col(User.id), col(User.role))))),
            "limits": session.scalar(select(col(User.spend_limit)).where(col(User.id) == victim)),
            "shortfall": session.get(Shortfall, target.shortfall_id).status,  # type: ignore[union-attr]
            "revoked": session.scalar(
                select(func.count()).where(
                    col(AuthSession.user_id) == victim, col(AuthSession.revoked_at).is_not(None)
                )
            ),
            "topup": session.get(AutoTopUp, victim).enabled,  # type: ignore[union-attr]
        }


def _drain(client: ReflexClient, first: float = 30, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Every update the server sends for one event: Reflex answers each event with at
    least one update, and a refused one with nothing after it (no work runs on), so the
    answer is complete once the socket has been quiet for `quiet` seconds."""
    try:
        updates = [client.updates.get(timeout=first)]
    except queue.Empty:
        raise AssertionError("the server did not answer the event") from None
    while True:
        try:
            updates.append(client.updates.get(timeout=quiet))
        except queue.Empty:
            return updates


def _log_in(client: ReflexClient, email: str) -> None:
    client.send(LOGIN, {"form_data": {"email": email, "password": PASSWORD}}, path="/login")
    changes = client.until("submitting_rx_state_", False, timeout=60)
    errors = [c["error_rx_state_"] for c in changes if "error_rx_state_" in c]
    assert errors[-1] == "", errors


def _answer(updates: list[dict[str, Any]]) -> str:
    """What the server sent, as text, without the router data it echoes back (the page's
    own URL, which the caller wrote: the customer id in `?id=` is theirs to begin with)."""
    kept = []
    for update in updates:
        delta = {
            state: {k: v for k, v in fields.items() if "router" not in k}
            for state, fields in (update.get("delta") or {}).items()
        }
        kept.append({**update, "delta": delta})
    return json.dumps(kept)


def _call_every_handler(client: ReflexClient, target: Target) -> str:
    """Send every admin handler; all the server sent back, as text."""
    sent: list[dict[str, Any]] = []
    for (state, name), (path, payload) in _handlers(target).items():
        client.send(f"{state.get_full_name()}.{name}", payload, path=path)
        sent.extend(_drain(client))
    return _answer(sent)


def _leaks(text: str, target: Target) -> list[str]:
    """Where the customer's address, id or event id shows in `text` (with some context)."""
    secrets = [target.email, str(target.user_id), target.event_id]
    return [text[max(0, i - 150) : i + 60] for s in secrets if (i := text.find(s)) >= 0]


@pytest.fixture
def target(app: RunningApp) -> Target:
    return Target(app)


def _user(app: RunningApp, email: str) -> uuid.UUID:
    with session_scope(app.engine) as session:
        found = user_id_by_email(session, email)
    assert found is not None
    return found


def test_the_table_names_every_admin_handler(target):
    assert set(_handlers(target)) == _every_admin_handler()


@pytest.mark.parametrize("caller", ["normal user", "signed-out socket", "revoked admin"])
def test_every_admin_handler_refuses_and_writes_nothing(app: RunningApp, target, caller):
    client = ReflexClient(app.url).connect()
    try:
        if caller != "signed-out socket":
            email = f"{caller.split()[0]}-{uuid.uuid4().hex[:8]}@example.com"
            make_user(app.engine, email=email, password=PASSWORD)
            _log_in(client, email)
        if caller == "revoked admin":
            with session_scope(app.engine) as session:
                accounts.set_admin(
                    session,
                    actor=CLI,
                    user_id=_user(app, email),
                    admin=True,
                    reason=None,
                    now=utcnow(),
                )
            # While an admin, this very client sees the customer: the check below would
            # notice a leak.
            client.send(
                AdminCustomerState.get_full_name() + ".load",
                {},
                path=routes.admin_customer(str(target.user_id)),
            )
            assert _leaks(_answer(_drain(client)), target)
            with session_scope(app.engine) as session:
                accounts.set_admin(
                    session,
                    actor=CLI,
                    user_id=_user(app, email),
                    admin=False,
                    reason=None,
                    now=utcnow(),
                )
        before = _snapshot(app, target)
        answered = _call_every_handler(client, target)
        assert _snapshot(app, target) == before
        assert _leaks(answered, target) == []
    finally:
        client.close()
