"""The unit of work: the outermost one commits, nested ones join it, any error rolls back all
of it and is re-raised, and nothing of a failed unit stays written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from dashboard.core import transaction
from dashboard.core.transaction import ERR_UNBOUND, unit_of_work
from dashboard.extensions import db
from dashboard.models import User
from tests.factories import make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


class Boom(Exception):
    pass


@pytest.fixture
def commits(app) -> Iterator[list[object]]:
    """The commits of the test's session, as they happen."""
    session = db.session()
    seen: list[object] = []

    def record(committed: object) -> None:
        seen.append(committed)

    sa.event.listen(session, "after_commit", record)
    yield seen
    sa.event.remove(session, "after_commit", record)


def stored(*emails: str) -> list[str]:
    """Which of ``emails`` the database holds, read afresh."""
    db.session.expunge_all()
    found = db.session.scalars(sa.select(User.email).where(User.email.in_(emails)))
    return sorted(found)


def test_the_outermost_unit_commits_once_and_nested_units_join_it(app, backend, commits):
    with unit_of_work():
        make_user(email="outer@example.com")
        with unit_of_work():
            make_user(email="inner@example.com")
        assert commits == []  # the inner unit neither committed nor ended the transaction
    assert len(commits) == 1

    db.session.rollback()  # what was committed survives a later rollback
    assert stored("outer@example.com", "inner@example.com") == [
        "inner@example.com",
        "outer@example.com",
    ]
    assert db.session.info.get("unit_of_work_depth", 0) == 0


def test_an_error_rolls_back_the_unit_and_is_raised_again(app, backend, commits):
    with pytest.raises(Boom):
        with unit_of_work():
            make_user(email="lost@example.com")
            raise Boom

    assert commits == []
    assert stored("lost@example.com") == []
    assert db.session.info.get("unit_of_work_depth", 0) == 0


def test_an_error_in_a_nested_unit_rolls_back_the_outer_one_too(app, backend, commits):
    with pytest.raises(Boom):
        with unit_of_work():
            make_user(email="outer@example.com")
            with unit_of_work():
                make_user(email="inner@example.com")
                raise Boom

    assert commits == []
    assert stored("outer@example.com", "inner@example.com") == []
    assert db.session.info.get("unit_of_work_depth", 0) == 0


def test_a_failed_commit_is_rolled_back_and_the_next_unit_starts_clean(app, backend, commits):
    make_user(email="taken@example.com")
    db.session.commit()
    # Not flushed inside the block: the duplicate fails in the commit itself.
    with pytest.raises(sa.exc.IntegrityError):
        with unit_of_work():
            db.session.add(User(email="first@example.com", name="First"))
            db.session.add(User(email="taken@example.com", name="Twin"))

    assert stored("first@example.com") == []
    with unit_of_work():
        make_user(email="after@example.com")
    assert stored("first@example.com", "after@example.com") == ["after@example.com"]


def test_a_unit_without_a_bound_session_says_so(app, monkeypatch):
    monkeypatch.setattr(transaction, "_session_getter", None)
    with pytest.raises(RuntimeError, match="bind"):
        with unit_of_work():
            pass
    assert "bind()" in ERR_UNBOUND
