"""Backoffice configuration, read only from environment variables.

Pick a configuration with ``BACKOFFICE_ENV`` (``production`` | ``development`` | ``testing``).
The default is ``production`` so that a forgotten variable never loosens anything; the
development scripts set ``development`` explicitly. In development a ``.env`` file beside
this one is read first (it never overrides variables that are already set).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DEV_SECRET_KEY = "development-only-not-secret"  # noqa: S105 - a marker production refuses
LOG_FORMATS = ("text", "json")


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
        # The PostgreSQL schema holding every table, function and the migration history that
        # Backoffice owns, apart from the seed application's `public` (Prisma never looks in
        # another schema). SQLite has no schemas: there it is ignored.
        self.BACKOFFICE_DB_SCHEMA = env_str("BACKOFFICE_DB_SCHEMA", "backoffice")
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", self.BACKOFFICE_DB_SCHEMA or "") or (
            self.BACKOFFICE_DB_SCHEMA in ("public", "pg_catalog", "information_schema")
        ):
            raise ConfigError(
                "BACKOFFICE_DB_SCHEMA must be a lower-case PostgreSQL name (letters, digits, "
                f"underscores) other than public, got {self.BACKOFFICE_DB_SCHEMA!r}"
            )
        self.LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
        # "text" for people reading a terminal, "json" for a log pipeline: one object a line.
        self.LOG_FORMAT = env_str("LOG_FORMAT", "text")
        if self.LOG_FORMAT not in LOG_FORMATS:
            raise ConfigError(f"LOG_FORMAT must be text or json, got {self.LOG_FORMAT!r}")
        # Backups: where `flask backup create` writes (None = instance/backups), and where
        # PostgreSQL's pg_dump/pg_restore live when the ones on PATH are older than the server.
        self.BACKUP_DIR = env_str("BACKUP_DIR")
        self.PG_BIN_DIR = env_str("PG_BIN_DIR")
        # Background jobs: RQ on Redis when REDIS_URL is set, else a thread of the web process.
        self.REDIS_URL = env_str("REDIS_URL")
        self.JOB_RUNNER = env_str("JOB_RUNNER")  # rq | thread | inline; None = decide
        self.JOB_TIMEOUT = env_int("JOB_TIMEOUT", 3600)
        # Home dashboard
        self.STATS_CACHE_SECONDS = env_int("STATS_CACHE_SECONDS", 60)
        # Benchmarks only: SQL statements per request in an X-SQL-Statements header.
        self.BENCH_SQL_COUNT = env_bool("BENCH_SQL_COUNT", False)
        # AI post generation (OpenAI). No key means generation is off and nothing is charged.
        self.OPENAI_API_KEY = env_str("OPENAI_API_KEY")
        self.OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
        self.OPENAI_TEXT_MODEL = env_str("OPENAI_TEXT_MODEL", "gpt-5.5")
        # DALL-E 2/3 were retired on 2026-05-12; GPT image models answer in base64 only.
        self.OPENAI_IMAGE_MODEL = env_str("OPENAI_IMAGE_MODEL", "gpt-image-2")
        self.OPENAI_IMAGE_SIZE = env_str("OPENAI_IMAGE_SIZE", "1536x1024")
        self.OPENAI_TIMEOUT = env_int("OPENAI_TIMEOUT", 180)  # seconds per HTTP attempt
        self.OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 2)
        self.OPENAI_MAX_OUTPUT_TOKENS = env_int("OPENAI_MAX_OUTPUT_TOKENS", 16000)
        # Off by default: otherwise OpenAI keeps the customer's text for 30 days.
        self.OPENAI_STORE = env_bool("OPENAI_STORE", False)
        # Generation jobs with no sign of life for this long are failed and refunded by
        # `flask posts sweep-stuck`; keep it above the longest possible run (see README).
        self.POSTS_STUCK_AFTER_MINUTES = env_int("POSTS_STUCK_AFTER_MINUTES", 30)
        # Generated images. None means the "media" folder in the instance folder.
        self.MEDIA_BACKEND = env_str("MEDIA_BACKEND", "local")
        self.MEDIA_ROOT = env_str("MEDIA_ROOT")
        self.MEDIA_BASE_URL = env_str("MEDIA_BASE_URL", "/media/")
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
        # The largest refund SUPPORT may make, in the currency's smallest unit (cents).
        self.SUPPORT_REFUND_LIMIT = env_int("SUPPORT_REFUND_LIMIT", 5000)
        self._init_security()

    def _init_security(self) -> None:
        """Sign-in, session and response-header settings (rows in README's configuration table)."""
        production = self.ENV_NAME == "production"
        # TOTP is required for ADMIN staff; off by default only where nothing is real.
        self.REQUIRE_TOTP = env_bool("REQUIRE_TOTP", production)
        self.SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30)
        self.SESSION_MAX_HOURS = env_int("SESSION_MAX_HOURS", 8)
        self.SIGN_IN_MAX_FAILURES = env_int("SIGN_IN_MAX_FAILURES", 5)
        self.SIGN_IN_LOCKOUT_MINUTES = env_int("SIGN_IN_LOCKOUT_MINUTES", 15)
        self.SIGN_IN_LOCKOUT_MAX_MINUTES = env_int("SIGN_IN_LOCKOUT_MAX_MINUTES", 24 * 60)
        self.SIGN_IN_IP_LIMIT = env_int("SIGN_IN_IP_LIMIT", 20)
        self.SIGN_IN_IP_WINDOW_MINUTES = env_int("SIGN_IN_IP_WINDOW_MINUTES", 15)
        self.PASSWORD_MIN_LENGTH = max(12, env_int("PASSWORD_MIN_LENGTH", 12))
        # How many reverse proxies in front of Backoffice set X-Forwarded-For/-Proto; 0
        # trusts none (the per-IP limit then sees the proxy's address).
        self.PROXY_FIX_HOPS = env_int("PROXY_FIX_HOPS", 0)
        self.HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000 if production else 0)
        self.EXPORT_MAX_ROWS = env_int("EXPORT_MAX_ROWS", 10000)
        # Flask's own cookie settings. The session cookie never outlives the browser
        # ("remember me" does not exist); SESSION_MAX_HOURS ends it on the server side.
        self.SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", production)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        # A CSRF token lives as long as the longest possible session.
        self.WTF_CSRF_TIME_LIMIT = self.SESSION_MAX_HOURS * 3600
        # argon2id parameters: argon2-cffi's RFC 9106 low-memory profile unless "cheap"
        # (tests only: hashing thousands of passwords at production cost is pointless).
        self.PASSWORD_HASH_PROFILE = "rfc9106-low-memory"

    def _check_security(self) -> None:
        for name in (
            "SESSION_IDLE_MINUTES",
            "SESSION_MAX_HOURS",
            "SIGN_IN_MAX_FAILURES",
            "SIGN_IN_LOCKOUT_MINUTES",
            "SIGN_IN_LOCKOUT_MAX_MINUTES",
            "SIGN_IN_IP_LIMIT",
            "SIGN_IN_IP_WINDOW_MINUTES",
            "EXPORT_MAX_ROWS",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be greater than zero")
        if self.PROXY_FIX_HOPS < 0 or self.HSTS_SECONDS < 0:
            raise ConfigError("PROXY_FIX_HOPS and HSTS_SECONDS cannot be negative")

    def validate(self) -> None:
        """Raise ConfigError for settings this environment must not run with."""
        self._check_security()
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
        self._check_security()
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
        self.PASSWORD_HASH_PROFILE = "cheap"


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
