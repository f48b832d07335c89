"""The one clock that sign-in, lockouts and session timeouts read.

Code calls ``clock.now()`` through the module (``from dashboard.core import clock``) so that tests
can move time with ``monkeypatch.setattr("dashboard.core.clock.now", ...)`` instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current UTC time as a naive datetime with millisecond precision, as Prisma stores it."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def now() -> datetime:
    """The current UTC time, naive, as the database stores it."""
    return utcnow()


def epoch(moment: datetime) -> int:
    """Whole seconds since 1970 for a naive UTC datetime (what the session cookie holds)."""
    return int(moment.replace(tzinfo=UTC).timestamp())
