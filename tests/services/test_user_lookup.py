"""Finding a customer by what staff typed: an id, an email, an email in another case."""

from __future__ import annotations

import pytest

from dashboard.core.errors import BackofficeError, NotFound
from dashboard.services.user_lookup import ERR_AMBIGUOUS, ERR_EMPTY, ERR_UNKNOWN, user_resolve
from tests.factories import make_user

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
