"""The Reflex app: pages, their on_load guards, and the extra HTTP routes."""

import logging

import reflex as rx
from reflex.app import default_backend_exception_handler
from reflex.event import EventSpec
from reflex.utils.prerequisites import get_web_dir
from reflex_base import constants
from starlette.applications import Starlette

from credit_app import background, db, routes
from credit_app.api import server
from credit_app.api.cors import CorsOutsideTheApi
from credit_app.pages.account import account_deleted_page, account_page, confirm_email_page
from credit_app.pages.admin.audit import audit_page
from credit_app.pages.admin.customer import customer_page
from credit_app.pages.admin.customers import customers_page
from credit_app.pages.admin.events import events_page
from credit_app.pages.admin.overview import overview_page
from credit_app.pages.admin.shortfalls import shortfalls_page
from credit_app.pages.billing_success import billing_success_page
from credit_app.pages.dashboard import dashboard_page
from credit_app.pages.forgot_password import forgot_password_page
from credit_app.pages.index import index_page
from credit_app.pages.legal import privacy_page, refunds_page, terms_page
from credit_app.pages.login import login_page
from credit_app.pages.not_found import not_found_page
from credit_app.pages.pricing import pricing_page
from credit_app.pages.reset_password import reset_password_page
from credit_app.pages.signup import signup_page
from credit_app.pages.tools import tools_page
from credit_app.pages.usage import usage_page
from credit_app.pages.verify_email import verify_email_page
from credit_app.state import event_timing
from credit_app.state.account import AccountState
from credit_app.state.account_settings import AccountSettingsState, ConfirmEmailState
from credit_app.state.admin_audit import AdminAuditState
from credit_app.state.admin_customer import AdminCustomerState
from credit_app.state.admin_customers import AdminCustomersState
from credit_app.state.admin_events import AdminEventsState
from credit_app.state.admin_integrations import AdminIntegrationsState
from credit_app.state.admin_overview import AdminOverviewState
from credit_app.state.admin_shortfalls import AdminShortfallsState
from credit_app.state.billing import BillingState, ConfirmState
from credit_app.state.integrations import IntegrationsState
from credit_app.state.landing import LandingState
from credit_app.state.live import push_snapshot, sign_out_tabs
from credit_app.state.password_reset import ForgotPasswordState, ResetPasswordState
from credit_app.state.session import SessionState
from credit_app.state.tools import ToolsState
from credit_app.state.usage import UsageState
from credit_app.state.verification import VerifyEmailState
from credit_app.tools import pool

logger = logging.getLogger(__name__)

# What a person sees when an action fails because the database cannot be reached (a
# restart, a network cut): something they can act on, instead of "contact the website
# administrator". The transaction did not commit; trying again is safe.
DATABASE_UNAVAILABLE = "We can't reach our database right now, so that did not go through."
TRY_AGAIN = "Try again in a moment."

# The HTTP routes, the start-up checks and the guard around everything are put in place
# when the backend starts serving (credit_app.api.server), not when pages are compiled.


async def _push_to_open_tabs(user_id: str) -> None:
    """Refresh every open tab of one user (after a webhook or another process's write)."""
    await push_snapshot(app, user_id)


def _cors_outside_the_api(api: Starlette) -> None:
    """Reflex's CORS (the app's own origins, with credentials) for everything but the
    credits API, which answers CORS with its own explicit origins (API_CORS_ORIGINS, no
    credentials): Reflex wraps the whole backend in its CORS middleware, so without this
    its policy would answer the API's preflights first (credit_app.api.cors)."""
    api.add_middleware(
        CorsOutsideTheApi,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_origins=rx.config.get_config().cors_allowed_origins,
    )


# Reflex calls App._add_cors on its own app and on the outermost one (reflex 0.10).
rx.App._add_cors = staticmethod(_cors_outside_the_api)  # type: ignore[method-assign]

# Reflex 0.10 never calls Middleware.postprocess: each event is timed (and given an id
# for the log) in Reflex's event processor instead (credit_app/state/event_timing.py).
event_timing.install()


def _when_a_handler_fails(exception: Exception) -> EventSpec:
    """Reflex's error toast for an event handler that raised, in our words when the
    database could not be reached."""
    if db.is_unavailable(exception):
        logger.warning("an event failed: the database is unavailable (%s)", exception)
        return rx.toast.error(
            DATABASE_UNAVAILABLE, description=TRY_AGAIN, id="backend_error", position="top-center"
        )
    return default_backend_exception_handler(exception)


app = rx.App(
    backend_exception_handler=_when_a_handler_fails,
    api_transformer=server(get_web_dir() / constants.Dirs.STATIC, push_account=_push_to_open_tabs),
    # The browser's time zone, into the `tz` cookie that sign-up and log-in read: a static
    # file (the CSP allows scripts from our origin only, never inline or eval'd ones), as a
    # plain <script> in the prerendered <head>, so it has run before the app reads its
    # cookies (rx.script would add it later, after the first state sync).
    head_components=[rx.el.script(src="/tz.js")],
)


async def _sign_out_tabs(live_tokens: list[str]) -> None:
    await sign_out_tabs(app, live_tokens)


# Work that runs for the life of the process, with what it needs passed in: every process
# its own tool pool; the background jobs once per cluster (the process leading it).
app.register_lifespan_task(
    background.cluster_jobs, push=_push_to_open_tabs, sign_out=_sign_out_tabs
)
app.register_lifespan_task(pool.serving)

# The page table: component, path, title, what runs on load (the session check first).
PAGES = [
    (index_page, routes.HOME, "Credit App", LandingState.load_home),
    (signup_page, routes.SIGNUP, "Sign up", SessionState.redirect_if_signed_in),
    (login_page, routes.LOGIN, "Log in", SessionState.redirect_if_signed_in),
    (forgot_password_page, routes.FORGOT_PASSWORD, "Forgot password", ForgotPasswordState.load),
    (reset_password_page, routes.RESET_PASSWORD, "Reset password", ResetPasswordState.load),
    (verify_email_page, routes.VERIFY_EMAIL, "Confirm your email", VerifyEmailState.load),
    (dashboard_page, routes.DASHBOARD, "Dashboard", AccountState.load),
    (pricing_page, routes.PRICING, "Pricing", BillingState.load_pricing),
    (
        billing_success_page,
        routes.CHECKOUT_RETURN,
        "Confirming payment",
        [AccountState.load, ConfirmState.start],
    ),
    (tools_page, routes.TOOLS, "Tools", ToolsState.load),
    (usage_page, routes.USAGE, "Usage", UsageState.load),
    (
        account_page,
        routes.ACCOUNT,
        "Account",
        [AccountSettingsState.load_settings, IntegrationsState.load],
    ),
    (
        confirm_email_page,
        routes.ACCOUNT_CONFIRM_EMAIL,
        "Confirm your new email",
        ConfirmEmailState.confirm,
    ),
    (account_deleted_page, routes.ACCOUNT_DELETED, "Account deleted", LandingState.load_public),
    # The admin console: every on_load (and every handler) re-checks session and role.
    (overview_page, routes.ADMIN, "Admin", AdminOverviewState.load),
    (customers_page, routes.ADMIN_CUSTOMERS, "Customers · Admin", AdminCustomersState.load),
    (
        customer_page,
        routes.ADMIN_CUSTOMER,
        "Customer · Admin",
        [AdminCustomerState.load, AdminIntegrationsState.load],
    ),
    (events_page, routes.ADMIN_EVENTS, "Stripe events · Admin", AdminEventsState.load),
    (shortfalls_page, routes.ADMIN_SHORTFALLS, "Shortfalls · Admin", AdminShortfallsState.load),
    (audit_page, routes.ADMIN_AUDIT, "Audit log · Admin", AdminAuditState.load),
    (terms_page, routes.TERMS, "Terms", LandingState.load_public),
    (privacy_page, routes.PRIVACY, "Privacy", LandingState.load_public),
    (refunds_page, routes.REFUNDS, "Refund policy", LandingState.load_public),
    (not_found_page, constants.Page404.SLUG, "Page not found", LandingState.load_public),
]
for component, route, title, on_load in PAGES:
    full_title = title if route == routes.HOME else f"{title} · Credit App"
    app.add_page(component, route=route, title=full_title, on_load=on_load)
