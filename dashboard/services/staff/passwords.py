"""Password hashing (argon2id via argon2-cffi), the password rules and recovery codes.

Hash parameters and the minimum length come from ``PasswordPolicy``, which the door builds
from ``PASSWORD_HASH_PROFILE`` and ``PASSWORD_MIN_LENGTH``. A stored hash carries its own
parameters, so a hash made under one profile still verifies under another (verifying needs
no policy) and is upgraded (``needs_rehash``) at the next successful sign-in.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from argon2 import PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_PASSWORD_LENGTH = 1024
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)

ERR_TOO_SHORT = "The password must be at least {length} characters long."
ERR_TOO_LONG = f"The password must be at most {MAX_PASSWORD_LENGTH} characters long."
ERR_SAME_AS_EMAIL = "The password cannot be your email address."
DEFAULT_PROFILE = "rfc9106-low-memory"


@dataclass(frozen=True)
class PasswordPolicy:
    """How passwords are hashed and how long they must be, as plain values."""

    hash_profile: str = DEFAULT_PROFILE  # "cheap" for tests only
    min_length: int = 12

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PasswordPolicy:
        return cls(
            hash_profile=config.get("PASSWORD_HASH_PROFILE", DEFAULT_PROFILE),
            min_length=config.get("PASSWORD_MIN_LENGTH", 12),
        )


@cache
def _hasher(profile: str) -> PasswordHasher:
    if profile == "cheap":
        params = profiles.CHEAPEST
    else:
        params = profiles.RFC_9106_LOW_MEMORY
    assert params.type is Type.ID
    return PasswordHasher.from_parameters(params)


def hash_password(password: str, *, policy: PasswordPolicy) -> str:
    return _hasher(policy.hash_profile).hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; False for a wrong password or an unusable hash. The
    hash's own parameters are used, whatever the profile."""
    if not password_hash:
        return False
    try:
        return _hasher(DEFAULT_PROFILE).verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str, *, policy: PasswordPolicy) -> bool:
    return _hasher(policy.hash_profile).check_needs_rehash(password_hash)


@cache
def _dummy_hash(profile: str) -> str:
    return _hasher(profile).hash(secrets.token_hex(16))


def waste_time_like_a_verification(password: str, *, policy: PasswordPolicy) -> None:
    """Spend as long as a real check, so an unknown email answers no faster than a known one."""
    verify_password(_dummy_hash(policy.hash_profile), password)


def password_problem(
    password: str, *, policy: PasswordPolicy, email: str | None = None
) -> str | None:
    """Why ``password`` is not acceptable, or None."""
    minimum = policy.min_length
    if len(password) < minimum:
        return ERR_TOO_SHORT.format(length=minimum)
    if len(password) > MAX_PASSWORD_LENGTH:
        return ERR_TOO_LONG
    if email and password.strip().lower() == email.strip().lower():
        return ERR_SAME_AS_EMAIL
    return None


def generate_password() -> str:
    """A random temporary password (20 characters, ~100 bits), to be changed at first use."""
    return "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(5)) for _ in range(4))


def generate_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Fresh one-time recovery codes such as ``k7pq-3xmd-wr9a`` (~60 bits each)."""
    return [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(4)) for _ in range(3))
        for _ in range(count)
    ]


def normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def hash_recovery_code(code: str, *, policy: PasswordPolicy) -> str:
    return hash_password(normalize_recovery_code(code), policy=policy)


def match_recovery_code(hashes: list[str], code: str) -> int | None:
    """Index of the stored hash ``code`` matches, or None."""
    normalized = normalize_recovery_code(code)
    if len(normalized) != 12:
        return None
    for index, stored in enumerate(hashes):
        if verify_password(stored, normalized):
            return index
    return None
