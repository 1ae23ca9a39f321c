"""Reflex configuration. The app's own settings live in credit_app/settings.py."""

import os

import reflex as rx

config = rx.Config(
    app_name="credit_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    # Several backend workers share per-client state through Redis when it is configured;
    # without it Reflex keeps state in memory (one worker), which suits the embedded default.
    redis_url=os.environ.get("REDIS_URL") or None,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="light", accent_color="violet", radius="large")
        )
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
