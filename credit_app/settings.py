"""One Settings object, read from the environment (DESIGN.md section 5)."""

from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    # SQLite file by default so the app runs with no other service; a postgresql+psycopg://
    # URL switches to PostgreSQL with no code change.
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'credit_app.db'}"
    initial_credits: int = Field(default=100, ge=0)
    # Below this many available credits, every signed-in page shows a low-balance banner.
    low_balance_threshold: int = Field(default=20, ge=0)
    # Sessions last this long after sign-in; a sliding expiry would let a stolen token live on.
    session_ttl_hours: int = Field(default=24 * 14, gt=0)
    # Login throttling: after this many failures for one email, each further attempt must
    # wait twice as long as the previous one (capped).
    login_free_failures: int = Field(default=3, ge=1)
    login_max_delay_seconds: int = Field(default=300, gt=0)

    # Where people reach the app; Stripe's return URLs and the embedded sandbox use it.
    app_url: str = "http://localhost:3000"

    # No STRIPE_SECRET_KEY: the app serves a local Stripe sandbox itself (DESIGN.md 6).
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    redis_url: str | None = None

    @property
    def session_ttl(self) -> timedelta:
        return timedelta(hours=self.session_ttl_hours)


@lru_cache
def get_settings() -> Settings:
    return Settings()
