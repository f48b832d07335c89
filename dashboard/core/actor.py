"""Who is acting: a staff member through the browser, or the system (CLI, webhook, job)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """The author of a change, as the audit trail records it.

    ``staff_id`` is the StaffAccount id for people; ``label`` names the system door
    otherwise ("cli", "stripe-webhook", "job:..."). ``role`` is the staff role
    (ADMIN/SUPPORT/EDITOR) or None for the system, which may do anything.
    """

    label: str
    staff_id: str | None = None
    user_id: str | None = None
    role: str | None = None
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def system(cls, label: str) -> Actor:
        return cls(label=label)

    @property
    def is_system(self) -> bool:
        return self.staff_id is None
