"""What the seed application may do to the shared tables without breaking Backoffice, nor
being stopped by it: delete any user, take a balance below zero, delete a post. The seed
app's writes are made here as raw SQL on the shared tables, as Prisma would send them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError
from dashboard.extensions import db
from dashboard.models import (
    SHARED_TABLES,
    AuditLog,
    BlogPost,
    LedgerKind,
    PostSeo,
    StaffAccount,
    TokenLedgerEntry,
    User,
)
from dashboard.models.staff import USER_DELETED
from dashboard.services import tokens
from dashboard.services.staff import accounts
from dashboard.services.tokens.ledger import ERR_INSUFFICIENT, InsufficientTokens
from tests.conftest import sign_in_with_forms
from tests.factories import make_job, make_post, make_staff, make_user, staff_actor

pytestmark = pytest.mark.backends("postgresql", "sqlite")

SYSTEM = Actor.system("test")


def seed_app(sql: str, **params: object) -> None:
    """A write as the seed application makes it: straight to the shared tables."""
    db.session.execute(sa.text(sql), params)
    db.session.commit()  # also expires what the session had loaded


def ledger(user_id: str) -> list[tuple[LedgerKind, int, int]]:
    rows = db.session.scalars(
        sa.select(TokenLedgerEntry)
        .where(TokenLedgerEntry.user_id == user_id)
        .order_by(TokenLedgerEntry.id)
    )
    return [(row.kind, row.delta, row.balance_after) for row in rows]


# --- the seed app deletes a user ------------------------------------------------------------


def test_every_backoffice_reference_to_a_user_lets_the_user_go(app):
    references = [
        (table.name, fk.parent.name, fk.ondelete)
        for table in db.metadata.sorted_tables
        if table.name not in SHARED_TABLES
        for fk in table.foreign_keys
        if fk.column.table.name == "User"
    ]
    assert references, "no Backoffice table references User?"
    blocking = [ref for ref in references if ref[2] not in ("CASCADE", "SET NULL")]
    assert not blocking, f"these would stop the seed app's user delete: {blocking}"


def test_deleting_a_staff_members_user_deactivates_the_account_and_keeps_its_history(app):
    admin = make_staff("ADMIN")
    editor = make_staff("EDITOR")
    email, user_id, staff_id = editor.email, editor.user_id, editor.id
    admin_actor = staff_actor(admin)
    accounts.staff_change_role(staff_id=editor.id, role="SUPPORT", actor=admin_actor)
    # Rows of every kind that reference the user.
    tokens.tokens_grant(user_id=user_id, amount=3, reason="welcome", actor=SYSTEM)
    make_job(subject_user_id=user_id)
    db.session.commit()

    seed_app('DELETE FROM "User" WHERE id = :id', id=user_id)

    staff = db.session.get(StaffAccount, staff_id)
    assert staff is not None and staff.user_id is None and staff.is_active is False
    assert staff.email == USER_DELETED and str(staff) == f"{USER_DELETED} (SUPPORT)"
    # The audit trail still names the person, by id and e-mail, as text.
    rows = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.target_id.in_([staff_id, user_id]))
    ).all()
    assert {row.action for row in rows} >= {"staff.change_role", "tokens.grant"}
    assert any((row.details or {}).get("email") == email for row in rows)
    with pytest.raises(BackofficeError, match="deleted in the seed application"):
        accounts.staff_reactivate(staff_id=staff_id, actor=admin_actor)


def test_a_staff_member_whose_user_is_gone_cannot_sign_in_and_is_listed_as_deleted(app):
    admin = make_staff("ADMIN")
    editor = make_staff("EDITOR")
    admin_login, editor_login = (
        SimpleNamespace(email=admin.email),
        SimpleNamespace(email=editor.email),
    )
    email, staff_id = editor.email, editor.id
    signed_in = app.test_client()
    assert sign_in_with_forms(signed_in, editor_login).status_code == 302
    assert signed_in.get("/admin/").status_code == 200
    db.session.commit()

    seed_app('DELETE FROM "User" WHERE id = :id', id=editor.user_id)

    # Their open session ends, and signing in again is refused.
    assert signed_in.get("/admin/").status_code != 200
    again = sign_in_with_forms(app.test_client(), editor_login)
    assert again.status_code == 200 and "Sign-in failed." in again.get_data(as_text=True)
    client = app.test_client()
    sign_in_with_forms(client, admin_login)
    page = client.get("/admin/staff/").get_data(as_text=True)
    assert USER_DELETED in page and email not in page
    details = client.get(f"/admin/staff/details/?id={staff_id}")
    assert details.status_code == 200 and USER_DELETED in details.get_data(as_text=True)


# --- the seed app takes a balance below zero ------------------------------------------------


@pytest.fixture
def negative_user(app) -> User:
    user = make_user(tokens=0)
    db.session.commit()
    seed_app('UPDATE "User" SET tokens = tokens - 5 WHERE id = :id', id=user.id)
    return db.session.get(User, user.id)


def test_a_grant_to_a_negative_balance_books_the_correction_then_the_grant(negative_user):
    change = tokens.tokens_grant(user_id=negative_user.id, amount=3, reason="top up", actor=SYSTEM)
    assert (change.balance_before, change.balance_after) == (-5, -2)
    assert ledger(negative_user.id) == [
        (LedgerKind.OPENING_BALANCE, -5, -5),
        (LedgerKind.GRANT, 3, -2),
    ]
    assert db.session.get(User, negative_user.id).tokens == -2
    assert tokens.tokens_check() == []


def test_a_deduction_from_a_negative_balance_is_refused_with_the_balance(negative_user):
    with pytest.raises(InsufficientTokens) as refused:
        tokens.tokens_deduct(user_id=negative_user.id, amount=1, reason="fee", actor=SYSTEM)
    assert refused.value.message == ERR_INSUFFICIENT.format(
        amount=1, email=negative_user.email, balance=-5
    )
    assert db.session.get(User, negative_user.id).tokens == -5
    assert ledger(negative_user.id) == []


def test_reconcile_books_a_negative_balance(negative_user):
    assert tokens.tokens_reconcile(actor=SYSTEM) == (1, 0)
    assert ledger(negative_user.id) == [(LedgerKind.OPENING_BALANCE, -5, -5)]
    seed_app('UPDATE "User" SET tokens = -7 WHERE id = :id', id=negative_user.id)
    assert tokens.tokens_reconcile(actor=SYSTEM) == (0, 1)
    assert ledger(negative_user.id)[-1] == (LedgerKind.CORRECTION, -2, -7)


def test_the_token_commands_answer_for_a_negative_balance_without_a_traceback(
    runner, negative_user
):
    email = negative_user.email
    for args, code, text in (
        (["tokens", "check"], 1, email),
        (["tokens", "deduct", email, "2", "--reason", "fee"], 1, "the balance of"),
        (["tokens", "grant", email, "2", "--reason", "top up"], 0, "balance -5 -> -3"),
        (["tokens", "reconcile"], 0, "Booked"),
        (["tokens", "check"], 0, "The ledger explains every balance."),
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == code and text in result.output, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_customer_page_shows_a_negative_balance_plainly(app, negative_user):
    client = app.test_client()
    sign_in_with_forms(client, make_staff("SUPPORT"))
    page = client.get(f"/admin/customer/{negative_user.id}")
    assert page.status_code == 200
    assert "-5 (below zero" in page.get_data(as_text=True)


# --- generation fields live beside the post -------------------------------------------------


def test_generation_fields_live_in_backoffices_table_and_go_with_the_post(app):
    post = make_post(
        make_user(), meta_description="Meta", keywords=["bread", "baking"], image_alt="A loaf"
    )
    db.session.commit()
    db.session.expire_all()
    seo = db.session.get(PostSeo, post.id)
    assert (seo.meta_description, seo.keywords, seo.image_alt) == (
        "Meta",
        ["bread", "baking"],
        "A loaf",
    )
    assert not {"meta_description", "keywords", "image_alt"} & {
        c["name"] for c in sa.inspect(db.engine).get_columns("BlogPost")
    }
    plain = make_post(make_user())
    db.session.commit()
    assert plain.meta_description is None and db.session.get(PostSeo, plain.id) is None

    post_id = post.id
    seed_app('DELETE FROM "BlogPost" WHERE id = :id', id=post_id)
    assert db.session.get(BlogPost, post_id) is None
    assert db.session.get(PostSeo, post_id) is None
