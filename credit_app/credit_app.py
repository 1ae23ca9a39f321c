"""The Reflex app: pages, their on_load guards, and the extra HTTP routes."""

import reflex as rx
from reflex.utils.prerequisites import get_web_dir
from reflex_base import constants

from credit_app.api import live_updates, server
from credit_app.pages.billing_success import billing_success_page
from credit_app.pages.dashboard import dashboard_page
from credit_app.pages.index import index_page
from credit_app.pages.login import login_page
from credit_app.pages.pricing import pricing_page
from credit_app.pages.signup import signup_page
from credit_app.pages.tools import tools_page
from credit_app.pages.usage import usage_page
from credit_app.state import background
from credit_app.state.account import AccountState
from credit_app.state.billing import BillingState, ConfirmState
from credit_app.state.live import push_snapshot, sign_out_tabs
from credit_app.state.session import SessionState
from credit_app.state.tools import ToolsState
from credit_app.state.usage import UsageState
from credit_app.tools import pool

# The HTTP routes, the start-up checks and the guard around everything are put in place
# when the backend starts serving (credit_app.api.server), not when pages are compiled.
app = rx.App(api_transformer=server(get_web_dir() / constants.Dirs.STATIC))


async def _push_to_open_tabs(user_id: str) -> None:
    await push_snapshot(app, user_id)


async def _sign_out_tabs(live_tokens: list[str]) -> None:
    await sign_out_tabs(app, live_tokens)


# Webhooks commit outside any event handler; this lets them refresh the user's open tabs.
live_updates.register(_push_to_open_tabs)
app.register_lifespan_task(background.follow_ledger, push=_push_to_open_tabs)
app.register_lifespan_task(background.expire_stale_holds)
app.register_lifespan_task(background.sign_out_ended_sessions, sign_out=_sign_out_tabs)
app.register_lifespan_task(pool.serving)

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
