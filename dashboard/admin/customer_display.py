"""How the customer page shows a profile: which fields a role may see, and their values as
staff read them (times in UTC, money in its currency)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dashboard.models import StaffRole
from dashboard.permissions import Op, can, visible_fields
from dashboard.services.customer_overview import Profile

# Stripe amounts are in the currency's smallest unit; these currencies have no decimals.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    value: str


@dataclass(frozen=True)
class FieldRule:
    key: str
    label: str
    reveals: str  # the User attribute the field shows (what visible_fields limits)
    model: str | None = None  # another model the role must be allowed to VIEW


PROFILE_FIELDS = (
    FieldRule("id", "Id", "id"),
    FieldRule("email", "Email", "email"),
    FieldRule("name", "Name", "name"),
    FieldRule("created_at", "Created", "created_at"),
    FieldRule("email_verified", "Email verified", "email_verified"),
    FieldRule("role", "Role", "role"),
    FieldRule("ban", "Ban", "role"),
    FieldRule("membership_status", "Membership status", "membership_status"),
    FieldRule("plan", "Plan", "stripe_product_id", "StripeProduct"),
    FieldRule("stripe_customer_id", "Stripe customer", "stripe_customer", "StripeCustomer"),
    FieldRule("tokens", "Token balance", "tokens"),
    FieldRule("tokens_expires_at", "Tokens expire", "tokens_expires_at"),
)


def when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "—"


def money(amount: int | None, currency: str | None) -> str:
    if amount is None or not currency:
        return "—"
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return f"{amount:,} {currency.upper()}"
    return f"{amount / 100:,.2f} {currency.upper()}"


def price(amount: int | None, currency: str | None, interval: str | None, count: int | None) -> str:
    shown = money(amount, currency)
    if not interval:
        return shown
    return f"{shown} every {count} {interval}s" if count and count > 1 else f"{shown}/{interval}"


def _value(key: str, profile: Profile) -> str | None:
    """The field's text, or None when there is nothing to show (the row is left out)."""
    if key == "email_verified":
        return when(profile.email_verified) if profile.email_verified else "no"
    if key == "role":
        staff = f" (staff: {profile.staff_role})" if profile.staff_role else ""
        return f"{profile.role}{staff}"
    if key == "ban":
        if profile.banned_at is None:
            return None
        until = f" until {when(profile.banned_until)}" if profile.banned_until else " (no end)"
        reason = f": {profile.ban_reason}" if profile.ban_reason else ""
        return f"since {when(profile.banned_at)} by {profile.banned_by}{until}{reason}"
    if key == "plan":
        if not profile.stripe_product_id:
            return "—"
        return f"{profile.plan_name or 'unknown product'} ({profile.stripe_product_id})"
    if key == "tokens" and profile.tokens < 0:
        # The seed application may take a balance below zero; Backoffice never does.
        return f"{profile.tokens} (below zero: deductions are refused until grants cover it)"
    if key == "tokens_expires_at":
        return when(profile.tokens_expires_at) if profile.tokens_expires_at else "never"
    value = getattr(profile, key)
    if isinstance(value, datetime):
        return when(value)
    return "—" if value is None else str(value)


def shown_fields(role: StaffRole | str | None, profile: Profile) -> list[Field]:
    """The profile fields ``role`` may see, in page order."""
    limit = visible_fields(role, "User")
    fields = []
    for rule in PROFILE_FIELDS:
        if limit is not None and rule.reveals not in limit:
            continue
        if rule.model is not None and not can(role, rule.model, Op.VIEW):
            continue
        value = _value(rule.key, profile)
        if value is not None:
            fields.append(Field(rule.key, rule.label, value))
    return fields
