"""Moderation: ban, unban and sign-out, and who may do them to whom.

``bans`` acts on one user, ``bulk`` on a selection; both end the user's sessions in the
same transaction as the ban.
"""
