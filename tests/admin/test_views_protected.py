"""Protected columns against crafted POSTs: tokens, expiry, createdAt and ids never change
through a form; the role only through an administrator's edit with a reason; Stripe
mirror tables refuse every change; posts' publication fields only through publishing."""

from __future__ import annotations

from datetime import datetime

import pytest

from dashboard.extensions import db
from dashboard.models import BlogPost, PaymentHistory, UserRole
from dashboard.services import user_roles
from tests.admin.views_helpers import audit, post, signed_in, text
from tests.factories import (
    make_customer,
    make_payment,
    make_post,
    make_price,
    make_subscription,
    make_user,
)

pytestmark = pytest.mark.backends("postgresql", "sqlite")

CREATED = datetime(2024, 1, 2, 3, 4, 5)
CRAFTED = {
    "tokens": "999999",
    "tokens_expires_at": "2030-01-01 00:00:00",
    "created_at": "2001-01-01 00:00:00",
    "id": "forged-id",
    "membership_status": "PAST_DUE",
    "stripe_product": "prod_forged",
}


@pytest.mark.parametrize("role", ["ADMIN", "SUPPORT"])
def test_a_crafted_user_form_changes_only_what_the_form_allows(app, role):
    user = make_user(email="keep@example.com", name="Old", tokens=7, created_at=CREATED)
    user_id = user.id
    client = signed_in(app, role)
    response = post(
        client,
        "/admin/users/edit/",
        {"name": "New", "email": "keep@example.com", **CRAFTED},
        id=user_id,
    )
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.get(type(user), user_id)
    assert user.name == "New" and user.tokens == 7 and user.tokens_expires_at is None
    assert user.created_at == CREATED and user.membership_status.value == "ACTIVE"
    assert user.stripe_product_id is None
    assert set(audit("model.update")[-1].changes) == {"name"}


def test_support_cannot_change_a_role_even_with_a_reason(app):
    user = make_user(role=UserRole.USER)
    client = signed_in(app, "SUPPORT")
    form = {"name": "x", "email": user.email, "role": "ADMIN", "role_reason": "because"}
    assert post(client, "/admin/users/edit/", form, id=user.id).status_code == 302
    assert user.role == UserRole.USER


def test_an_admin_changes_a_role_only_with_a_reason_which_is_audited(app):
    user = make_user(role=UserRole.USER, name="Customer")
    client = signed_in(app, "ADMIN")
    form = {"name": "Customer", "email": user.email, "role": "PREMIUM"}
    response = post(client, "/admin/users/edit/", form, id=user.id)
    assert response.status_code == 200
    assert user_roles.ERR_REASON in text(response)
    db.session.expire_all()
    assert user.role == UserRole.USER and audit("model.update") == []

    form["role_reason"] = "Comped after the outage"
    assert post(client, "/admin/users/edit/", form, id=user.id).status_code == 302
    db.session.expire_all()
    assert user.role == UserRole.PREMIUM
    [row] = audit("model.update")
    assert row.changes == {"role": {"before": "USER", "after": "PREMIUM"}}
    assert row.reason == "Comped after the outage"


@pytest.mark.parametrize(
    ("start", "wanted"),
    [(UserRole.USER, "BANNED"), (UserRole.BANNED, "USER"), (UserRole.BANNED, "ADMIN")],
)
def test_banning_and_unbanning_are_not_role_edits(app, start, wanted):
    user = make_user(role=start)
    client = signed_in(app, "ADMIN")
    form = {"name": "x", "email": user.email, "role": wanted, "role_reason": "try"}
    response = post(client, "/admin/users/edit/", form, id=user.id)
    assert response.status_code == 200  # the form again, with the reason
    db.session.expire_all()
    assert user.role == start
    assert audit("model.update") == []


def test_nobody_changes_their_own_role(app):
    client = signed_in(app, "ADMIN")
    me = client.staff.user
    form = {"name": "Me", "email": me.email, "role": "USER", "role_reason": "demote myself"}
    response = post(client, "/admin/users/edit/", form, id=me.id)
    assert user_roles.ERR_SELF in text(response)
    db.session.expire_all()
    assert me.role == UserRole.ADMIN


def test_the_admin_form_offers_no_banned_role_and_a_reason_field(app):
    user = make_user()
    page = text(signed_in(app, "ADMIN").get(f"/admin/users/edit/?id={user.id}"))
    assert 'name="role_reason"' in page and 'value="BANNED"' not in page
    for field in ("tokens", "tokens_expires_at", "created_at", "membership_status"):
        assert f'name="{field}"' not in page
    support_page = text(signed_in(app, "SUPPORT").get(f"/admin/users/edit/?id={user.id}"))
    assert 'name="role"' not in support_page and 'name="role_reason"' not in support_page


@pytest.fixture
def mirrors(app):
    user = make_user()
    price = make_price()
    return {
        "payments": make_payment(user),
        "subscriptions": make_subscription(user, price),
        "customers": make_customer(user),
        "products": price.product,
        "prices": price,
    }


@pytest.mark.parametrize(
    "endpoint", ["payments", "subscriptions", "customers", "products", "prices"]
)
def test_stripe_mirror_tables_refuse_every_change_even_to_an_admin(app, mirrors, endpoint):
    record = mirrors[endpoint]
    client = signed_in(app, "ADMIN")
    assert client.get(f"/admin/{endpoint}/new/").status_code == 403
    assert client.get(f"/admin/{endpoint}/edit/?id={record.id}").status_code == 403
    assert post(client, f"/admin/{endpoint}/new/", {"id": "x"}).status_code == 403
    assert (
        post(client, f"/admin/{endpoint}/edit/", {"status": "x"}, id=record.id).status_code == 403
    )
    assert post(client, f"/admin/{endpoint}/delete/", {"id": record.id}).status_code == 403
    response = post(client, f"/admin/{endpoint}/action/", {"action": "delete", "rowid": record.id})
    assert response.status_code == 403
    page = text(client.get(f"/admin/{endpoint}/"))
    assert "Delete" not in page and "/edit/" not in page and "/new/" not in page
    db.session.expire_all()
    assert db.session.get(type(record), record.id) is not None


def test_a_payment_cannot_be_changed_by_inline_edit(app, mirrors):
    payment = mirrors["payments"]
    client = signed_in(app, "ADMIN")
    response = post(
        client, "/admin/payments/ajax/update/", {"list_form_pk": payment.id, "amount": "1"}
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(PaymentHistory, payment.id).amount == 900


def test_a_crafted_post_form_cannot_publish_or_count(app):
    author = make_user()
    draft = make_post(author, title="Draft", original_text="four", character_count=4)
    client = signed_in(app, "EDITOR")
    form = {
        "user": author.id,
        "title": "Draft",
        "content": "Body",
        "original_text": "four",
        "is_published": "y",
        "published_at": "2020-01-01 00:00:00",
        "character_count": "5000",
        "tokens_used": "99",
        "image_url": "https://evil.example/x.png",
        "created_at": "2001-01-01 00:00:00",
    }
    assert post(client, "/admin/blog_posts/edit/", form, id=draft.id).status_code == 302
    db.session.expire_all()
    stored = db.session.get(BlogPost, draft.id)
    assert not stored.is_published and stored.published_at is None
    assert stored.character_count == 4 and stored.tokens_used == 1
    assert stored.image_url is None and stored.created_at.year != 2001
