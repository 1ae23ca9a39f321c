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


def validate_signup(
    email: str, name: str, password: str, image: str = ""
) -> tuple[SignupInput | None, dict[str, str]]:
    """Clean the input, or return an error message per field (keys: email, name, ...)."""
    errors: dict[str, str] = {}

    clean_email, email_error = _email_error(email)
    if email_error:
        errors["email"] = email_error

    name = " ".join(name.split())
    if not name:
        errors["name"] = "Enter your name."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Name must be at most {NAME_MAX} characters."

    if len(password) < PASSWORD_MIN:
        errors["password"] = f"Password must be at least {PASSWORD_MIN} characters."
    elif len(password) > PASSWORD_MAX:
        errors["password"] = f"Password must be at most {PASSWORD_MAX} characters."

    image = image.strip()
    if len(image) > IMAGE_MAX:
        errors["image"] = f"Image URL must be at most {IMAGE_MAX} characters."
    elif image:
        parsed = urlparse(image)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors["image"] = "Image URL must start with http:// or https://."

    if errors or clean_email is None:
        return None, errors
    return SignupInput(email=clean_email, name=name, password=password, image=image or None), {}
