"""The staff roles. They live in core because the permission matrix (``dashboard.permissions``)
is keyed on them and must not depend on the models; ``dashboard.models`` stores them."""

from __future__ import annotations

import enum


class StaffRole(enum.StrEnum):
    ADMIN = "ADMIN"
    SUPPORT = "SUPPORT"
    EDITOR = "EDITOR"
