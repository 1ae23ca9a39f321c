"""The process's app-wide objects in one place: the checked payment settings, the Stripe
gateway, and how to refresh a user's open tabs.

`build_api()` builds them from the settings and hands them to the HTTP routes through
Starlette's `app.state.services`. The Reflex app (credit_app.py) builds its API through
`server()`, which also installs that one instance here for Reflex event handlers: state
classes cannot take constructor arguments, so they ask `current()`. Nothing is set by
importing a module; a process that never serves (the CLI, a test) installs nothing.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from credit_app.billing.payments import PaymentSettings
from credit_app.billing.stripe_gateway import StripeGateway

# Refreshes every open tab of one user (by user id) after a commit made outside an event
# handler, e.g. by a webhook. Built by the Reflex app, which owns the tabs.
AccountPusher = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class AppServices:
    payments: PaymentSettings
    gateway: StripeGateway
    push_account: AccountPusher | None = None

    async def account_changed(self, user_ids: Iterable[str]) -> None:
        """Tell the open tabs of these users to reload their numbers (no-op without a
        pusher: a bare API server has no tabs)."""
        if self.push_account is None:
            return
        for user_id in user_ids:
            await self.push_account(user_id)


_installed: AppServices | None = None


def install(services: AppServices) -> None:
    global _installed
    _installed = services


def current() -> AppServices:
    if _installed is None:
        raise RuntimeError("app services not installed (credit_app.api.server does it)")
    return _installed
