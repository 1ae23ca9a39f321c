"""Signup and sign-in input rules: every field's error at once, the PRD's length limits,
one account per address whatever its case, Unicode form or width."""

import unicodedata

import pytest

from credit_app.auth.validation import (
    LOGIN_EMAIL_MISSING,
    LOGIN_PASSWORD_MISSING,
    PASSWORD_RULE,
    SIGNUP_FIELDS,
    email_key,
    login_email_key,
    login_field_errors,
    normalize_email,
    signup_field_error,
    validate_signup,
)


def test_valid_input_is_cleaned():
    data, errors = validate_signup(" Ada@Example.COM ", "  Ada   Lovelace ", "12345678", "")
    assert errors == {}
    # email-validator's normal form: the domain is lower-cased, the local part kept as typed.
    assert (data.email, data.name, data.password, data.image) == (
        "Ada@example.com",
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
    assert normalize_email("  MiXeD@Case.Org\n") == "MiXeD@case.org"
    assert normalize_email("a@xn--bcher-kva.example") == "a@bücher.example"
    assert normalize_email("not an address") is None
    assert normalize_email("") is None


NFC = unicodedata.normalize("NFC", "josé@example.com")
NFD = unicodedata.normalize("NFD", "josé@example.com")


@pytest.mark.parametrize(
    ("variant", "original"),
    [
        ("\uff41lice@example.com", "alice@example.com"),  # fullwidth a
        ("ALICE@EXAMPLE.COM", "alice@example.com"),
        (NFD, NFC),
        ("stra\u00dfe@example.com", "STRASSE@example.com"),  # casefold: ß is ss
    ],
)
def test_variants_of_one_address_share_a_key(variant, original):
    assert NFC != NFD
    assert email_key(normalize_email(variant)) == email_key(normalize_email(original))
    assert login_email_key(variant) == login_email_key(original)


def test_email_key_is_the_migration_formula():
    assert email_key("\uff21lice@Example.com") == "alice@example.com"


def test_login_email_key_refuses_what_no_account_can_have():
    assert login_email_key("nope") is None
    assert login_email_key("a" * 60 + "@example.com") is None  # over EMAIL_MAX
    assert login_email_key("a" * 100_000) is None
    # NFKC turns this ligature into 18 characters: the key would not fit its column.
    assert login_email_key("\ufdfa" * 20 + "@example.com") is None


def test_signup_refuses_a_huge_email_as_too_long_and_a_ligature_bomb_as_invalid():
    assert validate_signup("a" * 10_000, "Ada", "12345678")[1] == {
        "email": "Email must be at most 64 characters."
    }
    assert validate_signup("\ufdfa" * 20 + "@example.com", "Ada", "12345678")[1] == {
        "email": "Enter a valid email address, like name@example.com."
    }


@pytest.mark.parametrize(
    ("email", "name", "password", "image"),
    [
        ("nope", "", "short", "ftp://x"),
        ("ada@example.com", "Ada", "12345678", ""),
        ("", "  ", "p" * 257, "https://" + "x" * 3000),
        ("a@", "n" * 500, "1234567", "javascript:alert(1)"),
    ],
)
def test_one_field_gets_the_same_error_as_the_whole_form(email, name, password, image):
    _, errors = validate_signup(email, name, password, image)
    values = {"email": email, "name": name, "password": password, "image": image}
    for field in SIGNUP_FIELDS:
        assert signup_field_error(field, values[field]) == errors.get(field, "")


def test_a_fixed_field_has_no_error_and_unknown_fields_none():
    assert signup_field_error("password", "short") == PASSWORD_RULE
    assert signup_field_error("password", "long enough") == ""
    assert signup_field_error("email", "ada@example.com") == ""
    assert signup_field_error("nonsense", "") == ""


def test_the_password_rule_is_one_sentence():
    _, errors = validate_signup("ada@example.com", "Ada", "short")
    assert errors == {"password": PASSWORD_RULE}
    assert PASSWORD_RULE == "Password must be at least 8 characters."


def test_an_empty_login_names_the_missing_field_only():
    assert login_field_errors("", "") == {
        "email": LOGIN_EMAIL_MISSING,
        "password": LOGIN_PASSWORD_MISSING,
    }
    assert login_field_errors("   ", "pw") == {"email": "Enter your email."}
    assert login_field_errors("ada@example.com", "") == {"password": "Enter your password."}
    # Anything filled in passes here: whether the account exists is never said.
    assert login_field_errors("nobody@example.com", "wrong") == {}
    assert login_field_errors("not an address", "x") == {}
