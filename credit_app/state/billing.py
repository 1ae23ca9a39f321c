"""Pricing, checkout, the customer portal and the payment confirmation page."""

import asyncio
import logging
from urllib.parse import quote

import reflex as rx

from credit_app.billing import catalog, checkout, runtime
from credit_app.settings import get_settings
from credit_app.state.account import AccountState

logger = logging.getLogger(__name__)

PAYMENTS_UNAVAILABLE = "The payment service did not answer. Nothing was charged; try again."
CONFIRM_POLL_SECONDS = 1.0
CONFIRM_GIVE_UP_SECONDS = 30
NOTHING_TO_CONFIRM = "There is no payment of yours to confirm here."
STILL_CONFIRMING = (
    "Your payment is still being confirmed. Your credits will appear on the dashboard as "
    "soon as it is; you can leave this page."
)


class BillingState(AccountState):
    interval: str = "month"
    signed_in: bool = False
    selected_plan: str = ""
    busy_plan: str = ""
    error: str = ""
    notice: str = ""

    @rx.event
    async def load_pricing(self):
        """on_load of /pricing: open to everyone; signed-in people see their plan marked."""
        params = self.router.url.query_parameters
        self.selected_plan = params.get("plan", "")
        chosen = catalog.plan_by_id(self.selected_plan)
        if chosen and chosen.interval:
            self.interval = chosen.interval
        self.notice = "Checkout canceled. Nothing was charged." if params.get("canceled") else ""
        self.error = self.leave_to = ""
        user_id = await self._authenticated_user_id()
        self.signed_in = user_id is not None
        if user_id is not None:
            await self._refresh(user_id)

    @rx.event
    def set_interval(self, value: str | list[str]):
        value = value if isinstance(value, str) else (value[0] if value else "")
        if value in ("month", "year"):
            self.interval = value

    @rx.event
    async def choose(self, plan_id: str):
        """Subscribe or buy: signed-out people sign up first and come back to this plan."""
        user_id = await self._authenticated_user_id()
        if user_id is None:
            yield rx.redirect(f"/signup?next={quote(f'/pricing?plan={plan_id}', safe='')}")
            return
        self.busy_plan, self.error = plan_id, ""
        yield
        try:
            url = await checkout.start_checkout(
                runtime.gateway(),
                user_id=user_id,
                plan_id=plan_id,
                app_url=get_settings().app_url,
                create_missing_price=runtime.payments().sandbox,
            )
        except checkout.CheckoutRefused as exc:
            self.error = str(exc)
            return
        except Exception:
            logger.exception("checkout for plan %s failed", plan_id)
            self.error = PAYMENTS_UNAVAILABLE
            return
        finally:
            self.busy_plan = ""
        self.leave_to = url

    @rx.event
    async def manage(self):
        """Open Stripe's customer portal: cancel, resume, switch plan, update card."""
        user_id = await self._authenticated_user_id()
        if user_id is None:
            yield rx.redirect("/login?next=/dashboard")
            return
        self.busy_plan, self.error = "manage", ""
        yield
        try:
            url = await checkout.open_portal(
                runtime.gateway(), user_id=user_id, app_url=get_settings().app_url
            )
        except Exception:
            logger.exception("opening the billing portal failed")
            self.error = PAYMENTS_UNAVAILABLE
            return
        finally:
            self.busy_plan = ""
        self.leave_to = url


class ConfirmState(AccountState):
    """/billing/success: 'confirming payment' until the webhook's purchase is recorded.

    Our database answers: whether the checkout is this user's (recorded when it was
    created), then, after one call to Stripe for what it paid for, whether the webhook has
    recorded the purchase. One loop per tab, however often its handler is called; it gives
    up with a clear message after 30 s."""

    confirming: bool = True
    confirmed: bool = False
    credits_granted: int = 0
    problem: str = ""
    # Bumped by every load of the page; the tab's loop always serves the newest.
    _confirm_view: int = 0
    _confirm_running: bool = False
    # What Stripe said each checkout paid for: asked once per checkout, not per poll.
    _confirm_refs: dict[str, list[str | None]] = {}

    @rx.event
    async def start(self):
        user_id = await self._authenticated_user_id()
        if user_id is None:
            return rx.redirect("/login?next=/dashboard")
        self.confirming, self.confirmed, self.problem = True, False, ""
        self._confirm_view += 1
        if self._confirm_running:
            return None  # the running loop picks the new page view up
        return ConfirmState.wait_for_webhook

    @rx.event(background=True)
    async def wait_for_webhook(self):
        async with self:
            if self._confirm_running:
                return
            self._confirm_running = True
            view = self._confirm_view
        try:
            while True:
                await self._confirm(view)
                async with self:
                    if view == self._confirm_view:
                        self._confirm_running = False
                        return
                    view = self._confirm_view
        except BaseException:
            async with self:
                self._confirm_running = False
            raise

    async def _confirm(self, view: int) -> None:
        """Confirm the checkout of page view `view`; returns early when a newer view
        starts (the caller then serves that one)."""
        async with self:
            user_id = await self._authenticated_user_id()
            session_id = self.router.url.query_parameters.get("session_id", "")
            known = self._confirm_refs.get(session_id)
        ours = user_id is not None and await asyncio.to_thread(
            checkout.checkout_is_theirs, user_id, session_id
        )
        if not ours:
            await self._give_up(view, NOTHING_TO_CONFIRM)
            return
        refs = checkout.PaymentRefs(*known) if known else await self._payment_refs(session_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONFIRM_GIVE_UP_SECONDS
        while refs is not None and loop.time() < deadline:
            result = await asyncio.to_thread(checkout.purchase_recorded, refs)
            async with self:
                if view != self._confirm_view:
                    return
                if result.confirmed:
                    await self._refresh(user_id)
                    self.confirming, self.confirmed = False, True
                    self.credits_granted = result.credits_granted
                    return
            await asyncio.sleep(CONFIRM_POLL_SECONDS)
        await self._give_up(view, STILL_CONFIRMING)

    async def _payment_refs(self, session_id: str) -> checkout.PaymentRefs | None:
        try:
            refs = await checkout.payment_refs(runtime.gateway(), session_id)
        except Exception:
            logger.exception("reading checkout %s from Stripe failed", session_id)
            return None
        async with self:
            self._confirm_refs = {
                **self._confirm_refs,
                session_id: [refs.subscription_id, refs.payment_intent_id],
            }
        return refs

    async def _give_up(self, view: int, problem: str) -> None:
        async with self:
            if view == self._confirm_view:
                self.confirming, self.problem = False, problem
