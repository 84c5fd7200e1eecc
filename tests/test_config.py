"""Settings: read from the environment when the app is built, strict in production."""

from __future__ import annotations

import pytest

import config
from intake import create_app


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("SECRET_KEY", "DATABASE_URL", "INTAKE_CONFIG", "INTAKE_MIN_FILL_SECONDS", "RATELIMIT_ENABLED",
                 "INTAKE_CHECK_EMAIL_DNS", "INTAKE_DEFAULT_LOCATION", "RATELIMIT_STORAGE_URI"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


GOOD_KEY = "f3a1" * 12
GOOD_DB = "postgresql+psycopg://intake@127.0.0.1:5432/intake"


def test_production_refuses_without_secret_key(clean_env):
    clean_env.setenv("DATABASE_URL", GOOD_DB)
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        config.load("production")


@pytest.mark.parametrize("key", ["changeme", "secret", "short-key", "dev"])
def test_production_refuses_a_weak_secret_key(clean_env, key):
    clean_env.setenv("DATABASE_URL", GOOD_DB)
    clean_env.setenv("SECRET_KEY", key)
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        config.load("production")


def test_production_refuses_without_database_url(clean_env):
    clean_env.setenv("SECRET_KEY", GOOD_KEY)
    with pytest.raises(config.ConfigError, match="DATABASE_URL"):
        config.load("production")


def test_create_app_refuses_too(clean_env):
    clean_env.setenv("INTAKE_CONFIG", "production")
    with pytest.raises(config.ConfigError):
        create_app()


def test_production_starts_with_both(clean_env):
    clean_env.setenv("SECRET_KEY", GOOD_KEY)
    clean_env.setenv("DATABASE_URL", GOOD_DB)
    settings = config.load("production")
    assert settings.SECRET_KEY == GOOD_KEY and settings.SQLALCHEMY_DATABASE_URI == GOOD_DB
    assert settings.SESSION_COOKIE_SECURE is True


def test_unknown_config_name_is_refused(clean_env):
    with pytest.raises(config.ConfigError, match="INTAKE_CONFIG"):
        config.load("staging")


def test_environment_is_read_at_load_time_not_import(clean_env):
    clean_env.setenv("INTAKE_MIN_FILL_SECONDS", "7")
    clean_env.setenv("INTAKE_CHECK_EMAIL_DNS", "yes")
    clean_env.setenv("INTAKE_DEFAULT_LOCATION", "columbia-md")
    first = config.load("testing")
    assert (first.INTAKE_MIN_FILL_SECONDS, first.INTAKE_CHECK_EMAIL_DNS, first.INTAKE_DEFAULT_LOCATION) == (
        7.0, True, "columbia-md")
    clean_env.setenv("INTAKE_MIN_FILL_SECONDS", "0")
    clean_env.setenv("INTAKE_CHECK_EMAIL_DNS", "false")
    second = config.load("testing")
    assert (second.INTAKE_MIN_FILL_SECONDS, second.INTAKE_CHECK_EMAIL_DNS) == (0.0, False)


def test_defaults_match_the_contract(clean_env):
    settings = config.load("development")
    assert settings.INTAKE_MIN_FILL_SECONDS == 3.0
    assert settings.INTAKE_CHECK_EMAIL_DNS is False
    assert settings.INTAKE_DEFAULT_LOCATION == "washington-dc"
    assert settings.RATELIMIT_ENABLED is True and settings.RATELIMIT_STORAGE_URI == "memory://"
    assert settings.MAX_CONTENT_LENGTH == 64 * 1024
    assert settings.INTAKE_SUBMIT_LIMIT == "5 per minute;30 per day"
    assert settings.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///") and "instance" in settings.SQLALCHEMY_DATABASE_URI


def test_config_picked_by_env_var(clean_env):
    clean_env.setenv("INTAKE_CONFIG", "testing")
    assert config.load().NAME == "testing"
