"""Sign-up and sign-in input rules. Sign-up returns every field's error at once so the form
can show them all.

An address is kept in two forms: as entered, in email-validator's normalised form (what we
show and mail to), and as a comparison key (`email_key`) that decides whether two addresses
are the same account.
"""

import unicodedata
from dataclasses import dataclass
from urllib.parse import urlparse

from email_validator import EmailNotValidError, validate_email

from credit_app.models import EMAIL_KEY_MAX, EMAIL_MAX, IMAGE_MAX, NAME_MAX

PASSWORD_MIN = 8
# Argon2 hashes any length, but a cap stops a megabyte "password" from being a cheap DoS.
PASSWORD_MAX = 256
# Longer raw input cannot normalise down to EMAIL_MAX characters (NFC composition and IDNA
# decoding shrink an address by far less), so it is refused before any parsing work.
_RAW_EMAIL_MAX = 4 * EMAIL_MAX


@dataclass(frozen=True)
class SignupInput:
    email: str
    name: str
    password: str
    image: str | None


def normalize_email(raw: str) -> str | None:
    """email-validator's normalised form of `raw` (NFC, domain lower-cased, IDNA decoded;
    the local part keeps its case), or None when `raw` is not an email address."""
    raw = raw.strip()
    if not raw or len(raw) > _RAW_EMAIL_MAX:
        return None
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def email_key(email: str) -> str:
    """What makes two addresses the same account: NFKC + casefold of the normalised
    address, so `alice@` typed with a fullwidth `a`, and `ALICE@`, both meet `alice@`, and
    the NFD and NFC forms of `josé@` meet. Migration 0004 fills `users.email_key` with this
    exact formula."""
    return unicodedata.normalize("NFKC", email).casefold()


def login_email_key(raw: str) -> str | None:
    """The comparison key of a sign-in email, or None when no account can have it
    (not an address, or longer than any address we store)."""
    email = normalize_email(raw)
    if email is None or len(email) > EMAIL_MAX:
        return None
    key = email_key(email)
    return key if len(key) <= EMAIL_KEY_MAX else None


def _email_error(raw: str) -> tuple[str | None, str | None]:
    """(normalised email, None) or (None, message)."""
    raw = raw.strip()
    if not raw:
        return None, "Enter your email address."
    too_long = f"Email must be at most {EMAIL_MAX} characters."
    if len(raw) > _RAW_EMAIL_MAX:
        return None, too_long
    email = normalize_email(raw)
    # NFKC can lengthen an address many times over (one ligature becomes several
    # letters); a key that does not fit its column is treated as not an address.
    if email is None or len(email_key(email)) > EMAIL_KEY_MAX:
        return None, "Enter a valid email address, like name@example.com."
    if len(email) > EMAIL_MAX:
        return None, too_long
    return email, None


def _name_error(name: str) -> str | None:
    name = " ".join(name.split())
    if not name:
        return "Enter your name."
    if len(name) > NAME_MAX:
        return f"Name must be at most {NAME_MAX} characters."
    return None


def _password_error(password: str) -> str | None:
    if len(password) < PASSWORD_MIN:
        return PASSWORD_RULE
    if len(password) > PASSWORD_MAX:
        return f"Password must be at most {PASSWORD_MAX} characters."
    return None


def _image_error(image: str) -> str | None:
    image = image.strip()
    if len(image) > IMAGE_MAX:
        return f"Image URL must be at most {IMAGE_MAX} characters."
    if image:
        parsed = urlparse(image)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            return "Image URL must start with http:// or https://."
    return None


# The one sentence for the password length rule: the form shows it as the field's hint
# and, when the rule is broken, as its error (never both at once).
PASSWORD_RULE = f"Password must be at least {PASSWORD_MIN} characters."
SIGNUP_FIELDS = ("email", "name", "password", "image")
LOGIN_EMAIL_MISSING = "Enter your email."
LOGIN_PASSWORD_MISSING = "Enter your password."


def signup_field_error(field: str, value: str) -> str:
    """The error sign-up would give this one field ("" when valid): the same rules as
    validate_signup, for checking a field again as it is corrected. Unknown fields: ""."""
    checks = {
        "email": lambda v: _email_error(v)[1],
        "name": _name_error,
        "password": _password_error,
        "image": _image_error,
    }
    check = checks.get(field)
    return (check(value) or "") if check is not None else ""


def login_field_errors(email: str, password: str) -> dict[str, str]:
    """Which log-in fields are empty (keys: email, password). Says nothing about whether an
    account exists: non-empty input always gets {} here and the one generic error later."""
    errors: dict[str, str] = {}
    if not email.strip():
        errors["email"] = LOGIN_EMAIL_MISSING
    if not password:
        errors["password"] = LOGIN_PASSWORD_MISSING
    return errors


def validate_signup(
    email: str, name: str, password: str, image: str = ""
) -> tuple[SignupInput | None, dict[str, str]]:
    """Clean the input, or return an error message per field (keys: email, name, ...)."""
    errors: dict[str, str] = {}

    clean_email, email_error = _email_error(email)
    if email_error:
        errors["email"] = email_error
    for field, error in (
        ("name", _name_error(name)),
        ("password", _password_error(password)),
        ("image", _image_error(image)),
    ):
        if error:
            errors[field] = error

    if errors or clean_email is None:
        return None, errors
    image = image.strip()
    return (
        SignupInput(
            email=clean_email, name=" ".join(name.split()), password=password, image=image or None
        ),
        {},
    )
