"""Every form of every page posts (components.form_field.posting_form). A form submitted
before the page's scripts have taken over (slow network, a script blocked) is sent by the
browser itself: as a GET that would put the email and password in the address bar, the
history and the server's logs."""

import re

import pytest

from credit_app.credit_app import PAGES

FORM = re.compile(r"jsx\(RadixFormRoot,\{")


def _form_props(js: str) -> list[str]:
    """The props object of each form in the compiled page, braces matched."""
    found = []
    for match in FORM.finditer(js):
        depth, end = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(js[end], 0)
            end += 1
        found.append(js[match.end() : end - 1])
    return found


@pytest.mark.parametrize(
    "component, route", [(p[0], p[1]) for p in PAGES], ids=[p[1] for p in PAGES]
)
def test_every_form_posts(component, route):
    forms = _form_props(str(component()))
    assert all('method:"post"' in props for props in forms), (route, forms)


def test_the_pages_with_passwords_have_forms():
    """The check above would pass on pages with no form at all: these must have them."""
    by_route = {route: component for component, route, *_ in PAGES}
    for route in ("/login", "/signup", "/reset-password", "/account"):
        assert FORM.search(str(by_route[route]())), route
