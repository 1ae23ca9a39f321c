"""HTTP routes mounted next to the Reflex app, and the checks that run when it starts
serving. No business logic here."""

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from credit_app import logs, mail, routes
from credit_app.api import app_services, csp
from credit_app.api.app_services import AccountPusher, AppServices
from credit_app.api.guard import AppGuard, LinkTokenFilter, security_headers
from credit_app.api.health import health, ready
from credit_app.api.metrics import ApiLatency, MetricsEndpoint
from credit_app.api.reference import reference_routes
from credit_app.api.stripe_webhook import stripe_webhook
from credit_app.api.v1 import create_v1
from credit_app.billing import runtime
from credit_app.billing.payments import PaymentSettings, UnsafeSettings, payment_settings
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def build_api(
    settings: Settings | None = None, *, push_account: AccountPusher | None = None
) -> Starlette:
    """Health, readiness, the Stripe webhook, the credits API (/api/v1; its FastAPI app in
    `app.state.api_v1`) and, in sandbox mode, the embedded Stripe sandbox, with the app's
    services (the gateway from the checked payment settings) in `app.state.services`.
    Unsafe payment or mail settings raise UnsafeSettings, which stops the start."""
    settings = settings or get_settings()
    payments = payment_settings(settings)
    try:
        mail.transport_for(settings)
    except mail.MailSettingsError as exc:
        raise UnsafeSettings(str(exc)) from None
    endpoints: list[BaseRoute] = [
        Route(routes.HEALTH, health, methods=["GET"]),
        Route(routes.READY, ready, methods=["GET"]),
        Route(routes.STRIPE_WEBHOOK, stripe_webhook, methods=["POST"]),
    ]
    if payments.sandbox:
        api_key, webhook_secret, sandbox = _embedded_sandbox(settings, payments)
        endpoints.append(Mount(runtime.SANDBOX_PATH, app=sandbox))
        config = runtime.stripe_config(
            payments, sandbox_api_key=api_key, sandbox_webhook_secret=webhook_secret
        )
        logger.warning(
            "TEST MODE: payments are simulated by the embedded Stripe sandbox at %s%s; "
            "nothing is charged.",
            settings.app_url.rstrip("/"),
            runtime.SANDBOX_PATH,
        )
    else:
        config = runtime.stripe_config(payments)
        if payments.test_mode:
            logger.warning("TEST MODE: Stripe test keys; payments are simulated by Stripe.")
    services = AppServices(payments, StripeGateway(config), push_account)
    api_v1 = create_v1(services, settings)
    # Before the API, whose mount catches everything under /api/v1, and before the Reflex
    # app, which server() mounts at "" (a catch-all) afterwards.
    endpoints.extend(reference_routes())
    endpoints.append(Mount(routes.API_V1, app=api_v1))
    api = Starlette(routes=endpoints)
    api.state.services = services
    api.state.api_v1 = api_v1
    return api


def _embedded_sandbox(settings: Settings, payments: PaymentSettings):
    """The sandbox with a key and signing secret made up for this process (never written
    in the source): the sandbox and the webhook route run in the same process, so nothing
    secret has to be shared. Its test controls are off unless SANDBOX_CONTROLS asks."""
    from stripe_sandbox import SandboxSettings, create_app

    api_key = "sk_test_" + secrets.token_hex(24)
    webhook_secret = "whsec_" + secrets.token_hex(24)
    base = settings.app_url.rstrip("/")
    sandbox = create_app(
        SandboxSettings(
            api_key=api_key,
            webhook_secret=webhook_secret,
            webhook_url=base + routes.STRIPE_WEBHOOK,
            public_url=base + runtime.SANDBOX_PATH,
            controls=settings.sandbox_controls,
            allowed_return_origins=(settings.app_origin,),
            loopback_only=not payments.allow_public_sandbox,
        )
    )
    if settings.sandbox_controls:
        _write_control_key(settings.sandbox_control_key_file, api_key)
        logger.warning(
            "Stripe sandbox test controls are on; their key is in %s",
            settings.sandbox_control_key_file,
        )
    return api_key, webhook_secret, sandbox


def _write_control_key(path: Path, key: str) -> None:
    """Readable by this OS user only, for `credit-app sandbox ...` and tests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(key)


def server(static_dir: Path, *, push_account: AccountPusher) -> Callable[[ASGIApp], ASGIApp]:
    """Reflex's api_transformer. It runs once, when the backend starts serving (not at
    build or export time), so only serving needs the payment settings; `static_dir` holds
    the compiled pages, whose inline scripts the Content-Security-Policy allows. The app's
    services are built here and installed for the Reflex event handlers."""

    def serve(reflex_app: ASGIApp) -> ASGIApp:
        settings = get_settings()
        # First, so that the start-up checks' own lines are in the chosen format.
        logs.configure(settings.log_format)
        api = build_api(settings, push_account=push_account)
        services: AppServices = api.state.services
        app_services.install(services)
        api.mount("", reflex_app)
        # Filters apply to the logger a record is made on: name Reflex's app logger.
        logging.getLogger("reflex.app").addFilter(LinkTokenFilter())
        hashes = csp.inline_script_hashes(static_dir)
        payments = services.payments
        # /metrics in front of everything but the guard, which gives each request its id.
        served = MetricsEndpoint(ApiLatency(api), allow=settings.metrics_networks)
        return AppGuard(
            served,
            headers=security_headers(https=settings.https, script_hashes=hashes),
            loopback_only=payments.sandbox and not payments.allow_public_sandbox,
        )

    return serve
