"""The security settings: read from the environment, safe by default, documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, get_config

README = Path(__file__).resolve().parents[2] / "README.md"
SECURITY_SETTINGS = (
    "REQUIRE_TOTP",
    "SESSION_IDLE_MINUTES",
    "SESSION_MAX_HOURS",
    "SIGN_IN_MAX_FAILURES",
    "SIGN_IN_LOCKOUT_MINUTES",
    "SIGN_IN_LOCKOUT_MAX_MINUTES",
    "SIGN_IN_IP_LIMIT",
    "SIGN_IN_IP_WINDOW_MINUTES",
    "PASSWORD_MIN_LENGTH",
    "SESSION_COOKIE_SECURE",
    "HSTS_SECONDS",
    "PROXY_FIX_HOPS",
    "EXPORT_MAX_ROWS",
)


def test_every_security_setting_has_a_row_in_the_readme_table():
    text = README.read_text()
    for name in SECURITY_SETTINGS:
        assert f"`{name}`" in text, name


def test_production_defaults_are_the_strict_ones(monkeypatch):
    for name in SECURITY_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    production, development = get_config("production"), get_config("development")
    assert production.REQUIRE_TOTP and production.SESSION_COOKIE_SECURE
    assert production.HSTS_SECONDS == 31536000
    assert not development.REQUIRE_TOTP and not development.SESSION_COOKIE_SECURE
    assert (production.SESSION_IDLE_MINUTES, production.SESSION_MAX_HOURS) == (30, 8)


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("REQUIRE_TOTP", "true")
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "10")
    monkeypatch.setenv("PASSWORD_MIN_LENGTH", "8")
    config = get_config("development")
    assert config.REQUIRE_TOTP and config.SESSION_IDLE_MINUTES == 10
    assert config.PASSWORD_MIN_LENGTH == 12  # never below 12


@pytest.mark.parametrize("name", ["SESSION_IDLE_MINUTES", "SIGN_IN_IP_LIMIT", "EXPORT_MAX_ROWS"])
def test_a_setting_that_would_turn_a_control_off_is_refused(monkeypatch, name):
    monkeypatch.setenv(name, "0")
    with pytest.raises(ConfigError, match=f"{name} must be greater than zero"):
        get_config("development").validate()
