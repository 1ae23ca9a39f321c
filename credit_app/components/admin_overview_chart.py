"""The overview's charts, made readable the way usage_chart is: each chart one image to
assistive technology named by a summary sentence (shown above it too), an HTML legend, the
numbers as a table behind "Show the numbers", a skeleton until loaded and an empty state."""

from collections.abc import Sequence
from typing import Any

import reflex as rx

from credit_app.components.usage_chart import CARD_BACKGROUND, TEXT, day_axes, series_color

CHART_HEIGHT = 260
SIGNUPS_HEIGHT = 140


def _axes() -> list[rx.Component]:
    return day_axes(min_tick_gap=16, y_width=48)


def legend(series: Sequence[tuple[str, str]], legend_id: str) -> rx.Component:
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
                rx.text(name, size="2", style={"color": TEXT.css}),
                display="flex",
                align_items="center",
                gap="0.4em",
            )
            for i, (_, name) in enumerate(series)
        ],
        id=legend_id,
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


def credits_chart(
    data: rx.Var, series: Sequence[tuple[str, str]], summary: rx.Var[str]
) -> rx.Component:
    """Lines of credits per day, one per series (data key, name)."""
    return rx.box(
        rx.recharts.line_chart(
            *[
                rx.recharts.line(
                    data_key=key,
                    name=name,
                    stroke=series_color(i).css,
                    stroke_width=2,
                    dot=False,
                    type_="linear",
                    is_animation_active=False,
                )
                for i, (key, name) in enumerate(series)
            ],
            *_axes(),
            data=data,
            width="100%",
            height=CHART_HEIGHT,
            custom_attrs={"accessibilityLayer": False},
        ),
        role="img",
        aria_label=summary,
        width="100%",
        id="overview-chart-image",
    )


def signups_chart(data: rx.Var, summary: rx.Var[str]) -> rx.Component:
    return rx.box(
        rx.recharts.bar_chart(
            rx.recharts.bar(
                data_key="signups",
                name="Sign-ups",
                fill=series_color(0).css,
                stroke=CARD_BACKGROUND.css,
                stroke_width=1,
                is_animation_active=False,
            ),
            *_axes(),
            data=data,
            width="100%",
            height=SIGNUPS_HEIGHT,
            custom_attrs={"accessibilityLayer": False},
        ),
        role="img",
        aria_label=summary,
        width="100%",
        id="overview-signups-image",
    )


def numbers_table(rows: rx.Var, columns: Sequence[tuple[str, str]], table_id: str) -> rx.Component:
    """The charted numbers behind a disclosure: a day column then one per (key, header).
    The table scrolls sideways inside its box on a narrow screen (a focusable region)."""

    def row(item: Any) -> rx.Component:
        return rx.table.row(
            rx.table.row_header_cell(item["day"], white_space="nowrap"),
            *[rx.table.cell(item[key], text_align="right") for key, _ in columns],
        )

    return rx.el.details(
        rx.el.summary(
            "Show the numbers",
            style={"cursor": "pointer", "color": "var(--accent-11)", "fontWeight": 500},
        ),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Day"),
                        *[
                            rx.table.column_header_cell(header, text_align="right")
                            for _, header in columns
                        ],
                    )
                ),
                rx.table.body(rx.foreach(rows, row)),
                size="1",
                width="100%",
                id=table_id,
            ),
            overflow_x="auto",
            tab_index=0,
            role="region",
            aria_label="The chart's numbers",
            margin_top="0.5em",
            width="100%",
        ),
        width="100%",
        id=f"{table_id}-numbers",
    )


def chart_skeleton(height: int, skeleton_id: str) -> rx.Component:
    return rx.vstack(
        rx.skeleton(width="60%", height="1.2em"),
        rx.skeleton(width="100%", height=f"{height}px"),
        spacing="3",
        width="100%",
        id=skeleton_id,
    )


def empty_chart(text: str, empty_id: str) -> rx.Component:
    return rx.vstack(
        rx.icon("chart-line", size=32, color="var(--gray-11)", aria_hidden="true"),
        rx.text(text, weight="medium", size="3", text_align="center"),
        align="center",
        justify="center",
        spacing="2",
        width="100%",
        min_height="160px",
        padding="1.5em",
        border="1px dashed var(--gray-a6)",
        border_radius="var(--radius-3)",
        id=empty_id,
    )
