"""Linking Stripe customers to users.

A customer is linked by ``metadata.userId`` when that user exists, else by email. The link
(``StripeCustomer``) is written once and never moved: ``INSERT ... ON CONFLICT DO NOTHING``
covers both of its unique keys (one customer per user, one user per customer), so two
concurrent deliveries cannot raise a unique-key error. A customer that matches no user, or
whose user is already linked to another customer, is kept in
``bo_stripe_unlinked_customer`` with the reason, and dropped from there once linked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import StripeCustomer, StripeUnlinkedCustomer, User, cuid, utcnow
from dashboard.services.stripe.mapping import CustomerIdentity, customer_identity
from dashboard.services.stripe.store import dialect_insert, pairs

ERR_NO_USER = "no user with id {hint} or email {email}"
ERR_TAKEN = "user {user_id} is already linked to Stripe customer {other}"


@dataclass
class LinkResult:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unlinked: dict[str, str] = field(default_factory=dict)  # customer id -> reason


def _match_users(identities: list[CustomerIdentity]) -> dict[str, str]:
    """Customer id -> user id, by metadata.userId first, then by email."""
    hints = {i.user_id_hint for i in identities if i.user_id_hint}
    emails = {e for i in identities if i.email for e in (i.email, i.email.lower())}
    by_id = (
        set(db.session.scalars(sa.select(User.id).where(User.id.in_(hints)))) if hints else set()
    )
    by_email: dict[str, str] = {}
    if emails:
        for user_id, email in db.session.execute(
            sa.select(User.id, User.email).where(User.email.in_(emails))
        ):
            by_email[email] = user_id
    matched = {}
    for identity in identities:
        if identity.user_id_hint in by_id:
            matched[identity.stripe_customer_id] = identity.user_id_hint
        elif identity.email and (identity.email in by_email or identity.email.lower() in by_email):
            matched[identity.stripe_customer_id] = by_email.get(
                identity.email, by_email.get(identity.email.lower())
            )
    return matched


def link_customers(objects: list[dict[str, Any]]) -> LinkResult:
    """Link the customers in ``objects`` to users, in the caller's transaction."""
    result = LinkResult()
    identities = {o["id"]: customer_identity(o) for o in objects if o.get("id")}
    if not identities:
        return result
    existing = pairs(
        sa.select(StripeCustomer.stripe_customer_id, StripeCustomer.user_id).where(
            StripeCustomer.stripe_customer_id.in_(identities)
        )
    )
    result.unchanged = sorted(existing)
    new = [identities[c] for c in sorted(identities) if c not in existing]
    matched = _match_users(new)
    rows = [
        {
            "id": cuid(),
            "userId": matched[i.stripe_customer_id],
            "stripeCustomerId": i.stripe_customer_id,
        }
        for i in new
        if i.stripe_customer_id in matched
    ]
    if rows:
        table = StripeCustomer.__table__
        stmt = dialect_insert(table).on_conflict_do_nothing().returning(table.c.stripeCustomerId)
        inserted = set(db.session.execute(stmt, rows).scalars())
        result.created = sorted(inserted)
        _explain_taken(result, [r for r in rows if r["stripeCustomerId"] not in inserted])
    for identity in new:
        if identity.stripe_customer_id not in matched:
            result.unlinked[identity.stripe_customer_id] = ERR_NO_USER.format(
                hint=identity.user_id_hint or "-", email=identity.email or "-"
            )
    _record_unlinked(result, identities)
    return result


def _explain_taken(result: LinkResult, rows: list[dict[str, str]]) -> None:
    if not rows:
        return
    owners = pairs(
        sa.select(StripeCustomer.user_id, StripeCustomer.stripe_customer_id).where(
            StripeCustomer.user_id.in_([r["userId"] for r in rows])
        )
    )
    for row in rows:
        other = owners.get(row["userId"])
        if other == row["stripeCustomerId"]:
            result.unchanged.append(other)  # a concurrent writer linked it just now
        else:
            result.unlinked[row["stripeCustomerId"]] = ERR_TAKEN.format(
                user_id=row["userId"], other=other or "-"
            )


def _record_unlinked(result: LinkResult, identities: dict[str, CustomerIdentity]) -> None:
    table = StripeUnlinkedCustomer.__table__
    if result.created:
        db.session.execute(sa.delete(table).where(table.c.stripe_customer_id.in_(result.created)))
    if not result.unlinked:
        return
    now = utcnow()
    rows = [
        {
            "stripe_customer_id": customer_id,
            "email": identities[customer_id].email,
            "name": identities[customer_id].name,
            "user_id_hint": identities[customer_id].user_id_hint,
            "reason": reason,
            "first_seen_at": now,
            "last_seen_at": now,
        }
        for customer_id, reason in sorted(result.unlinked.items())
    ]
    stmt = dialect_insert(table)
    excluded = stmt.excluded
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c.stripe_customer_id],
            set_={
                "email": excluded.email,
                "name": excluded.name,
                "user_id_hint": excluded.user_id_hint,
                "reason": excluded.reason,
                "last_seen_at": excluded.last_seen_at,
            },
        ),
        rows,
    )
