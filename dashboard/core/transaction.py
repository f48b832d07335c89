"""Where a transaction begins and ends: ``with unit_of_work():``.

A service that writes opens one unit of work around its whole change::

    with unit_of_work():
        user = user_lock(user_id)
        ...

- The outermost unit commits when its block ends, and rolls back when an exception leaves
  the block (the exception is re-raised, so the door still sees it). A failed commit is
  rolled back too.
- A unit opened inside another one (a service called by a service, a door that groups
  several calls) joins it: it neither commits nor rolls back, and the outermost unit decides
  for everything. An exception that leaves an inner unit therefore rolls back the whole
  outer transaction once it leaves the outer block as well. A caller that catches it and
  carries on keeps what the inner unit had written before the error: catch outside the unit,
  not inside it.
- The nesting depth is kept in ``session.info``, so it belongs to the session of the current
  app context (one per request, job or command) and never leaks between threads. It is put
  back before the commit, so whatever runs after the commit (jobs dispatched by the
  ``after_commit`` hook) opens a fresh outermost unit.

Core imports nothing of the application, so this module does not know ``db``. Instead
``dashboard.extensions`` binds it once, where ``db`` is created: ``bind(lambda: db.session)``.
A function rather than a session because Flask-SQLAlchemy's session is scoped to the app
context and must be looked up each time a unit opens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

_DEPTH = "unit_of_work_depth"
ERR_UNBOUND = "unit_of_work() needs a session: call dashboard.core.transaction.bind() first."


class _Session(Protocol):
    """What a unit of work needs of a SQLAlchemy (scoped) session."""

    @property
    def info(self) -> dict[Any, Any]: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


_session_getter: Callable[[], _Session] | None = None


def bind(session_getter: Callable[[], _Session]) -> None:
    """Tell ``unit_of_work`` how to find the current session (called once, at import of
    ``dashboard.extensions``)."""
    global _session_getter
    _session_getter = session_getter


def _session() -> _Session:
    if _session_getter is None:
        raise RuntimeError(ERR_UNBOUND)
    return _session_getter()


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit the block's writes at the outermost level, roll them back on any exception."""
    session = _session()
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        yield
    except BaseException:
        session.info[_DEPTH] = depth
        if depth == 0:
            session.rollback()
        raise
    session.info[_DEPTH] = depth
    if depth == 0:
        try:
            session.commit()
        except BaseException:
            session.rollback()
            raise
