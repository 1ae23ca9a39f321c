"""What `credit-app customer` / `audit` print of text a customer or an admin typed."""

from credit_app.admin.customer_text import printable


def test_control_characters_never_reach_the_operators_terminal():
    hostile = "Bob\x1b]0;pwned\x07\u202eevil\n"
    shown = printable(hostile)
    assert shown == "Bob?]0;pwned??evil?"  # ESC, BEL, RLO, newline
    assert printable("Zoë Ågren 東京") == "Zoë Ågren 東京"
