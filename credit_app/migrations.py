"""Run Alembic from code: the app, the CLI and the tests all prepare a database the same way."""

from alembic.config import Config

from alembic import command
from credit_app.billing.catalog import sync_plans
from credit_app.db import make_engine, session_scope
from credit_app.settings import PROJECT_ROOT, get_settings


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url or get_settings().database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str | None = None) -> None:
    """Migrate to the latest schema, then copy the plan catalog (plans.toml) into it."""
    url = database_url or get_settings().database_url
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            sync_plans(session)
    finally:
        engine.dispose()
