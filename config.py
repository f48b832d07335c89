"""Backoffice configuration, read only from environment variables.

Pick a configuration with ``BACKOFFICE_ENV`` (``production`` | ``development`` | ``testing``).
The default is ``production`` so that a forgotten variable never loosens anything; the
development scripts set ``development`` explicitly. In development a ``.env`` file beside
this one is read first (it never overrides variables that are already set).
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DEV_SECRET_KEY = "development-only-not-secret"  # noqa: S105 - a marker production refuses


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says which and how to fix it."""


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")


def stripe_key_problem(key: str | None, env_name: str) -> str | None:
    """Why ``key`` must not be used in ``env_name``, or None. Never quotes the key: a live
    key in development or testing, or a test key in production, is refused."""
    if not key:
        return None
    if key.startswith(LIVE_KEY_PREFIXES):
        if env_name != "production":
            return (
                f"STRIPE_SECRET_KEY is a live-mode key, refused in {env_name}: use a test-mode "
                "key (sk_test_... or rk_test_...) outside production"
            )
        return None
    if key.startswith(TEST_KEY_PREFIXES):
        if env_name == "production":
            return (
                "STRIPE_SECRET_KEY is a test-mode key, refused in production: use a live-mode "
                "key (sk_live_... or rk_live_...)"
            )
        return None
    return (
        "STRIPE_SECRET_KEY is not a Stripe secret or restricted key (it must start with "
        "sk_live_, rk_live_, sk_test_ or rk_test_)"
    )


class Config:
    """Settings shared by every environment. Each value can be set by the variable of the
    same name; see README.md for the table."""

    ENV_NAME = "production"
    DEBUG = False
    TESTING = False

    def __init__(self) -> None:
        self.SECRET_KEY = env_str("SECRET_KEY")
        # None means "SQLite file in the instance folder", resolved by create_app because
        # only the app knows its instance path.
        self.DATABASE_URL = env_str("DATABASE_URL")
        self.DB_POOL_SIZE = env_int("DB_POOL_SIZE", 5)
        self.DB_MAX_OVERFLOW = env_int("DB_MAX_OVERFLOW", 10)
        self.DB_POOL_RECYCLE = env_int("DB_POOL_RECYCLE", 1800)
        self.DB_POOL_TIMEOUT = env_int("DB_POOL_TIMEOUT", 10)
        self.DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 5)
        # Milliseconds; 0 turns it off. Long CLI work (seeding, backups) sets its own.
        self.DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 30000)
        self.LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
        # Background jobs: RQ on Redis when REDIS_URL is set, else a thread of the web process.
        self.REDIS_URL = env_str("REDIS_URL")
        self.JOB_RUNNER = env_str("JOB_RUNNER")  # rq | thread | inline; None = decide
        self.JOB_TIMEOUT = env_int("JOB_TIMEOUT", 3600)
        self.RQ_QUEUE = env_str("RQ_QUEUE", "backoffice")
        # Stripe (see README, "Stripe"). Keys are never logged or shown.
        self.STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
        self.STRIPE_API_BASE = env_str("STRIPE_API_BASE")  # tests point it at a fake
        self.STRIPE_WEBHOOK_SECRETS = [
            part.strip()
            for part in (env_str("STRIPE_WEBHOOK_SECRETS") or "").split(",")
            if part.strip()
        ]
        self.STRIPE_TIMEOUT = env_int("STRIPE_TIMEOUT", 20)
        self.STRIPE_MAX_RETRIES = env_int("STRIPE_MAX_RETRIES", 4)
        self.STRIPE_RETRY_BASE_MS = env_int("STRIPE_RETRY_BASE_MS", 500)
        self.STRIPE_WEBHOOK_TOLERANCE = env_int("STRIPE_WEBHOOK_TOLERANCE", 300)
        self.STRIPE_REFRESH_MAX_AGE = env_int("STRIPE_REFRESH_MAX_AGE", 600)
        self.STRIPE_REFRESH_TIMEOUT = env_int("STRIPE_REFRESH_TIMEOUT", 3)
        self.STRIPE_CATALOG_REFRESH_INTERVAL = env_int("STRIPE_CATALOG_REFRESH_INTERVAL", 300)

    def validate(self) -> None:
        """Raise ConfigError for settings this environment must not run with."""
        problem = stripe_key_problem(self.STRIPE_SECRET_KEY, self.ENV_NAME)
        if problem:
            raise ConfigError(problem)
        if not self.SECRET_KEY or self.SECRET_KEY == DEV_SECRET_KEY or len(self.SECRET_KEY) < 32:
            raise ConfigError(
                "SECRET_KEY must be set to a random value of at least 32 characters in "
                'production, e.g. python -c "import secrets; print(secrets.token_hex(32))"'
            )


class ProductionConfig(Config):
    pass


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    DEBUG = True

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = self.SECRET_KEY or DEV_SECRET_KEY

    def validate(self) -> None:
        problem = stripe_key_problem(self.STRIPE_SECRET_KEY, self.ENV_NAME)
        if problem:
            raise ConfigError(problem)


class TestingConfig(DevelopmentConfig):
    ENV_NAME = "testing"
    DEBUG = False
    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        self.DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 60000)
        self.JOB_RUNNER = "inline"


CONFIGS: dict[str, type[Config]] = {
    "production": ProductionConfig,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}


def load_dotenv_for_development() -> None:
    """Read .env in development only: production takes its settings from the process
    environment so that a stray file on a server cannot change them."""
    if os.environ.get("BACKOFFICE_ENV", "production") != "development":
        return
    dotenv = BASE_DIR / ".env"
    if dotenv.exists():
        from dotenv import load_dotenv

        load_dotenv(dotenv, override=False)


def get_config(name: str | None = None) -> Config:
    """Build the configuration object for ``name`` (default: ``BACKOFFICE_ENV``)."""
    load_dotenv_for_development()
    name = name or os.environ.get("BACKOFFICE_ENV", "production")
    try:
        cls = CONFIGS[name]
    except KeyError:
        raise ConfigError(
            f"BACKOFFICE_ENV must be one of {', '.join(CONFIGS)}, got {name!r}"
        ) from None
    return cls()
