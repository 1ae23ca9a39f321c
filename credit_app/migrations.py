"""Run Alembic from code: the app, the CLI and the tests all migrate the same way."""

from alembic.config import Config

from alembic import command
from credit_app.settings import PROJECT_ROOT, get_settings


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url or get_settings().database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str | None = None) -> None:
    command.upgrade(alembic_config(database_url), "head")
