"""Command-line tools (``flask <command>``), the Flask form of the seed's npm scripts.

One module per noun (``db``, ``users``, ``tokens``, ``stripe``, ``posts``, ``staff``,
``backup``, ``demo``, ``worker``), each with a ``register(app)`` hook that ``create_app``
calls. A command is a thin door: it parses its arguments, calls one service as the system
actor ``cli``, prints what happened, and turns a refusal into one line on stderr and exit
status 1 (2 for a malformed command line).

This module holds what the doors share: that actor, the refusal, the user lookup by
e-mail, the database check, aliases for renamed commands, and the error handling that
prints a configuration or connection problem as one readable line instead of a traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app

from config import ConfigError
from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, NotFound
from dashboard.database import describe_url

CLI_ACTOR = Actor.system("cli")
ERR_NO_USER = "No user with email {email}."
DATE = click.DateTime(formats=["%Y-%m-%d"])  # a day; the services read it as 00:00 UTC


def install_error_handler() -> None:
    """Under the ``flask`` command, print configuration and connection errors as one line."""
    if click.get_current_context(silent=True) is None or getattr(sys, "_backoffice_hook", False):
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, ConfigError):
            print(f"Error: {exc}", file=sys.stderr)
        elif isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            url = (
                describe_url(getattr(current_app, "config", {}).get("SQLALCHEMY_DATABASE_URI", ""))
                if _has_app()
                else "DATABASE_URL"
            )
            first_line = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            print(f"Error: cannot use the database at {url}: {first_line}", file=sys.stderr)
        else:
            previous(kind, exc, tb)

    sys.excepthook = hook
    sys._backoffice_hook = True  # type: ignore[attr-defined]


def _has_app() -> bool:
    try:
        current_app._get_current_object()  # noqa: SLF001
    except RuntimeError:
        return False
    return True


def check_connection() -> None:
    """Fail early with one line when the database cannot be reached."""
    # Imported here: ``db`` is also the name of this package's ``db`` commands module.
    from dashboard.extensions import db

    url = describe_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        first_line = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        raise click.ClickException(f"cannot reach the database at {url}: {first_line}") from None


def refusals_as_one_line(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A command whose services' refusal (a BackofficeError) ends it with the message and
    exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BackofficeError as exc:
            raise click.ClickException(exc.message) from None

    return wrapper


def call(service: Callable[..., Any], **arguments: Any) -> Any:
    """Run a service; its refusal becomes a one-line error and exit status 1."""
    return refusals_as_one_line(service)(**arguments)


def user_id_for(email: str) -> str:
    """The id of the user that ``email`` names, by the one rule of
    ``services.user_lookup.user_resolve`` (a user id works too). Nobody: one line naming
    the email; several emails differing only by case: the resolver's message."""
    from dashboard.services.user_lookup import user_resolve

    if not email.strip():
        raise click.ClickException(ERR_NO_USER.format(email=email.strip()))
    try:
        return user_resolve(email).id
    except NotFound:
        raise click.ClickException(ERR_NO_USER.format(email=email.strip())) from None
    except BackofficeError as exc:
        raise click.ClickException(exc.message) from None


def alias(command: click.Command, name: str, *, of: str) -> click.Command:
    """``command`` under the older ``name``, kept working and marked as an alias in
    ``flask --help``; ``of`` is the command's current name (``"stripe sync"``)."""
    return click.Command(
        name,
        callback=command.callback,
        params=command.params,
        context_settings=command.context_settings,
        help=f"Alias of flask {of} (its older name).\n\n{command.help or ''}",
        short_help=f"Alias of flask {of}.",
    )
