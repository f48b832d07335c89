"""What SecureModelView does for every model view: role-limited columns and fields, audit
rows with before/after, History, safe exports, actions, inline edit and FK lookups."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual

from dashboard import create_app
from dashboard.admin.access import requires
from dashboard.admin.base import SecureModelView
from dashboard.extensions import db
from dashboard.models import AuditLog, BlogPost, StaffRole, UserRole, VerificationToken
from dashboard.permissions import MODEL_GRANTS, Op, Tool
from tests.conftest import csrf_token, rolled_back, settings_for, sign_in_with_forms
from tests.factories import make_post, make_staff, make_user


def audit(action_name: str) -> list[AuditLog]:
    return list(
        db.session.execute(
            sa.select(AuditLog).where(AuditLog.action == action_name).order_by(AuditLog.id)
        ).scalars()
    )


def signed_in(flask_app, role: str):
    client = flask_app.test_client()
    staff = make_staff(role)
    assert sign_in_with_forms(client, staff).status_code == 302
    client.staff = staff
    return client


def post(client, path: str, **data):
    return client.post(path, data={**data, "csrf_token": csrf_token(client)})


# -- the Users view -------------------------------------------------------------------------


def test_support_edits_a_users_name_and_email_and_it_is_audited(app):
    user = make_user(email="before@example.com", name="Before")
    client = signed_in(app, "SUPPORT")
    response = post(
        client, f"/admin/users/edit/?id={user.id}", name="After", email="after@example.com"
    )
    assert response.status_code == 302
    assert (user.name, user.email) == ("After", "after@example.com")
    [row] = audit("model.update")
    assert row.target_model == "User" and row.target_id == user.id
    assert row.actor_staff_id == client.staff.id and row.ip == "127.0.0.1"
    assert row.changes == {
        "email": {"before": "before@example.com", "after": "after@example.com"},
        "name": {"before": "Before", "after": "After"},
    }


def test_a_crafted_post_cannot_set_a_field_the_form_leaves_out(app):
    user = make_user()
    client = signed_in(app, "ADMIN")
    post(client, f"/admin/users/edit/?id={user.id}", name="New", email=user.email, tokens="999")
    assert user.tokens == 0 and user.name == "New"
    assert set(audit("model.update")[0].changes) == {"name"}
    support = signed_in(app, "SUPPORT")  # SUPPORT's form has no role field at all
    post(support, f"/admin/users/edit/?id={user.id}", name="N2", email=user.email, role="ADMIN")
    assert user.role == UserRole.USER and user.name == "N2"


def test_an_email_another_user_has_is_refused(app):
    make_user(email="taken@example.com")
    user = make_user(email="mine@example.com")
    client = signed_in(app, "SUPPORT")
    response = post(client, f"/admin/users/edit/?id={user.id}", name="x", email="TAKEN@example.com")
    assert response.status_code == 200  # the form again, with the reason
    assert "Another user already has the email TAKEN@example.com." in response.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert user.email == "mine@example.com"
    assert audit("model.update") == []


def test_editor_sees_only_id_email_and_name_of_users(app):
    user = make_user(email="seen@example.com", name="Seen", tokens=4242)
    client = signed_in(app, "EDITOR")
    listing = client.get("/admin/users/").get_data(as_text=True)
    assert "seen@example.com" in listing and ">Role<" not in listing and "Add Filter" not in listing
    details = client.get(f"/admin/users/details/?id={user.id}").get_data(as_text=True)
    assert "Seen" in details and "4242" not in details and "Membership" not in details
    assert 'id="history"' not in details  # the audit trail is not the editor's to read

    admin_listing = signed_in(app, "ADMIN").get("/admin/users/").get_data(as_text=True)
    assert ">Role<" in admin_listing and "Add Filter" in admin_listing


def test_a_filter_on_a_hidden_column_is_ignored_for_the_editor(app):
    make_user(email="plain@example.com")
    make_user(email="paying@example.com", role=UserRole.PREMIUM)
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "users")  # noqa: SLF001
    index = next(
        i
        for i, flt in enumerate(view._filters)  # noqa: SLF001
        if flt.column.key == "role" and flt.operation() == "equals"
    )
    query = {f"flt0_{index}": "PREMIUM"}
    admin_page = signed_in(app, "ADMIN").get("/admin/users/", query_string=query)
    assert "plain@example.com" not in admin_page.get_data(as_text=True)
    editor_page = signed_in(app, "EDITOR").get("/admin/users/", query_string=query)
    assert "plain@example.com" in editor_page.get_data(as_text=True)


def test_inline_edit_of_a_name_is_audited_and_other_columns_refused(app):
    user = make_user(name="Old")
    client = signed_in(app, "SUPPORT")
    response = post(client, "/admin/users/ajax/update/", list_form_pk=user.id, name="Inline")
    assert response.status_code == 200 and user.name == "Inline"
    assert audit("model.update")[0].changes == {"name": {"before": "Old", "after": "Inline"}}
    response = post(client, "/admin/users/ajax/update/", list_form_pk=user.id, role="ADMIN")
    assert response.status_code == 403 and user.role == UserRole.USER


def test_history_shows_the_records_audit_rows_newest_first(app):
    user = make_user(name="One")
    client = signed_in(app, "ADMIN")
    post(client, f"/admin/users/edit/?id={user.id}", name="Two", email=user.email)
    post(client, f"/admin/users/edit/?id={user.id}", name="Three", email=user.email)
    page = client.get(f"/admin/users/details/?id={user.id}").get_data(as_text=True)
    history = page[page.index('id="history"') :]
    assert history.index("Two → Three") < history.index("One → Two")
    assert client.staff.email in history


def test_admin_export_is_audited_capped_and_formula_safe(app, monkeypatch):
    make_user(email="a@example.com", name='=HYPERLINK("http://evil")')
    make_user(email="b@example.com", name="Plain")
    monkeypatch.setitem(app.config, "EXPORT_MAX_ROWS", 1)
    client = signed_in(app, "ADMIN")
    query = {"search": "example.com", "match": "contains"}
    response = client.get("/admin/users/export/csv/", query_string=query)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 2  # header + the cap
    monkeypatch.setitem(app.config, "EXPORT_MAX_ROWS", 100)
    response = client.get("/admin/users/export/csv/", query_string=query)
    names = [row[2] for row in csv.reader(io.StringIO(response.get_data(as_text=True)))]
    assert '\'=HYPERLINK("http://evil")' in names
    rows = audit("model.export")
    assert len(rows) == 2 and rows[0].details["rows"] == 1
    assert rows[0].details["query"] == query


def test_support_cannot_export(app):
    response = signed_in(app, "SUPPORT").get("/admin/users/export/csv/")
    assert response.status_code == 403
    assert audit("model.export") == []


# -- a view with everything on, as issue 4's views will be ----------------------------------


class PostView(SecureModelView):
    permission_model = "BlogPost"
    allow_create = allow_edit = allow_delete = True
    column_list = ("title", "is_published")
    column_details_list = ("id", "title", "content")
    form_columns = ("user", "title", "content", "original_text", "character_count")
    form_ajax_refs = {"user": {"fields": ("email",)}}

    @action("shout", "Shout")
    @requires(tool=Tool.PUBLISH_POST)
    def action_shout(self, ids: list[str]) -> None:
        for post_ in db.session.scalars(sa.select(BlogPost).where(BlogPost.id.in_(ids))):
            post_.title = post_.title.upper()
        db.session.commit()


@pytest.fixture(scope="module")
def posts_app(database_url):
    flask_app = create_app(settings_for(database_url))
    flask_app.extensions["admin"][0].add_view(PostView(BlogPost, endpoint="posts"))
    return flask_app


@pytest.fixture
def papp(posts_app):
    with rolled_back(posts_app) as flask_app:
        yield flask_app


def test_create_and_delete_write_audit_rows_with_all_values(papp):
    author = make_user(email="author@example.com")
    client = signed_in(papp, "EDITOR")
    response = post(
        client,
        "/admin/posts/new/",
        user=author.id,
        title="Hello",
        content="Body",
        original_text="Body",
        character_count="4",
    )
    assert response.status_code == 302
    [created] = audit("model.create")
    post_id = created.target_id
    assert created.changes["title"] == {"before": None, "after": "Hello"}
    assert created.changes["user_id"] == {"before": None, "after": author.id}

    response = post(client, "/admin/posts/delete/", id=post_id)
    assert response.status_code == 302
    assert db.session.get(BlogPost, post_id) is None
    [deleted] = audit("model.delete")
    assert deleted.target_id == post_id
    assert deleted.changes["title"] == {"before": "Hello", "after": None}


def test_bulk_delete_audits_each_row_and_needs_delete(papp):
    author = make_user()
    posts = [make_post(author), make_post(author)]
    db.session.commit()
    ids = [p.id for p in posts]
    response = signed_in(papp, "SUPPORT").post(
        "/admin/posts/action/",
        data={"action": "delete", "rowid": ids, "csrf_token": "x"},
    )
    assert response.status_code == 400  # without a token, nothing
    client = signed_in(papp, "SUPPORT")
    response = client.post(
        "/admin/posts/action/",
        data={"action": "delete", "rowid": ids, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 403
    client = signed_in(papp, "EDITOR")
    client.post(
        "/admin/posts/action/",
        data={"action": "delete", "rowid": ids, "csrf_token": csrf_token(client)},
    )
    assert sorted(row.target_id for row in audit("model.delete")) == sorted(ids)


def test_an_action_needs_its_own_permission(papp):
    author = make_user()
    entry = make_post(author, title="quiet")
    db.session.commit()
    for role, expected in (("SUPPORT", 403), ("EDITOR", 302)):
        client = signed_in(papp, role)
        response = client.post(
            "/admin/posts/action/",
            data={"action": "shout", "rowid": [entry.id], "csrf_token": csrf_token(client)},
        )
        assert response.status_code == expected
    db.session.refresh(entry)
    assert entry.title == "QUIET"


def test_fk_lookup_checks_the_target_model(papp, monkeypatch):
    make_user(email="findme@example.com")
    client = signed_in(papp, "EDITOR")
    lookup = {"name": "user", "query": "findme"}
    response = client.get("/admin/posts/ajax/lookup/", query_string=lookup)
    assert response.status_code == 200 and "findme@example.com" in response.get_data(as_text=True)

    monkeypatch.setitem(MODEL_GRANTS[StaffRole.EDITOR], "User", frozenset())
    response = client.get("/admin/posts/ajax/lookup/", query_string=lookup)
    assert response.status_code == 403  # may edit posts, may not read users


def test_fk_lookup_over_a_column_the_role_cannot_see_is_refused(papp, monkeypatch):
    view = next(v for v in papp.extensions["admin"][0]._views if v.endpoint == "posts")  # noqa: SLF001
    monkeypatch.setattr(view._form_ajax_refs["user"], "fields", ["email", "tokens"])  # noqa: SLF001
    client = signed_in(papp, "EDITOR")
    response = client.get("/admin/posts/ajax/lookup/", query_string={"name": "user", "query": "1"})
    assert response.status_code == 403
    admin = signed_in(papp, "ADMIN")
    response = admin.get("/admin/posts/ajax/lookup/", query_string={"name": "user", "query": "1"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("column_list", None, "set column_list explicitly"),
        ("form_columns", None, "set form_columns explicitly"),
        ("column_list", ("title", "access_token"), "secret column 'access_token'"),
        ("column_searchable_list", ("session_token",), "secret column 'session_token'"),
        ("column_filters", ("user.password_hash",), "secret column"),
        ("column_export_list", ("token",), "secret column 'token'"),
        ("column_filters", (FilterEqual(VerificationToken.token, "Token"),), "secret column"),
    ],
)
def test_a_view_that_would_expose_a_secret_is_refused(attribute, value, message):
    broken = type("Broken", (PostView,), {attribute: value, "allow_export": True})
    if attribute != "column_export_list":
        broken.column_export_list = ("title",)
    with pytest.raises(TypeError, match=message):
        broken(BlogPost)


def test_an_action_without_a_requirement_is_refused():
    class Careless(PostView):
        @action("wipe", "Wipe")
        def action_wipe(self, ids: list[str]) -> None:
            raise AssertionError("never reached")

    with pytest.raises(TypeError, match="action 'wipe' needs @requires"):
        Careless(BlogPost)


def test_matrix_never_grants_changes_to_the_audit_trail():
    from dashboard.permissions import can

    for role in StaffRole:
        for op in (Op.CREATE, Op.EDIT, Op.DELETE):
            assert not can(role, "AuditLog", op)
            assert not can(role, "TokenLedgerEntry", op)
    assert can(StaffRole.ADMIN, "AuditLog", Op.VIEW)
