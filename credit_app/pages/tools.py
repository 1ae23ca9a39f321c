"""/tools: the premium tools, each with its cost on its button."""

from typing import Any

import reflex as rx

from credit_app import routes
from credit_app.billing import catalog
from credit_app.components.a11y import visually_hidden
from credit_app.components.form_field import posting_form
from credit_app.components.layout import signed_in_layout
from credit_app.components.local_time import local_time
from credit_app.state.live import LiveAccount
from credit_app.state.tools import ToolsState
from credit_app.tools import load_catalog, qr

# The state's per-tool maps, typed for the checker (the same variables in the browser).
_COSTS = ToolsState.costs.to(dict[str, int])
_COST_TEXTS = ToolsState.cost_texts.to(dict[str, str])
_ERRORS = ToolsState.errors.to(dict[str, str])
_NOTICES = ToolsState.notices.to(dict[str, str])
_LIMIT_ERRORS = ToolsState.limit_errors.to(dict[str, str])
_ACTION_IDS = ToolsState.action_ids.to(dict[str, str])


def _cost(tool: str) -> rx.vars.NumberVar[int]:
    return _COSTS[tool].to(int)


def _short(tool: str) -> rx.Var[bool]:
    return LiveAccount.available < _cost(tool)


def _run_button(tool: str, label: str, **props) -> rx.Component:
    """Disabled while a tool runs. Short of credits it is only marked disabled
    (aria-disabled, still focusable): pressing it opens the dialog that says why, and
    focus can come back to it when that dialog closes."""
    short = _short(tool)
    return rx.vstack(
        rx.button(
            label,
            " · ",
            _COST_TEXTS[tool],
            id=f"run-{tool}",
            disabled=ToolsState.running != "",
            loading=ToolsState.running == tool,
            size="3",
            aria_disabled=rx.cond(short, "true", None),
            aria_describedby=rx.cond(short, f"{tool}-disabled-reason", None),
            custom_attrs={
                "data-disabled": rx.cond(short | (ToolsState.running != ""), "true", None)
            },
            **props,
        ),
        rx.cond(
            _short(tool),
            rx.text(
                "Needs ",
                _COST_TEXTS[tool],
                "; you have ",
                LiveAccount.available_text,
                ". ",
                rx.link("Get more", href=routes.PRICING),
                size="2",
                color_scheme="amber",
                id=f"{tool}-disabled-reason",
            ),
        ),
        spacing="1",
    )


def _messages(tool: str) -> rx.Component:
    """A tool's error or notice; nothing at all until there is one (the maps have no key
    for a tool not used yet, and `undefined != ""` would show an empty box)."""
    return rx.fragment(
        rx.cond(
            _ERRORS[tool],
            rx.callout(_ERRORS[tool], color_scheme="red", role="alert", id=f"{tool}-error"),
        ),
        rx.cond(
            _LIMIT_ERRORS[tool],
            rx.callout(
                rx.text(
                    _LIMIT_ERRORS[tool],
                    " ",
                    rx.link(
                        "Raise the limit on the usage page",
                        href=f"{routes.USAGE}#spending-limit",
                        underline="always",
                        color_scheme="red",
                        high_contrast=True,
                    ),
                ),
                color_scheme="red",
                role="alert",
                id=f"{tool}-limit-error",
            ),
        ),
        rx.cond(
            _NOTICES[tool],
            rx.callout(_NOTICES[tool], icon="info", id=f"{tool}-notice"),
        ),
    )


def _card(tool: str, *body: rx.Component) -> rx.Component:
    spec = load_catalog()[tool]
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon(spec.icon, size=24, color="var(--accent-9)"),
                rx.heading(spec.name, size="5", as_="h2"),
                align="center",
            ),
            rx.text(spec.description, color_scheme="gray"),
            *body,
            _messages(tool),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        id=f"tool-{tool}",
    )


def _action_id(tool: str) -> rx.Component:
    return rx.el.input(type="hidden", name="action_id", value=_ACTION_IDS[tool])


def _download_link(label: str, href: rx.Var, filename: str, kind: str) -> rx.Component:
    return rx.button(
        rx.link(rx.icon("download", size=16), label, href=href, download=filename, id=f"qr-{kind}"),
        as_child=True,
        variant="soft",
    )


def _qr() -> rx.Component:
    return _card(
        "qr",
        posting_form(
            rx.vstack(
                rx.el.label("Text or link", html_for="qr-text", style={"fontWeight": 500}),
                # No maxlength: the browser would cut longer text silently; the server
                # refuses it with a message instead, before charging.
                rx.input(id="qr-text", name="text", width="100%", size="3"),
                rx.text(
                    f"Up to {qr.MAX_CHARS:,} characters.",
                    size="1",
                    color_scheme="gray",
                    id="qr-text-hint",
                ),
                _action_id("qr"),
                _run_button("qr", "Generate QR code", type="submit"),
                width="100%",
            ),
            on_submit=ToolsState.make_qr,
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(
            ToolsState.qr_png != "",
            rx.hstack(
                rx.image(src=ToolsState.qr_png, width="10em", alt="Your QR code", id="qr-image"),
                rx.vstack(
                    _download_link("Download SVG", ToolsState.qr_svg_file, "qr-code.svg", "svg"),
                    rx.button(
                        rx.icon("download", size=16),
                        "Download PNG (print)",
                        on_click=ToolsState.download_qr_print,
                        variant="soft",
                        id="qr-png",
                    ),
                    spacing="2",
                ),
                align="center",
                spacing="4",
                wrap="wrap",
            ),
        ),
    )


def _keywords() -> rx.Component:
    return _card(
        "keywords",
        posting_form(
            rx.vstack(
                rx.el.label("Text to analyse", html_for="keywords-text", style={"fontWeight": 500}),
                rx.text_area(id="keywords-text", name="text", rows="6", width="100%"),
                _action_id("keywords"),
                _run_button("keywords", "Extract keywords", type="submit"),
                width="100%",
            ),
            on_submit=ToolsState.extract_keywords,
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(ToolsState.keyphrases.length() > 0, _keywords_result()),
    )


def _keyphrase(row: rx.Var[dict[str, str]]) -> rx.Component:
    """One keyphrase: the phrase, a bar as long as its relevance, and the percentage."""
    item: Any = row  # an ObjectVar in the browser
    return rx.el.li(
        rx.text(item["phrase"], weight="medium"),
        rx.box(
            rx.box(
                height="100%",
                width=item["relevance"],
                background_color="var(--accent-9)",
                border_radius="inherit",
            ),
            height="8px",
            background_color="var(--gray-a4)",
            border_radius="9999px",
            overflow="hidden",
            aria_hidden="true",
        ),
        rx.text(item["relevance"], size="2", color_scheme="gray", text_align="right"),
        display="grid",
        grid_template_columns="minmax(0, 1fr) minmax(3em, 7em) 3em",
        align_items="center",
        column_gap="0.75em",
        padding_y="0.25em",
    )


def _copy_keywords() -> rx.Component:
    """Copies in the browser (rx.set_clipboard as the click's own event is compiled into the
    page: no eval, which the Content-Security-Policy forbids), then says "Copied"."""
    return rx.hstack(
        rx.button(
            rx.cond(
                ToolsState.keywords_copied,
                rx.icon("check", size=16),
                rx.icon("copy", size=16),
            ),
            rx.cond(ToolsState.keywords_copied, "Copied", "Copy"),
            on_click=[
                rx.set_clipboard(ToolsState.keywords_text),
                ToolsState.keywords_copy_done,
            ],
            variant="soft",
            type="button",
            id="keywords-copy",
            aria_label="Copy keyphrases and summary",
        ),
        # Announced to screen readers; the button's own text changes for everyone else.
        visually_hidden(
            rx.cond(ToolsState.keywords_copied, "Copied to the clipboard", ""),
            role="status",
            id="keywords-copy-status",
        ),
        align="center",
    )


def _keywords_result() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Keyphrases", size="3", as_="h3"),
            rx.spacer(),
            _copy_keywords(),
            align="center",
            width="100%",
        ),
        rx.text(
            "Relevance is compared with the top keyphrase (100%).",
            size="1",
            color_scheme="gray",
            id="keyphrases-note",
        ),
        rx.el.ol(
            rx.foreach(ToolsState.keyphrases, _keyphrase),
            id="keyphrases",
            aria_describedby="keyphrases-note",
            # Bars near their phrases on a wide screen; the whole width on a phone.
            style={"listStyle": "none", "padding": 0, "margin": 0, "width": "100%"},
            max_width="40em",
        ),
        rx.heading("Summary", size="3", as_="h3"),
        rx.foreach(ToolsState.summary, lambda line: rx.text(line)),
        width="100%",
        id="keywords-result",
    )


def _report() -> rx.Component:
    return _card(
        "report",
        posting_form(
            _action_id("report"),
            _run_button("report", "Build PDF report", type="submit"),
            on_submit=ToolsState.make_report,
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(
            ToolsState.running == "report",
            rx.vstack(
                rx.progress(value=ToolsState.report_progress.to(int), max=100, width="100%"),
                rx.text(
                    ToolsState.report_message, " (", ToolsState.report_progress, "%)", size="2"
                ),
                width="100%",
                role="status",
                id="report-progress",
            ),
            rx.cond(
                ToolsState.report_message != "",
                rx.hstack(
                    rx.text(ToolsState.report_message, size="2", id="report-status"),
                    rx.cond(
                        ToolsState.last_report_id != "",
                        rx.button(
                            rx.icon("download", size=16),
                            "Download report (PDF)",
                            on_click=_download_report(ToolsState.last_report_id),
                            variant="soft",
                            id="report-download",
                        ),
                    ),
                    align="center",
                    spacing="3",
                    wrap="wrap",
                ),
            ),
        ),
        _recent_reports(),
    )


def _download_report(report_id: rx.Var) -> Any:
    """ToolsState.download_report(report_id), for the browser to send back."""
    handler: Any = ToolsState.download_report  # mypy does not see through @rx.event here
    return handler(report_id)


def _recent_reports() -> rx.Component:
    """The reports kept for the last 30 days: each downloads again for free."""
    return rx.cond(
        ToolsState.reports.length() > 0,
        rx.vstack(
            rx.heading("Recent reports", size="3", as_="h3"),
            rx.text(
                "Kept for 30 days; downloading one again is free.", size="1", color_scheme="gray"
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Built"),
                        rx.table.column_header_cell("Size"),
                        rx.table.column_header_cell("File"),
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        ToolsState.reports,
                        lambda r: rx.table.row(
                            rx.table.cell(local_time(r["at"])),
                            rx.table.cell(r["size"], " · ", r["pages"]),
                            rx.table.cell(
                                rx.button(
                                    "Download",
                                    # Its name: "Download the report built 26 Nov 2026, 18:05"
                                    visually_hidden(" the report built ", local_time(r["at"])),
                                    on_click=_download_report(r["id"]),
                                    variant="ghost",
                                    size="1",
                                ),
                            ),
                        ),
                    )
                ),
                size="1",
                width="100%",
            ),
            width="100%",
            spacing="2",
            id="recent-reports",
        ),
    )


def _focus_refused_button() -> rx.Var:
    """The dialog's close handler, in the browser: focus goes back to the button of the
    tool that was refused (Radix would look for a dialog trigger, and this has none)."""
    tool = ToolsState.dialog_tool
    return rx.vars.FunctionStringVar.create(
        f"((event) => {{ event.preventDefault(); "
        f"setTimeout(() => document.getElementById('run-' + {tool!s})?.focus(), 0); }})",
        _var_data=rx.vars.VarData.merge(tool._get_all_var_data()),
    )


def _insufficient_dialog() -> rx.Component:
    """A Radix alert dialog: it traps focus while open and closes on Escape (reported
    through on_open_change); focus then returns to the button that was pressed."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Not enough credits"),
            rx.alert_dialog.description(
                "This needs ",
                ToolsState.dialog_needed_text,
                " and you have ",
                ToolsState.dialog_available_text,
                ". Upgrade your plan or buy a credit pack.",
                id="insufficient-text",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    # No on_click of its own: Cancel reports the close through
                    # on_open_change, and a plain button keeps the ref Radix focuses.
                    rx.button("Close", variant="soft", color_scheme="gray")
                ),
                rx.button(
                    rx.link("Buy credits", href=routes.pricing_for(catalog.top_up_pack().id)),
                    as_child=True,
                    variant="outline",
                ),
                rx.button(
                    rx.link("Upgrade plan", href=ToolsState.upgrade_href),
                    as_child=True,
                ),
                spacing="3",
                justify="end",
                margin_top="1em",
                wrap="wrap",
            ),
            on_close_auto_focus=_focus_refused_button(),
            id="insufficient-dialog",
        ),
        open=ToolsState.dialog_open,
        on_open_change=ToolsState.dialog_open_changed,
    )


def tools_page() -> rx.Component:
    return signed_in_layout(
        rx.heading("Premium tools", size="8", as_="h1"),
        rx.text(
            "Each use costs the credits shown on its button. If a tool fails, you get them back.",
            color_scheme="gray",
        ),
        _qr(),
        _keywords(),
        _report(),
        _insufficient_dialog(),
    )
