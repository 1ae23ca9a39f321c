"""STUB: Audit log (admin console). To be written."""

import reflex as rx

from credit_app.components.admin_layout import admin_layout


def audit_page() -> rx.Component:
    return admin_layout(rx.heading("Audit log", as_="h1", size="6"))
