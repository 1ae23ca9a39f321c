"""STUB: Customer (admin console). To be written."""

import reflex as rx

from credit_app.components.admin_layout import admin_layout


def customer_page() -> rx.Component:
    return admin_layout(rx.heading("Customer", as_="h1", size="6"))
