"""Staff: the people who sign in to Backoffice.

``accounts`` creates, invites, changes and deactivates staff members; ``credentials`` owns
passwords (``passwords``), TOTP (``totp``) and recovery codes; ``sign_in`` checks a sign-in
attempt, counts failures and locks accounts.
"""
