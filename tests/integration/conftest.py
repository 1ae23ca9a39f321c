"""Fixtures for tests of services that use the app's default engine."""

import pytest

from credit_app import db, settings


@pytest.fixture
def app_db(database_url, monkeypatch, engine):
    """Services that use the app's default engine: point it at this test's database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    yield engine
    db.get_engine().dispose()
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
