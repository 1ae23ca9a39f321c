"""The application clock's test-only offset: honoured on a loopback sandbox, refused at
start-up wherever credits could expire on a made-up date."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from credit_app import clock
from credit_app.models import utcnow
from credit_app.settings import Settings, get_settings


@pytest.mark.parametrize(
    "env",
    [
        {"PAYMENTS": "stripe", "APP_URL": "http://localhost:3000"},
        {"PAYMENTS": "sandbox", "APP_URL": "https://credits.example.com"},
    ],
)
def test_an_offset_is_refused_with_real_payments_or_a_public_address(monkeypatch, env):
    for name, value in {**env, "CLOCK_OFFSET_SECONDS": "86400"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="CLOCK_OFFSET_SECONDS is for tests"):
        Settings()


def test_the_clock_moves_by_the_offset_on_a_loopback_sandbox(monkeypatch):
    monkeypatch.setenv("PAYMENTS", "sandbox")
    monkeypatch.setenv("APP_URL", "http://127.0.0.1:3000")
    monkeypatch.setenv("CLOCK_OFFSET_SECONDS", str(3 * 86400))
    get_settings.cache_clear()
    try:
        ahead = clock.now() - utcnow()
        assert timedelta(days=3) - timedelta(seconds=5) < ahead <= timedelta(days=3)
    finally:
        get_settings.cache_clear()
