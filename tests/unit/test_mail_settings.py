"""Where mail goes is decided from the settings, and a deployment whose mail could not be
delivered refuses to start, saying what to set."""

from pathlib import Path

import pytest

from credit_app.api import build_api
from credit_app.billing.payments import UnsafeSettings
from credit_app.mail import FolderTransport, MailSettingsError, SmtpTransport, transport_for
from credit_app.settings import Settings

STRIPE = {
    "payments": "stripe",
    "stripe_secret_key": "sk_live_1",
    "stripe_webhook_secret": "whsec_1",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("SMTP_URL", "APP_URL", "OUTBOX_DIR", "REQUIRE_VERIFIED_EMAIL", "PAYMENTS"):
        monkeypatch.delenv(name, raising=False)


def test_on_a_loopback_app_url_without_smtp_mail_goes_to_the_outbox_folder(tmp_path):
    for app_url in ("http://localhost:3000", "http://127.0.0.1:8000", "http://[::1]:3000"):
        transport = transport_for(Settings(app_url=app_url, outbox_dir=tmp_path / "out"))
        assert transport == FolderTransport(Path(tmp_path / "out"))


@pytest.mark.parametrize("app_url", ["https://credits.example.com", "http://10.0.0.5:3000"])
def test_a_public_app_url_without_smtp_url_is_refused_with_what_to_set(app_url):
    with pytest.raises(MailSettingsError) as refused:
        transport_for(Settings(app_url=app_url))
    message = str(refused.value)
    assert message.startswith("refusing to start")
    assert f"APP_URL={app_url} is public and SMTP_URL is not set" in message
    assert "Set SMTP_URL" in message


@pytest.mark.parametrize(
    "url", ["smtp://mail.example.com:587", "smtps://u:p@mail.example.com", "smtp://localhost"]
)
def test_an_smtp_url_is_used_wherever_the_app_runs(url):
    for app_url in ("http://localhost:3000", "https://credits.example.com"):
        assert transport_for(Settings(app_url=app_url, smtp_url=url)) == SmtpTransport(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://mail.example.com", "must start with smtp:// or smtps://, not http://"),
        ("mail.example.com:587", "must start with smtp:// or smtps://"),
        ("smtp://", "needs a mail server's host"),
        ("smtp://mail.example.com:not-a-port", "numeric port"),
    ],
)
def test_a_malformed_smtp_url_is_refused(url, reason):
    with pytest.raises(MailSettingsError, match=reason):
        transport_for(Settings(smtp_url=url))


def test_the_password_in_smtp_url_is_never_in_a_refusal():
    with pytest.raises(MailSettingsError) as refused:
        transport_for(Settings(smtp_url="smtp://user:hunter2@"))
    assert "hunter2" not in str(refused.value)


def test_serving_refuses_a_public_app_url_without_smtp_url():
    """build_api is what the app runs when it starts serving: payments are fine here, mail
    is not, and the start stops with the mail reason."""
    with pytest.raises(UnsafeSettings, match="SMTP_URL is not set"):
        build_api(Settings(app_url="https://credits.example.com", **STRIPE))


def test_serving_starts_with_smtp_url_on_a_public_app_url():
    settings = Settings(
        app_url="https://credits.example.com", smtp_url="smtp://mail.example.com:587", **STRIPE
    )
    assert build_api(settings) is not None


@pytest.mark.parametrize(
    ("env", "required"),
    [
        ({"app_url": "http://localhost:3000"}, False),
        ({"app_url": "https://credits.example.com"}, True),
        ({"app_url": "https://credits.example.com", "require_verified_email": False}, False),
        ({"app_url": "http://localhost:3000", "require_verified_email": True}, True),
    ],
)
def test_verified_email_is_required_by_default_on_a_public_app_url(env, required):
    assert Settings(**env).verified_email_required is required
