"""TOTP (RFC 6238) second factor with pyotp: 6 digits, 30-second steps, one step of clock
drift either way, and no code accepted twice (the last used step is stored)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

import pyotp

ISSUER = "Backoffice"
STEP_SECONDS = 30


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code or by hand)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to (now, or one step before/after), or None when the
    code is wrong or that step (or a later one) was already used."""
    digits = "".join(ch for ch in code if ch.isdigit())
    if len(digits) != 6:
        return None
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        moment = _aware(now + timedelta(seconds=offset * STEP_SECONDS))
        if hmac.compare_digest(totp.at(moment), digits):
            step = totp.timecode(moment)
            if last_step is not None and step <= last_step:
                return None
            return step
    return None


def code_at(secret: str, moment: datetime) -> str:
    """The code an authenticator shows at ``moment`` (for tests and the CLI)."""
    return pyotp.TOTP(secret).at(_aware(moment))


def _aware(moment: datetime) -> datetime:
    # pyotp reads a naive datetime as local time; Backoffice's naive datetimes are UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
