"""Signup input rules. Returns every field's error at once so the form can show them all."""

from dataclasses import dataclass
from urllib.parse import urlparse

from email_validator import EmailNotValidError, validate_email

from credit_app.models import EMAIL_MAX, IMAGE_MAX, NAME_MAX

PASSWORD_MIN = 8
# Argon2 hashes any length, but a cap stops a megabyte "password" from being a cheap DoS.
PASSWORD_MAX = 256


@dataclass(frozen=True)
class SignupInput:
    email: str
    name: str
    password: str
    image: str | None


def normalize_email(raw: str) -> str:
    """Emails are compared case-insensitively: the stored form is lower-case."""
    return raw.strip().lower()


def validate_signup(
    email: str, name: str, password: str, image: str = ""
) -> tuple[SignupInput | None, dict[str, str]]:
    """Clean the input, or return an error message per field (keys: email, name, ...)."""
    errors: dict[str, str] = {}

    email = normalize_email(email)
    if not email:
        errors["email"] = "Enter your email address."
    elif len(email) > EMAIL_MAX:
        errors["email"] = f"Email must be at most {EMAIL_MAX} characters."
    else:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            errors["email"] = "Enter a valid email address, like name@example.com."

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

    if errors:
        return None, errors
    return SignupInput(email=email, name=name, password=password, image=image or None), {}
