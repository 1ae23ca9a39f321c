"""Submit a hosted page's HTML form the way a browser would: find the form that holds the
labelled field, fill it by label, keep its hidden fields, post to its action."""

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx


@dataclass
class Form:
    action: str
    method: str
    inputs: list[dict] = field(default_factory=list)
    buttons: list[dict] = field(default_factory=list)
    text: str = ""


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.labels: dict[str, str] = {}  # for= id -> label text
        self._label_for: str | None = None
        self._label_text = ""
        self._form: Form | None = None
        self._button: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._form)
        elif tag == "label":
            self._label_for, self._label_text = a.get("for"), ""
        elif tag in ("input", "select", "textarea") and self._form is not None:
            if a.get("type") == "submit":
                self._form.buttons.append({**a, "text": a.get("value", "")})
            else:
                self._form.inputs.append(a)
        elif tag == "button" and self._form is not None:
            self._button = {**a, "text": ""}
            self._form.buttons.append(self._button)

    def handle_endtag(self, tag):
        if tag == "label" and self._label_for:
            self.labels[self._label_for] = self._label_text.strip()
            self._label_for = None
        elif tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None

    def handle_data(self, data):
        if self._label_for is not None:
            self._label_text += data
        if self._button is not None:
            self._button["text"] += data
        if self._form is not None:
            self._form.text += data


def submit(
    client: httpx.Client, page_url: str, button: str, fields: dict[str, str] | None = None
) -> httpx.Response:
    """Press the button whose text contains `button`, after filling `fields` (by label)."""
    page = client.get(page_url)
    page.raise_for_status()
    parser = _FormParser()
    parser.feed(page.text)
    for form in parser.forms:
        pressed = next((b for b in form.buttons if button.lower() in b["text"].lower()), None)
        if pressed is None:
            continue
        data = {i["name"]: i.get("value", "") for i in form.inputs if i.get("name")}
        for label, value in (fields or {}).items():
            ids = [i for i, text in parser.labels.items() if label.lower() in text.lower()]
            target = next((i for i in form.inputs if i.get("id") in ids), None)
            if target is None:
                raise AssertionError(f"no field labelled {label!r} in the form with {button!r}")
            data[target["name"]] = value
        if pressed.get("name"):
            data[pressed["name"]] = pressed.get("value", "")
        action = urljoin(str(page.url), form.action or str(page.url))
        return client.request(form.method.upper(), action, data=data)
    raise AssertionError(f"no button {button!r} on {page_url}:\n{page.text[:2000]}")
