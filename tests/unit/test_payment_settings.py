"""The payment mode is explicit, and unsafe combinations stop the start with a reason."""

import pytest

from credit_app.billing.payments import UnsafeSettings, payment_settings, shows_test_ribbon
from credit_app.settings import Settings, is_loopback_host


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (
        "PAYMENTS",
        "APP_URL",
        "ALLOW_PUBLIC_SANDBOX",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_API_BASE",
        "REDIS_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def _settings(monkeypatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_unset_mode_is_refused(monkeypatch):
    with pytest.raises(UnsafeSettings, match="PAYMENTS is not set"):
        payment_settings(_settings(monkeypatch))


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"STRIPE_WEBHOOK_SECRET": "whsec_x"}, "STRIPE_SECRET_KEY"),
        ({"STRIPE_SECRET_KEY": "", "STRIPE_WEBHOOK_SECRET": "whsec_x"}, "STRIPE_SECRET_KEY"),
        ({"STRIPE_SECRET_KEY": "sk_test_1"}, "STRIPE_WEBHOOK_SECRET"),
        (
            {"STRIPE_SECRET_KEY": "sk_live_1", "STRIPE_WEBHOOK_SECRET": "  "},
            "STRIPE_WEBHOOK_SECRET",
        ),
    ],
)
def test_stripe_mode_needs_both_secrets_and_blank_counts_as_unset(monkeypatch, env, missing):
    with pytest.raises(UnsafeSettings, match=f"needs {missing}"):
        payment_settings(_settings(monkeypatch, PAYMENTS="stripe", **env))


@pytest.mark.parametrize(
    ("key", "secret", "reason"),
    [
        ("pk_live_x", "whsec_x", "secret or restricted key"),
        ("sk_live_x", "not-a-secret", "endpoint secret"),
    ],
)
def test_stripe_mode_refuses_values_that_are_not_what_they_claim(monkeypatch, key, secret, reason):
    settings = _settings(
        monkeypatch, PAYMENTS="stripe", STRIPE_SECRET_KEY=key, STRIPE_WEBHOOK_SECRET=secret
    )
    with pytest.raises(UnsafeSettings, match=reason):
        payment_settings(settings)


@pytest.mark.parametrize(
    ("key", "test_mode", "livemode"),
    [("sk_test_1", True, False), ("rk_test_1", True, False), ("sk_live_1", False, True)],
)
def test_stripe_keys_say_whether_payments_are_real(monkeypatch, key, test_mode, livemode):
    payments = payment_settings(
        _settings(
            monkeypatch, PAYMENTS="stripe", STRIPE_SECRET_KEY=key, STRIPE_WEBHOOK_SECRET="whsec_w"
        )
    )
    assert (payments.test_mode, payments.livemode) == (test_mode, livemode)


@pytest.mark.parametrize(
    "app_url", ["https://credits.example.com", "http://10.0.0.5:3000", "http://0.0.0.0:3000"]
)
def test_sandbox_on_a_reachable_address_is_refused(monkeypatch, app_url):
    with pytest.raises(UnsafeSettings, match="not a loopback address"):
        payment_settings(_settings(monkeypatch, PAYMENTS="sandbox", APP_URL=app_url))


def test_a_public_sandbox_needs_the_loud_opt_in(monkeypatch):
    payments = payment_settings(
        _settings(
            monkeypatch,
            PAYMENTS="sandbox",
            APP_URL="https://demo.example.com",
            ALLOW_PUBLIC_SANDBOX="true",
        )
    )
    assert payments.sandbox and payments.test_mode and not payments.livemode


@pytest.mark.parametrize(
    "extra",
    [
        {"STRIPE_SECRET_KEY": "sk_live_1"},
        {"STRIPE_API_BASE": "http://127.0.0.1:12111"},
        {"REDIS_URL": "redis://127.0.0.1:6379"},
    ],
)
def test_sandbox_refuses_settings_it_would_ignore_or_cannot_serve(monkeypatch, extra):
    with pytest.raises(UnsafeSettings):
        payment_settings(_settings(monkeypatch, PAYMENTS="sandbox", **extra))


def test_the_embedded_default_is_a_test_mode_sandbox(monkeypatch):
    settings = _settings(monkeypatch, PAYMENTS="sandbox", APP_URL="http://localhost:3000")
    assert payment_settings(settings).sandbox
    assert shows_test_ribbon(settings)
    assert not shows_test_ribbon(_settings(monkeypatch, PAYMENTS="stripe"))  # incomplete


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("app.localhost", True),
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("[::1]", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("localhost.example.com", False),
        ("10.0.0.1", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert is_loopback_host(host) is loopback


def test_browser_origins_are_app_urls_origin_in_every_loopback_spelling(monkeypatch):
    local = _settings(monkeypatch, APP_URL="http://localhost:3000/")
    assert local.browser_origins == [
        "http://localhost:3000",
        "http://127.0.0.1:3000",
        "http://[::1]:3000",
    ]
    public = _settings(monkeypatch, APP_URL="https://credits.example.com/app")
    assert public.browser_origins == ["https://credits.example.com"]
