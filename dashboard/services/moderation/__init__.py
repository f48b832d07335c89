"""Moderation: ban, unban and sign-out, and who may do them to whom.

``bans`` acts on one user, ``bulk`` on a selection; both end the user's sessions in the
same transaction as the ban.
"""

from dashboard.services.moderation.bans import (
    ModerationResult,
    sessions_revoke_in_transaction,
    user_ban,
    user_sign_out_everywhere,
    user_unban,
    users_expire_bans,
)
from dashboard.services.moderation.bulk import BulkBanResult, users_ban_bulk

__all__ = [
    "BulkBanResult",
    "ModerationResult",
    "sessions_revoke_in_transaction",
    "user_ban",
    "user_sign_out_everywhere",
    "user_unban",
    "users_ban_bulk",
    "users_expire_bans",
]
