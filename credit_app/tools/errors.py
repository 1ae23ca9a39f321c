"""Errors the premium tools raise, kept apart so the web layer can catch them without the tools."""

from __future__ import annotations


class ToolInputError(ValueError):
    """The person's input cannot be used; `message` is written to be shown next to the field.

    The web layer should refund (or never capture) the credits when it sees this error: the
    person gave bad input, the tool did no work. Any other exception is a failure of ours.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Which input the message is about, so a form can put it beside the right control.
        self.field = field


class CatalogError(ValueError):
    """The tool cost catalog (costs.toml) is malformed; an operator must fix the file."""
