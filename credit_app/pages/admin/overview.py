"""STUB: Overview (admin console). To be written."""

import reflex as rx

from credit_app.components.admin_layout import admin_layout


def overview_page() -> rx.Component:
    return admin_layout(rx.heading("Overview", as_="h1", size="6"))
