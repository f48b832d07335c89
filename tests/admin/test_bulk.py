"""Bulk actions: a real confirmation page (count, sample, required fields), on the ticked
rows or on all N rows matching the list's search and filters (not just the page), set-based
services behind them, and the counts flashed."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import BlogPost, LedgerKind, TokenLedgerEntry, User, UserRole
from tests.admin.views_helpers import audit, filter_arg, post, signed_in, text
from tests.factories import make_post, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


@pytest.fixture
def premium(app):
    """25 PREMIUM users (more than a 20-row page) and 5 others."""
    chosen = [make_user(email=f"p{n:02d}@bulk.test", role=UserRole.PREMIUM) for n in range(25)]
    others = [make_user(email=f"other{n}@bulk.test", tokens=3) for n in range(5)]
    db.session.commit()
    return chosen, others


def balances(users: list[User]) -> list[int]:
    db.session.expire_all()
    return [db.session.get(User, user.id).tokens for user in users]


def confirm_form(page: str) -> tuple[str, dict[str, list[str]]]:
    """The confirmation form's action and hidden fields, as a browser would post them."""
    action = re.search(r'<form method="post" action="([^"]+)" id="bulk-form"', page).group(1)
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page):
        fields.setdefault(name, []).append(value)
    fields.pop("csrf_token", None)
    return action.replace("&amp;", "&"), fields


def test_grant_to_all_matching_reaches_every_row_of_the_filter_not_just_the_page(app, premium):
    chosen, others = premium
    client = signed_in(app, "SUPPORT")
    query = {filter_arg(app, "users", "role"): "PREMIUM", "page_size": "20"}
    listing = text(client.get("/admin/users/", query_string=query))
    link = re.search(r'href="([^"]+)" data-bo-bulk="grant_tokens"', listing).group(1)
    page = text(client.get(link.replace("&amp;", "&")))
    assert "Grant tokens: 25 records" in page
    assert len(re.findall(r"<li><a href=", page[page.index('id="bulk-sample"') :])) == 10
    assert "and 15 more" in page

    action, fields = confirm_form(page)
    response = post(client, action, {**fields, "amount": "5", "reason": "Launch gift"})
    assert response.status_code == 302
    assert "5 tokens granted to 25 of 25 users." in text(client.get(response.location))
    assert balances(chosen) == [5] * 25 and balances(others) == [3] * 5
    [summary] = audit("tokens.bulk_grant")
    assert summary.details["filter"].startswith("all matching: Role equals 'PREMIUM'")
    assert summary.reason == "Launch gift" and summary.actor_staff_id == client.staff.id
    assert len(audit("tokens.grant")) == 25


def test_the_filter_is_rebuilt_on_the_server_from_the_list_query(app, premium):
    chosen, others = premium
    client = signed_in(app, "SUPPORT")
    # The browser only sends the list's query string; a forged count changes nothing.
    response = post(
        client,
        "/admin/users/bulk/apply/",
        {"bulk": "deduct_tokens", "scope": "all", "amount": "2", "reason": "fix", "count": "1"},
        search="other",
        match="prefix",
    )
    assert response.status_code == 302
    assert balances(others) == [1] * 5 and balances(chosen) == [0] * 25
    [row] = audit("tokens.bulk_deduct")
    assert (
        row.details["matched"] == 5
        and row.details["filter"] == "all matching: search 'other' (prefix)"
    )


def test_ticked_rows_go_through_the_same_confirmation(app, premium):
    chosen, _ = premium
    client = signed_in(app, "SUPPORT")
    ids = [chosen[0].id, chosen[1].id, "x\x00y"]
    page = text(
        post(
            client,
            "/admin/users/action/",
            {"action": "ban", "rowid": ids, "url": "/admin/users/?page=1"},
        )
    )
    assert "Ban: 2 records" in page and "The 2 row(s) you ticked." in page
    action, fields = confirm_form(page)
    assert action == "/admin/users/bulk/apply/" and fields["rowid"] == ids[:2]
    assert fields["back"] == ["/admin/users/?page=1"]

    refused = post(client, action, {**fields, "reason": "  "})
    assert refused.status_code == 400 and "A reason is required." in text(refused)
    assert balances(chosen[:2]) == [0, 0] and audit("user.bulk_ban") == []

    done = post(client, action, {**fields, "reason": "Chargeback fraud"})
    assert done.status_code == 302 and done.location == "/admin/users/?page=1"
    db.session.expire_all()
    assert [db.session.get(User, u.id).role for u in chosen[:3]] == [
        UserRole.BANNED,
        UserRole.BANNED,
        UserRole.PREMIUM,
    ]
    assert "2 of 2 users banned and 0 sessions ended." in text(client.get(done.location))


def test_a_bulk_ban_skips_the_actor_and_says_why(app, premium):
    client = signed_in(app, "ADMIN")
    me = client.staff.user
    response = post(
        client,
        "/admin/users/bulk/apply/",
        {"bulk": "ban", "scope": "selected", "rowid": [me.id, premium[1][0].id], "reason": "r"},
    )
    assert response.status_code == 302
    message = text(client.get("/admin/users/"))
    assert "1 of 2 users banned and 0 sessions ended; skipped 1 yourself." in message
    assert me.role == UserRole.ADMIN


def test_a_deduction_skips_short_balances(app, premium):
    chosen, others = premium
    client = signed_in(app, "ADMIN")
    response = post(
        client,
        "/admin/users/bulk/apply/",
        {
            "bulk": "deduct_tokens",
            "scope": "selected",
            "rowid": [chosen[0].id, others[0].id],
            "amount": "3",
            "reason": "correction",
        },
    )
    assert response.status_code == 302
    assert "3 tokens deducted from 1 of 2 users; skipped 1 with fewer than 3 tokens." in text(
        client.get("/admin/users/")
    )
    entries = db.session.scalars(
        sa.select(TokenLedgerEntry).where(TokenLedgerEntry.kind == LedgerKind.DEDUCT)
    ).all()
    assert [e.user_id for e in entries] == [others[0].id]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"amount": "0", "reason": "x"}, "Between 1 and"),
        ({"amount": "abc", "reason": "x"}, "Not a valid integer value."),
        ({"reason": "x"}, "Enter a whole number of tokens."),
        ({"amount": "5", "reason": ""}, "A reason is required."),
        ({"amount": "5", "reason": "x", "expires": "2001-01-01"}, "must be in the future"),
    ],
)
def test_bad_input_shows_the_confirmation_again_and_changes_nothing(app, premium, form, message):
    chosen, _ = premium
    client = signed_in(app, "SUPPORT")
    response = post(
        client,
        "/admin/users/bulk/apply/",
        {"bulk": "grant_tokens", "scope": "selected", "rowid": [chosen[0].id], **form},
    )
    assert response.status_code == 400 and message in text(response)
    assert balances(chosen[:1]) == [0] and audit("tokens.bulk_grant") == []


def test_who_may_use_which_bulk_action(app, premium):
    target = premium[0][0].id
    editor = signed_in(app, "EDITOR")
    assert editor.get("/admin/users/bulk/", query_string={"bulk": "ban"}).status_code == 403
    response = post(
        editor,
        "/admin/users/bulk/apply/",
        {"bulk": "ban", "scope": "selected", "rowid": [target], "reason": "x"},
    )
    assert response.status_code == 403
    assert "data-bo-bulk" not in text(editor.get("/admin/users/"))
    support = signed_in(app, "SUPPORT")
    assert support.get("/admin/users/bulk/", query_string={"bulk": "nope"}).status_code == 404
    assert (
        post(support, "/admin/users/bulk/apply/", {"bulk": "ban", "scope": "weird"}).status_code
        == 400
    )
    assert (
        support.get("/admin/blog_posts/bulk/", query_string={"bulk": "publish"}).status_code == 403
    )
    assert balances(premium[0][:1]) == [0]


def test_an_empty_selection_offers_nothing_to_confirm(app, premium):
    client = signed_in(app, "SUPPORT")
    page = text(
        client.get("/admin/users/bulk/", query_string={"bulk": "ban", "search": "nobody-here"})
    )
    assert "Nothing matches" in page and 'id="bulk-form"' not in page


def test_bulk_publish_and_unpublish_posts(app):
    author = make_user()
    drafts = [make_post(author, title=f"Draft number {n}") for n in range(3)]
    empty = make_post(author, title="Empty", content="  ")
    db.session.commit()
    client = signed_in(app, "EDITOR")
    query = {filter_arg(app, "blog_posts", "is_published"): "0"}
    page = text(client.get("/admin/blog_posts/bulk/", query_string={"bulk": "publish", **query}))
    assert "Publish: 4 records" in page
    action, fields = confirm_form(page)
    response = post(client, action, fields)
    assert response.status_code == 302
    flashed = text(client.get(response.location))
    assert "3 published, 1 refused: A post needs content before it can be published." in flashed
    db.session.expire_all()
    assert [db.session.get(BlogPost, p.id).slug for p in drafts] == [
        "draft-number-0",
        "draft-number-1",
        "draft-number-2",
    ]
    assert not db.session.get(BlogPost, empty.id).is_published

    response = post(
        client,
        "/admin/blog_posts/bulk/apply/",
        {"bulk": "unpublish", "scope": "selected", "rowid": [drafts[0].id]},
    )
    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.get(BlogPost, drafts[0].id)
    assert not stored.is_published and stored.published_at is not None
    assert stored.slug == "draft-number-0"


def test_bulk_publish_refuses_more_posts_than_it_handles_at_once(app, monkeypatch):
    from dashboard.admin.views import blog_post_publishing

    author = make_user()
    for n in range(3):
        make_post(author, title=f"T{n}")
    db.session.commit()
    actions = tuple(
        a if a.name != "publish" else type(a)(**{**a.__dict__, "max_rows": 2})
        for a in blog_post_publishing.PostPublishing.bulk_actions
    )
    monkeypatch.setattr(blog_post_publishing.PostPublishing, "bulk_actions", actions)
    client = signed_in(app, "EDITOR")
    page = text(client.get("/admin/blog_posts/bulk/", query_string={"bulk": "publish"}))
    assert "at most 2 records at once" in page and 'id="bulk-form"' not in page
    response = post(client, "/admin/blog_posts/bulk/apply/", {"bulk": "publish", "scope": "all"})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).where(BlogPost.is_published)) == 0
