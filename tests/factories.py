"""Small row factories: each adds a valid row to the session, flushes, and returns it.
Keyword arguments override any column."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import (
    Account,
    BlogPost,
    PaymentHistory,
    Session,
    StaffAccount,
    StaffRole,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    User,
    UserRole,
    UserSubscription,
    utcnow,
)

if TYPE_CHECKING:
    from dashboard.services.staff.passwords import PasswordPolicy

_sequence = itertools.count(1)


def _add(row: Any) -> Any:
    db.session.add(row)
    db.session.flush()
    return row


def make_user(**overrides: Any) -> User:
    number = next(_sequence)
    values: dict[str, Any] = {"email": f"user{number}@example.com", "name": f"User {number}"}
    values.update(overrides)
    return _add(User(**values))


def make_product(**overrides: Any) -> StripeProduct:
    number = next(_sequence)
    values: dict[str, Any] = {"id": f"prod_test{number}", "name": f"Plan {number}", "tokens": 10}
    values.update(overrides)
    return _add(StripeProduct(**values))


def make_price(product: StripeProduct | None = None, **overrides: Any) -> StripePrice:
    number = next(_sequence)
    product = product or make_product()
    values: dict[str, Any] = {
        "id": f"price_test{number}",
        "product_id": product.id,
        "unit_amount": 900,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "type": "recurring",
    }
    values.update(overrides)
    return _add(StripePrice(**values))


def make_customer(user: User, **overrides: Any) -> StripeCustomer:
    values: dict[str, Any] = {
        "user_id": user.id,
        "stripe_customer_id": f"cus_test{next(_sequence)}",
    }
    values.update(overrides)
    return _add(StripeCustomer(**values))


def make_subscription(
    user: User, price: StripePrice | None = None, **overrides: Any
) -> UserSubscription:
    price = price or make_price()
    now = utcnow()
    values: dict[str, Any] = {
        "user_id": user.id,
        "stripe_subscription_id": f"sub_test{next(_sequence)}",
        "stripe_product_id": price.product_id,
        "stripe_price_id": price.id,
        "status": "active",
        "current_period_start": now - timedelta(days=3),
        "current_period_end": now + timedelta(days=27),
    }
    values.update(overrides)
    return _add(UserSubscription(**values))


def make_payment(user: User, **overrides: Any) -> PaymentHistory:
    values: dict[str, Any] = {
        "user_id": user.id,
        "stripe_payment_intent_id": f"pi_test{next(_sequence)}",
        "amount": 900,
        "currency": "usd",
        "status": "succeeded",
    }
    values.update(overrides)
    return _add(PaymentHistory(**values))


def make_account(user: User, **overrides: Any) -> Account:
    values: dict[str, Any] = {
        "user_id": user.id,
        "type": "oauth",
        "provider": "google",
        "provider_account_id": str(next(_sequence)),
        "access_token": "ya29.secret-access",
        "refresh_token": "1//secret-refresh",
        "id_token": "eyJ.secret-id",
    }
    values.update(overrides)
    return _add(Account(**values))


def make_session(user: User, **overrides: Any) -> Session:
    values: dict[str, Any] = {
        "user_id": user.id,
        "session_token": f"secret-session-{next(_sequence)}",
        "expires": utcnow() + timedelta(days=30),
    }
    values.update(overrides)
    return _add(Session(**values))


def make_post(user: User, **overrides: Any) -> BlogPost:
    number = next(_sequence)
    original = overrides.pop("original_text", f"Original text number {number}.")
    values: dict[str, Any] = {
        "user_id": user.id,
        "title": f"Post {number}",
        "content": "## Hello\n\nBody.",
        "original_text": original,
        "character_count": len(original),
    }
    values.update(overrides)
    return _add(BlogPost(**values))


STAFF_PASSWORD = "correct horse battery staple"


def password_policy() -> PasswordPolicy:
    """The current app's password policy, built as its doors build it."""
    from dashboard.services.staff.passwords import PasswordPolicy

    return PasswordPolicy.from_config(current_app.config)


def make_staff(
    role: StaffRole | str = "ADMIN",
    *,
    password: str = STAFF_PASSWORD,
    user: User | None = None,
    **overrides: Any,
) -> StaffAccount:
    """A staff account that can sign in with ``password``, on a new user unless one is
    given; ADMIN staff get an ADMIN user, as `flask setup-admin` makes them."""
    from dashboard.services.staff.passwords import hash_password

    role = StaffRole(role)
    if user is None:
        user = make_user(role=UserRole.ADMIN if role == StaffRole.ADMIN else UserRole.USER)
    values: dict[str, Any] = {
        "user_id": user.id,
        "role": role,
        "password_hash": hash_password(password, policy=password_policy()),
        "recovery_code_hashes": [],
    }
    values.update(overrides)
    return _add(StaffAccount(**values))


def staff_actor(staff: StaffAccount) -> Actor:
    """The Actor a signed-in staff member acts as."""
    return Actor(
        label=f"staff:{staff.user.email}",
        staff_id=staff.id,
        user_id=staff.user_id,
        role=staff.role.value,
        ip="127.0.0.1",
    )


def make_job(**overrides: Any) -> Any:
    from dashboard.models import Job, JobStatus

    values: dict[str, Any] = {
        "kind": "stripe_resync",
        "status": JobStatus.SUCCEEDED,
        "params": {"only": ["products"], "dry_run": False},
        "requested_by_label": "cli",
    }
    values.update(overrides)
    return _add(Job(**values))


def make_stripe_event(**overrides: Any) -> Any:
    from dashboard.models import StripeEventRecord

    number = next(_sequence)
    event_id = overrides.pop("id", f"evt_test_{number:06d}")
    event_type = overrides.pop("type", "customer.subscription.updated")
    values: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "created": utcnow(),
        "livemode": False,
        "payload": {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "data": {"object": {"id": f"sub_test_{number}", "object": "subscription"}},
        },
        "received_at": utcnow(),
    }
    values.update(overrides)
    return _add(StripeEventRecord(**values))
