"""STUB: Stripe events (admin console). To be written."""

import reflex as rx

from credit_app.components.admin_layout import admin_layout


def events_page() -> rx.Component:
    return admin_layout(rx.heading("Stripe events", as_="h1", size="6"))
