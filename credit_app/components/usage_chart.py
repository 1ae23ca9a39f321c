"""The chart of credits used per day and tool, with what makes it readable by everyone: an
HTML legend and axes at WCAG AA contrast, a one-sentence summary (also the chart's
accessible name), the numbers as a table, an empty state when there is nothing to chart,
and a skeleton until the data has loaded.

Colours are Radix Themes variables (the app's light theme); `Swatch.hex` is each one's value
there, so tests can compute the contrast ratios (tests/unit/test_usage_chart_contrast.py)
and the browser tests check the page really renders those values."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import reflex as rx

from credit_app import routes
from credit_app.components.a11y import visually_hidden


@dataclass(frozen=True)
class Swatch:
    css: str  # what the page uses
    hex: str  # its value in the light theme (Radix Colors), for the contrast checks


# The card the chart sits on (a Radix card on the page background: white in light mode).
CARD_BACKGROUND = Swatch("var(--color-panel-solid)", "#ffffff")
# The worst background any chart text may sit on (gray-2: a hovered row, the tooltip).
TINTED_BACKGROUND = Swatch("var(--gray-2)", "#f9f9f9")
# Legend and table text, and the tooltip's.
TEXT = Swatch("var(--gray-12)", "#202020")
# Axis labels: small (12 px), so they need 4.5:1 too.
AXIS_TEXT = Swatch("var(--gray-11)", "#646464")
# The bars, one colour per tool in catalog order: each at least 3:1 against the card
# (WCAG 1.4.11, graphical objects) and told apart by hue; a thin gap in the card's colour
# separates stacked bars, so neighbours need not contrast with each other.
SERIES = (
    Swatch("var(--violet-9)", "#6e56cf"),
    Swatch("var(--teal-11)", "#008573"),
    Swatch("var(--amber-11)", "#ab6400"),
    Swatch("var(--crimson-11)", "#cb1d63"),
)
CHART_HEIGHT = 260


@dataclass(frozen=True)
class Series:
    key: str  # the data key (tool id)
    name: str  # what the legend and the table say


def series_color(index: int) -> Swatch:
    return SERIES[index % len(SERIES)]


def _legend(series: Sequence[Series]) -> rx.Component:
    return rx.el.ul(
        *[
            rx.el.li(
                rx.box(
                    width="12px",
                    height="12px",
                    border_radius="3px",
                    background_color=series_color(i).css,
                    flex_shrink="0",
                    aria_hidden="true",
                ),
                rx.text(s.name, size="2", style={"color": TEXT.css}),
                display="flex",
                align_items="center",
                gap="0.4em",
            )
            for i, s in enumerate(series)
        ],
        id="usage-chart-legend",
        aria_label="Legend",
        style={
            "display": "flex",
            "flexWrap": "wrap",
            "gap": "0.5em 1.25em",
            "listStyle": "none",
            "padding": 0,
            "margin": 0,
        },
    )


def _bars(data: rx.Var, series: Sequence[Series], summary: rx.Var[str]) -> rx.Component:
    """The chart itself: one image to assistive tech, named by the summary sentence. Recharts'
    keyboard layer is off (it made the SVG a focusable "application" whose arrow keys only
    move a tooltip); the summary and the table carry the numbers instead."""
    return rx.box(
        rx.recharts.bar_chart(
            *[
                rx.recharts.bar(
                    data_key=s.key,
                    name=s.name,
                    stack_id="used",
                    fill=series_color(i).css,
                    stroke=CARD_BACKGROUND.css,
                    stroke_width=1,
                    is_animation_active=False,
                )
                for i, s in enumerate(series)
            ],
            *day_axes(min_tick_gap=12, y_width=40),
            data=data,
            width="100%",
            height=CHART_HEIGHT,
            custom_attrs={"accessibilityLayer": False},
        ),
        role="img",
        aria_label=summary,
        width="100%",
        id="usage-chart-image",
    )


def _table(rows: rx.Var) -> rx.Component:
    """The charted numbers, one row per day with any use, behind a disclosure."""

    def row(item: Any) -> rx.Component:
        return rx.table.row(
            rx.table.row_header_cell(item["day"], white_space="nowrap"),
            rx.table.cell(item["tools"]),
            rx.table.cell(item["total"], text_align="right", weight="bold"),
        )

    return rx.el.details(
        rx.el.summary(
            "Show the numbers",
            style={"cursor": "pointer", "color": "var(--accent-11)", "fontWeight": 500},
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Day"),
                    rx.table.column_header_cell("Credits used, by tool"),
                    rx.table.column_header_cell("Total", text_align="right"),
                )
            ),
            rx.table.body(rx.foreach(rows, row)),
            size="1",
            width="100%",
            margin_top="0.5em",
            id="usage-chart-table",
        ),
        width="100%",
        id="usage-chart-numbers",
    )


def _empty(days: int) -> rx.Component:
    return rx.vstack(
        rx.icon("chart-column", size=32, color="var(--gray-11)", aria_hidden="true"),
        rx.text(
            f"No credits used in the last {days} days",
            weight="medium",
            size="3",
            text_align="center",
        ),
        rx.text(
            "Each day you use a premium tool shows here as a bar.",
            size="2",
            color_scheme="gray",
            text_align="center",
        ),
        rx.button(rx.link("Try a tool", href=routes.TOOLS), as_child=True, variant="soft"),
        align="center",
        justify="center",
        spacing="2",
        width="100%",
        min_height="200px",
        padding="1.5em",
        border="1px dashed var(--gray-a6)",
        border_radius="var(--radius-3)",
        id="usage-chart-empty",
    )


def _skeleton() -> rx.Component:
    return rx.vstack(
        rx.skeleton(width="60%", height="1.2em"),
        rx.skeleton(width="100%", height=f"{CHART_HEIGHT}px"),
        spacing="3",
        width="100%",
        id="usage-chart-loading",
    )


def usage_chart(
    *,
    title: str,
    days: int,
    series: Sequence[Series],
    data: rx.Var,
    table_rows: rx.Var,
    summary: rx.Var[str],
    has_data: rx.Var[bool],
    loaded: rx.Var[bool],
) -> rx.Component:
    """A card with the chart titled `title`: a skeleton until `loaded`, an empty state if
    not `has_data`, else the summary sentence, the bars, their legend and the table."""
    return rx.card(
        rx.vstack(
            rx.heading(title, size="4", as_="h2", id="usage-chart-title"),
            rx.cond(
                loaded,
                rx.cond(
                    has_data,
                    rx.vstack(
                        rx.text(summary, size="2", id="usage-chart-summary"),
                        _bars(data, series, summary),
                        _legend(series),
                        _table(table_rows),
                        spacing="3",
                        width="100%",
                    ),
                    _empty(days),
                ),
                _skeleton(),
            ),
            visually_hidden(rx.cond(loaded, "", "Loading the chart"), role="status"),
            width="100%",
            spacing="3",
            id="usage-chart",
        ),
        width="100%",
        size="3",
        aria_busy=rx.cond(loaded, "false", "true"),
    )


def day_axes(*, min_tick_gap: int, y_width: int) -> list[rx.Component]:
    """A per-day chart's axes, grid and tooltip, in the colours measured for contrast
    above (the usage chart and the admin overview's)."""
    return [
        rx.recharts.x_axis(
            data_key="day",
            font_size=12,
            stroke=AXIS_TEXT.css,
            tick={"fill": AXIS_TEXT.css},
            interval="preserveStartEnd",
            min_tick_gap=min_tick_gap,
        ),
        rx.recharts.y_axis(
            allow_decimals=False,
            font_size=12,
            width=y_width,
            stroke=AXIS_TEXT.css,
            tick={"fill": AXIS_TEXT.css},
        ),
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False),
        rx.recharts.graphing_tooltip(
            item_style={"color": TEXT.css}, label_style={"color": TEXT.css}
        ),
    ]
