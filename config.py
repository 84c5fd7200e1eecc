"""Settings for Intake, chosen by INTAKE_CONFIG and read from the environment.

Nothing here runs at import time: ``load()`` picks a class, instantiates it and
reads the environment then, so tests can set variables before building an app.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent
INSTANCE = ROOT / "instance"

TRUE = {"1", "true", "yes", "on"}


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in TRUE


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


class Config:
    """Defaults shared by every environment."""

    NAME = "base"
    TESTING = False
    DEBUG = False

    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    MAX_CONTENT_LENGTH = 64 * 1024
    # Flask-WTF tokens live as long as a patient might sensibly keep a page open.
    WTF_CSRF_TIME_LIMIT = 4 * 3600

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # Send the session cookie only when the session changed. Refreshing it on
    # every response (Flask's default for permanent sessions) lets a slow
    # stylesheet or favicon response, which carries the previous page's
    # cookie, land after a newer page's and undo what that page stored (seen:
    # the two-step set-up secret lost between showing it and checking it).
    # Staff pages change the session on every request (last_seen) anyway.
    SESSION_REFRESH_EACH_REQUEST = False
    INTAKE_SESSION_MAX_HOURS = 12

    MAIL_SUPPRESS_SEND = False
    RATELIMIT_HEADERS_ENABLED = False
    RATELIMIT_SWALLOW_ERRORS = True  # Redis down: patients are never turned away
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    INTAKE_SUBMIT_LIMIT = "5 per minute;30 per day"
    INTAKE_LOGIN_LIMIT = "10 per 15 minutes"
    INTAKE_PROXY_HOPS = 0
    INTAKE_HSTS = False
    INTAKE_CONSENT_VERSION = "2026-11-01"

    def __init__(self) -> None:
        env = os.environ
        self.SQLALCHEMY_DATABASE_URI = env.get("DATABASE_URL") or self.default_database_url()
        self.SECRET_KEY = env.get("SECRET_KEY") or self.default_secret_key()
        self.MAIL_SERVER = env.get("MAIL_SERVER") or None
        self.MAIL_PORT = env_int("MAIL_PORT", 25)
        self.MAIL_USE_TLS = env_bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = env.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = env.get("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = env.get("MAIL_DEFAULT_SENDER") or "intake@example.org"
        self.INTAKE_SMTP_TIMEOUT = env_float("INTAKE_SMTP_TIMEOUT", 10.0)
        self.INTAKE_BASE_URL = (env.get("INTAKE_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
        self.INTAKE_OUTBOX_INPROCESS = env_bool("INTAKE_OUTBOX_INPROCESS", True)
        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI") or "memory://"
        # One Redis shared by several deployments (or test runs) keeps their counters apart.
        self.RATELIMIT_KEY_PREFIX = env.get("RATELIMIT_KEY_PREFIX") or ""
        self.INTAKE_MIN_FILL_SECONDS = env_float("INTAKE_MIN_FILL_SECONDS", 3.0)
        self.INTAKE_CHECK_EMAIL_DNS = env_bool("INTAKE_CHECK_EMAIL_DNS", False)
        self.INTAKE_DEFAULT_LOCATION = env.get("INTAKE_DEFAULT_LOCATION") or "washington-dc"
        self.INTAKE_SLA_HOURS = env_float("INTAKE_SLA_HOURS", 4.0)
        self.INTAKE_IDLE_MINUTES = env_float("INTAKE_IDLE_MINUTES", 15.0)
        self.INTAKE_METRICS_TOKEN = env.get("INTAKE_METRICS_TOKEN") or None
        self.INTAKE_METRICS_ALLOW = [
            a.strip() for a in (env.get("INTAKE_METRICS_ALLOW") or "127.0.0.1,::1").split(",") if a.strip()
        ]
        if self.SQLALCHEMY_DATABASE_URI.startswith("sqlite"):
            # WAL lets readers and one writer work at once; the busy time-out
            # makes a second writer wait instead of failing.
            self.SQLALCHEMY_ENGINE_OPTIONS = {"connect_args": {"timeout": 15}}
        else:
            self.SQLALCHEMY_ENGINE_OPTIONS = {
                "pool_pre_ping": True,
                "pool_size": env_int("INTAKE_DB_POOL_SIZE", 5),
                "max_overflow": env_int("INTAKE_DB_MAX_OVERFLOW", 5),
            }

    def default_database_url(self) -> str:
        INSTANCE.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE / 'intake.db'}"

    def default_secret_key(self) -> str:
        """Keep one random key per checkout so sessions survive a restart."""
        INSTANCE.mkdir(exist_ok=True)
        path = INSTANCE / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()


class DevelopmentConfig(Config):
    NAME = "development"
    DEBUG = False


class TestingConfig(Config):
    NAME = "testing"
    TESTING = True
    WTF_CSRF_ENABLED = True

    def default_database_url(self) -> str:
        return "sqlite://"

    def default_secret_key(self) -> str:
        return "testing-" + "x" * 40

    def __init__(self) -> None:
        super().__init__()
        self.INTAKE_OUTBOX_INPROCESS = env_bool("INTAKE_OUTBOX_INPROCESS", False)
        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", False)
        self.INTAKE_MIN_FILL_SECONDS = env_float("INTAKE_MIN_FILL_SECONDS", 0.0)


class ProductionConfig(Config):
    NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    INTAKE_HSTS = True
    INTAKE_PROXY_HOPS = 1

    def default_database_url(self) -> str:
        return ""

    def default_secret_key(self) -> str:
        return ""


CONFIGS = {c.NAME: c for c in (DevelopmentConfig, TestingConfig, ProductionConfig)}


class ConfigError(RuntimeError):
    """Raised when the app must not start with the settings it was given."""


def load(name: str | None = None) -> Config:
    """Pick the settings class named by ``name`` or INTAKE_CONFIG and read the environment."""
    name = (name or os.environ.get("INTAKE_CONFIG") or "development").strip().lower()
    try:
        cls = CONFIGS[name]
    except KeyError:
        raise ConfigError(f"INTAKE_CONFIG must be one of {', '.join(CONFIGS)}, not {name!r}") from None
    config = cls()
    if name == "production":
        check_production(config)
    return config


WEAK_KEYS = {"", "dev", "development", "secret", "changeme", "change-me", "please-change-me"}


def check_production(config: Config) -> None:
    """Refuse to serve patients with a guessable key or a throwaway database."""
    key = config.SECRET_KEY or ""
    if key.lower() in WEAK_KEYS or len(key) < 32:
        raise ConfigError("production needs SECRET_KEY: a random value of at least 32 characters")
    if not config.SQLALCHEMY_DATABASE_URI:
        raise ConfigError("production needs DATABASE_URL (postgresql+psycopg://...)")
