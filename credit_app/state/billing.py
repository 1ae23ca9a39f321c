"""Pricing, checkout, the customer portal and the payment confirmation page."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import reflex as rx

from credit_app import routes, wording
from credit_app.api import app_services
from credit_app.billing import checkout
from credit_app.billing.catalog import PlanInterval
from credit_app.settings import get_settings
from credit_app.state.account import AccountState

logger = logging.getLogger(__name__)

PAYMENTS_UNAVAILABLE = "The payment service did not answer. Nothing was charged; try again."
# How long a person waits on Stripe for Checkout or the portal before being told it did not
# answer: the SDK's own timeout is 80 s a try, and the page must stay usable well before.
PAYMENT_WAIT_SECONDS = 8.0
CONFIRM_POLL_SECONDS = 1.0
CONFIRM_GIVE_UP_SECONDS = 30
NOTHING_TO_CONFIRM = "There is no payment of yours to confirm here."
STILL_CONFIRMING = (
    "Your payment is still being confirmed. Your credits will appear on the dashboard as "
    "soon as it is; you can leave this page."
)
MANAGE = "manage"  # busy_plan while the customer portal opens


class BillingState(AccountState):
    interval: rx.Field[str] = rx.field(PlanInterval.MONTH.value)
    signed_in: rx.Field[bool] = rx.field(False)
    selected_plan: rx.Field[str] = rx.field("")
    busy_plan: rx.Field[str] = rx.field("")
    error: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")

    @rx.event
    async def load_pricing(self):
        """on_load of /pricing: open to everyone; signed-in people see their plan marked."""
        params = self.router.url.query_parameters
        chosen = checkout.plan_for_sale(params.get("plan", ""))
        self.selected_plan = chosen.id if chosen is not None else ""
        if chosen is not None and chosen.interval is not None:
            self.interval = chosen.interval.value
        self.notice = "Checkout canceled. Nothing was charged." if params.get("canceled") else ""
        self.error = self.leave_to = ""
        user_id = await self._authenticated_user_id()
        self.signed_in = user_id is not None
        if user_id is not None:
            await self._refresh(user_id)

    @rx.event
    def set_interval(self, value: str | list[str]):
        value = value if isinstance(value, str) else (value[0] if value else "")
        if value in set(PlanInterval):
            self.interval = value

    @rx.event
    async def choose(self, form_data: dict):
        """Subscribe or buy the plan of the submitted form: signed-out people sign up first
        and come back to this plan; checkout.start_purchase decides, from the database,
        between Checkout and the customer portal (for a subscriber changing plan)."""
        plan = checkout.plan_for_sale(str(form_data.get("plan_id", "")))
        if plan is None:  # the browser sent something that is not on this page
            self.error = checkout.NOT_FOR_SALE
            return
        if (user_id := await self._authenticated_user_id()) is None:
            yield rx.redirect(routes.with_next(routes.SIGNUP, routes.pricing_for(plan.id)))
            return
        self.busy_plan, self.error = plan.id, ""
        yield
        try:
            async with asyncio.timeout(PAYMENT_WAIT_SECONDS):
                url = await checkout.start_purchase(
                    app_services.current().gateway,
                    user_id=user_id,
                    plan_id=plan.id,
                    app_url=get_settings().app_url,
                    create_missing_price=app_services.current().payments.sandbox,
                )
        except checkout.CheckoutRefused as exc:
            self.error = str(exc)
            return
        except Exception:
            logger.exception("starting a purchase of plan %s failed", plan.id)
            self.error = PAYMENTS_UNAVAILABLE
            return
        finally:
            self.busy_plan = ""
        self.leave_to = url

    @rx.event
    async def manage(self):
        """Open Stripe's customer portal: cancel, resume, switch plan, update card."""
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        async for update in self._open_portal(user_id):
            yield update

    async def _open_portal(self, user_id: uuid.UUID) -> AsyncIterator[None]:
        self.busy_plan, self.error = MANAGE, ""
        yield
        try:
            services = app_services.current()
            async with asyncio.timeout(PAYMENT_WAIT_SECONDS):
                url = await checkout.open_portal(
                    services.gateway,
                    user_id=user_id,
                    app_url=get_settings().app_url,
                    create_missing_price=services.payments.sandbox,
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

    confirming: rx.Field[bool] = rx.field(True)
    confirmed: rx.Field[bool] = rx.field(False)
    credits_granted: rx.Field[int] = rx.field(0)
    problem: rx.Field[str] = rx.field("")

    @rx.var
    def credits_granted_text(self) -> str:
        """What the payment added, as shown: "+500 credits", "+1 credit"."""
        return wording.credits(self.credits_granted, sign=True)

    # Bumped by every load of the page; the tab's loop always serves the newest.
    _confirm_view: int = 0
    _confirm_running: bool = False
    # What Stripe said each checkout paid for: asked once per checkout, not per poll.
    _confirm_refs: dict[str, list[str | None]] = {}

    @rx.event
    async def start(self):
        if await self._authenticated_user_id() is None:
            return self._to_login()
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
        if user_id is None or not await checkout.checkout_is_theirs(user_id, session_id):
            await self._give_up(view, NOTHING_TO_CONFIRM)
            return
        refs = checkout.PaymentRefs(*known) if known else await self._payment_refs(session_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONFIRM_GIVE_UP_SECONDS
        while refs is not None and loop.time() < deadline:
            result = await checkout.purchase_recorded(refs)
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
            refs = await checkout.payment_refs(app_services.current().gateway, session_id)
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
