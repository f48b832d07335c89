"""The promises of the shared data model, on PostgreSQL and on the embedded SQLite."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dashboard.extensions import db
from dashboard.models import (
    Account,
    BlogPost,
    MembershipStatus,
    PaymentHistory,
    Session,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    User,
    UserRole,
    UserSubscription,
    cuid,
)
from tests.factories import (
    make_account,
    make_customer,
    make_payment,
    make_post,
    make_price,
    make_product,
    make_session,
    make_subscription,
    make_user,
)

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_new_user_gets_prisma_defaults(app):
    user = make_user()
    db.session.commit()
    db.session.refresh(user)
    assert len(user.id) == 25 and user.id.startswith("c")
    assert user.role is UserRole.USER
    assert user.membership_status is MembershipStatus.ACTIVE
    assert user.tokens == 0
    assert user.created_at is not None and user.updated_at is not None


def test_email_is_unique(app):
    make_user(email="dup@example.com")
    db.session.commit()
    with pytest.raises(IntegrityError):
        make_user(email="dup@example.com")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).where(User.email == "dup@example.com")) == 1


def test_deleting_a_user_cascades_to_everything_they_own(app):
    user = make_user()
    other = make_user()
    price = make_price()
    make_account(user)
    make_session(user)
    make_post(user)
    make_subscription(user, price)
    make_payment(user)
    make_customer(user)
    make_payment(other)
    db.session.commit()

    db.session.delete(user)
    db.session.commit()

    for model in (Account, Session, BlogPost, UserSubscription, StripeCustomer):
        assert count(model) == 0, model.__name__
    assert count(PaymentHistory) == 1  # the other user's payment stays
    assert count(StripePrice) == 1  # the catalogue is not the user's


def test_a_product_with_prices_cannot_be_deleted(app):
    price = make_price()
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(sa.delete(StripeProduct).where(StripeProduct.id == price.product_id))
    db.session.rollback()
    assert count(StripeProduct) == 1


def test_deleting_a_product_clears_users_plan(app):
    product = make_product()
    user = make_user(stripe_product_id=product.id)
    db.session.commit()
    db.session.execute(sa.delete(StripeProduct).where(StripeProduct.id == product.id))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).stripe_product_id is None


def test_enum_values_are_those_of_the_schema(app):
    assert [role.value for role in UserRole] == ["USER", "PREMIUM", "ADMIN", "BANNED"]
    assert [s.value for s in MembershipStatus] == ["ACTIVE", "INACTIVE", "CANCELED", "PAST_DUE"]
    for role in UserRole:
        make_user(role=role)
    db.session.commit()
    stored = db.session.scalars(sa.select(User.role).order_by(User.email)).all()
    assert set(stored) == set(UserRole)


@pytest.mark.backends("postgresql")
def test_postgresql_rejects_a_role_outside_the_enum(app):
    with pytest.raises(sa.exc.DataError):
        db.session.execute(
            sa.text(
                'INSERT INTO "User" (id, email, role, "updatedAt") '
                "VALUES ('x', 'x@example.com', 'SUPERUSER', now())"
            )
        )
    db.session.rollback()


def test_updated_at_moves_on_update_and_created_at_does_not(app):
    user = make_user()
    db.session.commit()
    created, updated = user.created_at, user.updated_at
    time.sleep(0.01)
    user.name = "Renamed"
    db.session.commit()
    db.session.refresh(user)
    assert user.updated_at > updated
    assert user.created_at == created


def test_updated_at_moves_on_bulk_update_too(app):
    user = make_user()
    db.session.commit()
    before = user.updated_at
    time.sleep(0.01)
    db.session.execute(sa.update(User).where(User.id == user.id).values(tokens=User.tokens + 1))
    db.session.commit()
    db.session.refresh(user)
    assert user.tokens == 1 and user.updated_at > before


def test_reverse_relations_to_big_tables_never_load_implicitly(app):
    user = make_user()
    make_payment(user)
    db.session.commit()
    # Write-only collections have no implicit load: only an explicit query reads them.
    with pytest.raises(TypeError):
        list(user.payments)
    assert len(db.session.scalars(user.payments.select()).all()) == 1


def test_cuid_is_unique_and_prisma_shaped():
    ids = {cuid() for _ in range(10000)}
    assert len(ids) == 10000
    assert all(len(i) == 25 and i[0] == "c" and i.isalnum() and i.islower() for i in ids)
