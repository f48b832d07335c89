"""Access to admin views: every exposed endpoint states what it needs, and anything that
states nothing is denied.

A ``Requirement`` is read from ``dashboard.permissions`` (the one matrix) for the signed-in
staff member's role:

    @expose("/resync/", methods=("POST",))
    @requires(tool=Tool.RESYNC_STRIPE)            # a named tool
    def resync(self): ...

    @expose("/notes/")
    @requires(Op.VIEW)                             # an operation on the view's model
    def notes(self): ...

    @requires(Op.VIEW, model="PaymentHistory")      # an operation on another model

Flask-Admin's own endpoints get theirs from ``endpoint_requirements`` on the base classes.
Anonymous visitors are sent to sign-in (302); signed-in staff whose role lacks the
requirement get 403.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from flask import abort, redirect, request
from flask.typing import ResponseReturnValue

from dashboard.auth.current import current_role, current_staff
from dashboard.auth.sessions import sign_in_url
from dashboard.models import StaffRole
from dashboard.permissions import Op, Tool, can

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Requirement:
    """What an endpoint needs: any of ``ops`` on ``model`` (default: the view's model) and,
    if given, ``tool``. ``any_staff`` admits every signed-in staff member."""

    ops: tuple[Op, ...] = ()
    tool: Tool | None = None
    model: str | None = None
    any_staff: bool = False

    def allows(self, role: StaffRole | str | None, view_model: str | None) -> bool:
        if role is None:
            return False
        if self.any_staff:
            return True
        if not self.ops and self.tool is None:
            return False  # a requirement that names nothing grants nothing
        if self.tool is not None and not can(role, self.tool):
            return False
        if self.ops:
            model = self.model or view_model
            if model is None or not any(can(role, model, op) for op in self.ops):
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.any_staff:
            parts.append("any staff")
        if self.ops:
            parts.append(f"{'/'.join(op.value for op in self.ops)} on {self.model or 'model'}")
        if self.tool:
            parts.append(f"tool {self.tool.value}")
        return " and ".join(parts) or "nothing (denied)"


ANY_STAFF = Requirement(any_staff=True)


def requires(
    *ops: Op, tool: Tool | None = None, model: str | None = None, any_staff: bool = False
) -> Callable[[F], F]:
    """Declare what an exposed view method (or an ``@action``) needs."""
    requirement = Requirement(ops=tuple(ops), tool=tool, model=model, any_staff=any_staff)

    def mark(fn: F) -> F:
        fn._requirement = requirement  # type: ignore[attr-defined]
        return fn

    return mark


def declared_requirement(fn: Any) -> Requirement | None:
    return getattr(fn, "_requirement", None)


class AccessMixin:
    """Deny-by-default access for Flask-Admin views (mixed into SecureView and
    SecureModelView; put it first in the bases)."""

    #: The model name the matrix knows this view by (``permissions.MODELS``), if any.
    permission_model: ClassVar[str | None] = None
    #: Requirements of endpoints inherited from Flask-Admin, by view-method name.
    endpoint_requirements: ClassVar[Mapping[str, Requirement]] = {}
    #: The endpoint the menu links to; the view shows in the menu when it is allowed.
    landing_endpoint: ClassVar[str] = "index"

    def requirement_for(self, name: str) -> Requirement | None:
        """The requirement of the view method ``name``: its ``@requires``, else the class's
        ``endpoint_requirements`` entry, else None (denied)."""
        declared = declared_requirement(getattr(type(self), name, None))
        return declared or self.endpoint_requirements.get(name)

    def allowed(self, name: str, role: StaffRole | str | None = None) -> bool:
        """May ``role`` (default: the signed-in staff member's) call view method ``name``?"""
        role = role if role is not None else current_role()
        requirement = self.requirement_for(name)
        return requirement is not None and requirement.allows(role, self.permission_model)

    def request_allowed(self, name: str) -> bool:
        """The check made for a request; subclasses add checks that need the request."""
        return self.allowed(name)

    def is_accessible(self) -> bool:
        return current_staff() is not None and self.allowed(self.landing_endpoint)

    def _handle_view(self, name: str, **kwargs: Any) -> ResponseReturnValue | None:
        if current_staff() is None:
            return redirect(sign_in_url(request.full_path if request.method == "GET" else None))
        if not self.request_allowed(name):
            abort(403)
        return None

    def inaccessible_callback(self, name: str, **kwargs: Any) -> ResponseReturnValue:
        if current_staff() is None:
            return redirect(sign_in_url())
        abort(403)
