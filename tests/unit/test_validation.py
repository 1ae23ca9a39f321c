"""Signup input rules: every field's error at once, the PRD's length limits."""

import pytest

from credit_app.auth.validation import normalize_email, validate_signup


def test_valid_input_is_cleaned():
    data, errors = validate_signup(" Ada@Example.COM ", "  Ada   Lovelace ", "12345678", "")
    assert errors == {}
    assert (data.email, data.name, data.password, data.image) == (
        "ada@example.com",
        "Ada Lovelace",
        "12345678",
        None,
    )


@pytest.mark.parametrize("email", ["", "plainaddress", "a@", "@example.com", "a b@example.com"])
def test_malformed_emails_are_refused(email):
    _, errors = validate_signup(email, "Ada", "12345678")
    assert "email" in errors


def test_all_errors_are_reported_together():
    _, errors = validate_signup("nope", "", "short", "ftp://x")
    assert set(errors) == {"email", "name", "password", "image"}
    assert errors["password"] == "Password must be at least 8 characters."


def test_length_limits_follow_the_prd():
    local = "a" * 52
    assert (
        validate_signup(f"{local}@example.com", "n" * 64, "12345678", "https://x.io/" + "i" * 243)[
            1
        ]
        == {}
    )
    _, errors = validate_signup(
        f"{local}x@example.com", "n" * 65, "12345678", "https://x.io/" + "i" * 244
    )
    assert errors == {
        "email": "Email must be at most 64 characters.",
        "name": "Name must be at most 64 characters.",
        "image": "Image URL must be at most 256 characters.",
    }


def test_password_bounds():
    assert "password" not in validate_signup("a@b.io", "A", "x" * 8)[1]
    assert "password" in validate_signup("a@b.io", "A", "x" * 7)[1]
    assert "password" in validate_signup("a@b.io", "A", "x" * 257)[1]


def test_normalize_email():
    assert normalize_email("  MiXeD@Case.Org\n") == "mixed@case.org"
