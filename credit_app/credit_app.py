"""The Reflex app: pages, their on_load guards, and the extra HTTP routes."""

import asyncio
import logging

import reflex as rx

from credit_app.api import build_api, live_updates
from credit_app.credits import history
from credit_app.db import session_scope
from credit_app.pages.billing_success import billing_success_page
from credit_app.pages.dashboard import dashboard_page
from credit_app.pages.index import index_page
from credit_app.pages.login import login_page
from credit_app.pages.pricing import pricing_page
from credit_app.pages.signup import signup_page
from credit_app.pages.tools import tools_page
from credit_app.pages.usage import usage_page
from credit_app.state.account import AccountState, push_snapshot
from credit_app.state.billing import BillingState, ConfirmState
from credit_app.state.session import SessionState
from credit_app.state.tools import ToolsState
from credit_app.state.usage import UsageState

logger = logging.getLogger(__name__)
LEDGER_FOLLOW_SECONDS = 0.5

app = rx.App(api_transformer=build_api())


async def _push_to_open_tabs(user_id: str) -> None:
    await push_snapshot(app, user_id)


# Webhooks commit outside any event handler; this lets them refresh the user's open tabs.
live_updates.register(_push_to_open_tabs)


def _ledger_changes(after_id: int) -> tuple[int, set]:
    with session_scope() as session:
        if after_id < 0:
            return history.newest_entry_id(session), set()
        return history.changed_since(session, after_id=after_id)


@app.register_lifespan_task
async def _follow_ledger() -> None:
    """Changes committed by other processes (an operator's `credit-app grant`, another
    worker) reach open tabs too: one indexed query per tick for all users, instead of
    every browser polling (half a second, so a change shows within a second)."""
    newest = -1
    while True:
        try:
            newest, users = await asyncio.to_thread(_ledger_changes, newest)
            for user_id in users:
                await push_snapshot(app, str(user_id))
        except Exception:
            logger.exception("following the ledger failed; retrying")
        await asyncio.sleep(LEDGER_FOLLOW_SECONDS)


app.add_page(index_page, route="/", title="Credit App")
app.add_page(
    signup_page,
    route="/signup",
    title="Sign up · Credit App",
    on_load=SessionState.redirect_if_signed_in,
)
app.add_page(
    login_page,
    route="/login",
    title="Log in · Credit App",
    on_load=SessionState.redirect_if_signed_in,
)
app.add_page(
    dashboard_page, route="/dashboard", title="Dashboard · Credit App", on_load=AccountState.load
)
app.add_page(
    pricing_page, route="/pricing", title="Pricing · Credit App", on_load=BillingState.load_pricing
)
app.add_page(
    billing_success_page,
    route="/billing/success",
    title="Confirming payment · Credit App",
    on_load=[AccountState.load, ConfirmState.start],
)
app.add_page(tools_page, route="/tools", title="Tools · Credit App", on_load=ToolsState.load)
app.add_page(usage_page, route="/usage", title="Usage · Credit App", on_load=UsageState.load)
