"""The Reflex app: pages, their on_load guards, and the extra HTTP routes."""

import reflex as rx
from reflex.utils.prerequisites import get_web_dir
from reflex_base import constants

from credit_app import background, routes
from credit_app.api import server
from credit_app.pages.billing_success import billing_success_page
from credit_app.pages.dashboard import dashboard_page
from credit_app.pages.index import index_page
from credit_app.pages.legal import privacy_page, refunds_page, terms_page
from credit_app.pages.login import login_page
from credit_app.pages.not_found import not_found_page
from credit_app.pages.pricing import pricing_page
from credit_app.pages.signup import signup_page
from credit_app.pages.tools import tools_page
from credit_app.pages.usage import usage_page
from credit_app.state.account import AccountState
from credit_app.state.billing import BillingState, ConfirmState
from credit_app.state.landing import LandingState
from credit_app.state.live import push_snapshot, sign_out_tabs
from credit_app.state.session import SessionState
from credit_app.state.tools import ToolsState
from credit_app.state.usage import UsageState
from credit_app.tools import pool

# The HTTP routes, the start-up checks and the guard around everything are put in place
# when the backend starts serving (credit_app.api.server), not when pages are compiled.


async def _push_to_open_tabs(user_id: str) -> None:
    """Refresh every open tab of one user (after a webhook or another process's write)."""
    await push_snapshot(app, user_id)


app = rx.App(
    api_transformer=server(get_web_dir() / constants.Dirs.STATIC, push_account=_push_to_open_tabs)
)


async def _sign_out_tabs(live_tokens: list[str]) -> None:
    await sign_out_tabs(app, live_tokens)


# Work that runs for the life of the process, with what it needs passed in.
app.register_lifespan_task(background.follow_ledger, push=_push_to_open_tabs)
app.register_lifespan_task(background.expire_stale_holds)
app.register_lifespan_task(background.sign_out_ended_sessions, sign_out=_sign_out_tabs)
app.register_lifespan_task(pool.serving)

app.add_page(index_page, route=routes.HOME, title="Credit App", on_load=LandingState.load_home)
app.add_page(
    signup_page,
    route=routes.SIGNUP,
    title="Sign up · Credit App",
    on_load=SessionState.redirect_if_signed_in,
)
app.add_page(
    login_page,
    route=routes.LOGIN,
    title="Log in · Credit App",
    on_load=SessionState.redirect_if_signed_in,
)
app.add_page(
    dashboard_page,
    route=routes.DASHBOARD,
    title="Dashboard · Credit App",
    on_load=AccountState.load,
)
app.add_page(
    pricing_page,
    route=routes.PRICING,
    title="Pricing · Credit App",
    on_load=BillingState.load_pricing,
)
app.add_page(
    billing_success_page,
    route=routes.CHECKOUT_RETURN,
    title="Confirming payment · Credit App",
    on_load=[AccountState.load, ConfirmState.start],
)
app.add_page(tools_page, route=routes.TOOLS, title="Tools · Credit App", on_load=ToolsState.load)
app.add_page(usage_page, route=routes.USAGE, title="Usage · Credit App", on_load=UsageState.load)
app.add_page(
    terms_page, route=routes.TERMS, title="Terms · Credit App", on_load=LandingState.load_public
)
app.add_page(
    privacy_page,
    route=routes.PRIVACY,
    title="Privacy · Credit App",
    on_load=LandingState.load_public,
)
app.add_page(
    refunds_page,
    route=routes.REFUNDS,
    title="Refund policy · Credit App",
    on_load=LandingState.load_public,
)
app.add_page(
    not_found_page,
    route=constants.Page404.SLUG,
    title="Page not found · Credit App",
    on_load=LandingState.load_public,
)
