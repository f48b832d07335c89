"""Finding a customer by what staff typed: an id, an email, an email in another case; one
rule for the customer finder (``users_find``) and the pages and commands that need one
user (``user_resolve``)."""

from __future__ import annotations

import pytest

from dashboard.core.errors import BackofficeError, NotFound
from dashboard.services.user_lookup import (
    ERR_AMBIGUOUS,
    ERR_EMPTY,
    ERR_UNKNOWN,
    UserMatch,
    user_resolve,
    users_find,
)
from tests.factories import make_customer, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def test_an_id_an_exact_email_or_a_single_case_insensitive_match(app, backend):
    user = make_user(email="Ann@Example.com")
    assert user_resolve(user.id) is user
    assert user_resolve(" Ann@Example.com ") is user
    assert user_resolve("ann@example.COM") is user


def test_an_exact_email_wins_over_its_case_twins_and_twins_alone_are_ambiguous(app, backend):
    exact = make_user(email="bob@example.com")
    make_user(email="Bob@Example.com")
    assert user_resolve("bob@example.com") is exact
    with pytest.raises(BackofficeError) as refused:
        user_resolve("BOB@EXAMPLE.COM")
    assert refused.value.message == ERR_AMBIGUOUS.format(query="BOB@EXAMPLE.COM")


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ("", BackofficeError, ERR_EMPTY),
        ("   ", BackofficeError, ERR_EMPTY),
        ("nobody@example.com", NotFound, ERR_UNKNOWN.format(query="nobody@example.com")),
        ("a\x00b", NotFound, ERR_UNKNOWN.format(query="ab")),
        ("x" * 500, NotFound, ERR_UNKNOWN.format(query="x" * 40)),
    ],
)
def test_nothing_to_find(app, backend, query, error, message):
    make_user(email="someone@example.com")
    with pytest.raises(error) as refused:
        user_resolve(query)
    assert refused.value.message == message


def test_the_finder_lists_what_the_resolver_refuses_by_the_same_rule(app, backend):
    exact = make_user(email="bob@example.com")
    twin = make_user(email="Bob@Example.com")
    assert users_find(query=" bob@example.com ") == [UserMatch(exact.id, exact.email)]
    assert users_find(query=twin.id) == [UserMatch(twin.id, twin.email)]
    assert {m.id for m in users_find(query="BOB@EXAMPLE.COM")} == {exact.id, twin.id}
    assert len(users_find(query="BOB@EXAMPLE.COM", limit=1)) == 1


def test_the_finder_looks_up_a_stripe_customer_only_when_asked(app, backend):
    user = make_user(email="carol@example.com")
    make_customer(user, stripe_customer_id="cus_carol")
    assert users_find(query="cus_carol") == []
    assert users_find(query="cus_carol", by_stripe_customer=True) == [
        UserMatch(user.id, user.email)
    ]


@pytest.mark.parametrize("query", ["", "   ", "a\x00b", "x" * 500])
def test_the_finder_finds_nothing_for_blank_or_impossible_input(app, backend, query):
    make_user(email="someone@example.com")
    assert users_find(query=query, by_stripe_customer=True) == []
