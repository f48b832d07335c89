"""Demo users and their sign-in rows: the User row (role and membership follow from the
subscriptions by the Stripe sync's rule), the ledger row that explains an opening balance,
and the NextAuth accounts, sessions and pending verification tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboard.demo.rows import Mint, Table
from dashboard.services.membership import derive_user_state


def people_tables() -> tuple[Table, Table, Table, Table, Table]:
    """Empty User, ledger, Account, Session and VerificationToken tables for one chunk."""
    users = Table(
        "User",
        (
            "id",
            "email",
            "name",
            "role",
            "stripeProductId",
            "membershipStatus",
            "tokens",
            "tokensExpiresAt",
            "emailVerified",
            "image",
            "createdAt",
            "updatedAt",
        ),
    )
    ledger = Table(
        "bo_token_ledger",
        (
            "user_id",
            "delta",
            "balance_after",
            "kind",
            "reason",
            "expires_at",
            "actor_label",
            "created_at",
        ),
    )
    accounts = Table(
        "Account",
        (
            "id",
            "userId",
            "type",
            "provider",
            "providerAccountId",
            "refresh_token",
            "access_token",
            "expires_at",
            "token_type",
            "scope",
            "id_token",
            "session_state",
        ),
    )
    sessions = Table("Session", ("id", "sessionToken", "userId", "expires"))
    tokens = Table("VerificationToken", ("identifier", "token", "expires"))
    return users, ledger, accounts, sessions, tokens


def person_rows(
    mint: Mint,
    users: Table,
    ledger: Table,
    *,
    index: int,
    forced: int,
    user_id: str,
    email: str,
    name: str,
    created: datetime,
    verified: datetime | None,
    statuses: list[str],
    product_for_user: str | None,
    period_end: datetime | None,
) -> None:
    """The User row for subscriptions ``statuses``, and the ledger row for its balance."""
    rng = mint.rng
    role, membership = derive_user_state(statuses)
    if role == "USER":
        product_for_user = None
    # ADMIN and BANNED are set by people, not by Stripe; they keep their plan.
    if index % 997 == 10:
        role = "ADMIN"
    elif forced in (11, 12) or (forced > 20 and rng.random() < 0.01):
        role = "BANNED"
    balance = 0
    expires = None
    if role == "PREMIUM" and period_end is not None:
        balance = rng.randrange(0, 60)
        expires = period_end
    elif rng.random() < 0.05:
        balance = rng.randrange(1, 5)
        expires = mint.as_of + timedelta(days=rng.randrange(-20, 20))
    users.rows.append(
        (
            user_id,
            email,
            name,
            role,
            product_for_user,
            membership,
            balance,
            expires,
            verified,
            None,
            created,
            created,
        )
    )
    if balance:
        # The ledger explains every balance, so `flask tokens check` is clean.
        ledger.rows.append(
            (
                user_id,
                balance,
                balance,
                "OPENING_BALANCE",
                "Demo opening balance",
                expires,
                "seed-demo",
                created,
            )
        )


def identity_rows(
    mint: Mint,
    accounts: Table,
    sessions: Table,
    tokens: Table,
    *,
    user_id: str,
    email: str,
    created: datetime,
    verified: datetime | None,
) -> None:
    """NextAuth rows: an OAuth account, live or expired sessions, a pending sign-in."""
    rng = mint.rng
    provider_roll = rng.random()
    if provider_roll < 0.85:
        provider = "google" if provider_roll < 0.6 else "github"
        account_id = str(10**15 + mint.next_number("provider_account"))
        accounts.rows.append(
            (
                mint.cuid("account"),
                user_id,
                "oauth",
                provider,
                account_id,
                f"1//demo-refresh-{rng.getrandbits(64):x}",
                f"ya29.demo-access-{rng.getrandbits(96):x}",
                int(created.timestamp()) + 3600,
                "Bearer",
                "openid email profile",
                f"eyJdemo.{rng.getrandbits(64):x}",
                None,
            )
        )
    if rng.random() < 0.4:
        for _ in range(1 + (rng.random() < 0.3)):
            sessions.rows.append(
                (
                    mint.cuid("session"),
                    f"{rng.getrandbits(128):032x}",
                    user_id,
                    mint.as_of + timedelta(days=rng.randrange(-10, 30)),
                )
            )
    if verified is None and rng.random() < 0.05:
        tokens.rows.append(
            (email, f"{rng.getrandbits(128):032x}", mint.as_of + timedelta(hours=24))
        )
