"""The permission matrix: what each staff role may do. Enforced on the server by every
door (views, actions, exports, FK lookups, custom pages, tools); anything not granted here
is denied.

Two kinds of grant:
- model operations: ``can(role, "User", "edit")`` for view / create / edit / delete / export;
- named tools: ``can(role, "ban")`` for actions that are not plain model edits.
Field-level limits (which columns a role sees or edits) are in ``VISIBLE_FIELDS`` and
``EDITABLE_FIELDS``; a role absent there sees / edits what the view allows.
"""

from __future__ import annotations

from enum import StrEnum

from dashboard.core.actor import Actor
from dashboard.core.errors import PermissionDenied
from dashboard.core.roles import StaffRole


class Op(StrEnum):
    VIEW = "view"
    CREATE = "create"
    EDIT = "edit"
    DELETE = "delete"
    EXPORT = "export"


class Tool(StrEnum):
    BAN = "ban"  # ban and unban
    ADJUST_TOKENS = "adjust_tokens"
    REVOKE_SESSIONS = "revoke_sessions"
    RESYNC_STRIPE = "resync_stripe"
    GENERATE_POST = "generate_post"
    PUBLISH_POST = "publish_post"
    EXPORT = "export"
    MANAGE_STAFF = "manage_staff"
    CHANGE_ROLE = "change_role"  # edit User.role directly (with a reason)
    REPLAY_WEBHOOKS = "replay_webhooks"
    VIEW_DASHBOARD = "view_dashboard"
    REFUND_PAYMENT = "refund_payment"  # SUPPORT up to SUPPORT_REFUND_LIMIT (services check)
    CANCEL_SUBSCRIPTION = "cancel_subscription"  # cancel or resume
    DATA_REQUESTS = "data_requests"  # export (SUPPORT too) and erase (ADMIN: ERASE_ROLES)


MODELS = (
    "User",
    "StaffAccount",
    "Account",
    "Session",
    "VerificationToken",
    "StripeProduct",
    "StripePrice",
    "StripeCustomer",
    "UserSubscription",
    "PaymentHistory",
    "BlogPost",
    "AuditLog",
    "TokenLedgerEntry",
    "Job",
    "StripeEvent",
)
ALL_OPS = frozenset(Op)
READ = frozenset({Op.VIEW})
# Written only by the services that own them (the audit trail by every change, the ledger by
# services.tokens): nobody creates, edits or deletes their rows through a view, not even ADMIN.
APPEND_ONLY_MODELS = frozenset({"AuditLog", "TokenLedgerEntry"})
APPEND_ONLY_OPS = frozenset({Op.VIEW, Op.EXPORT})

# What ADMIN may do to a model when not everything: Stripe is the source of truth for its
# mirror tables, NextAuth owns its sign-in rows, and the seed application creates users.
READ_AND_EXPORT = frozenset({Op.VIEW, Op.EXPORT})
ADMIN_LIMITS: dict[str, frozenset[Op]] = {
    "User": frozenset({Op.VIEW, Op.EDIT, Op.EXPORT}),
    "StaffAccount": frozenset({Op.VIEW, Op.CREATE, Op.EDIT}),
    "Account": READ_AND_EXPORT,
    "Session": READ_AND_EXPORT,
    "VerificationToken": READ_AND_EXPORT,
    "StripeProduct": READ_AND_EXPORT,
    "StripePrice": READ_AND_EXPORT,
    "StripeCustomer": READ_AND_EXPORT,
    "UserSubscription": READ_AND_EXPORT,
    "PaymentHistory": READ_AND_EXPORT,
    "Job": READ_AND_EXPORT,
    "StripeEvent": READ_AND_EXPORT,
}

MODEL_GRANTS: dict[StaffRole, dict[str, frozenset[Op]]] = {
    StaffRole.ADMIN: {
        model: (
            APPEND_ONLY_OPS if model in APPEND_ONLY_MODELS else ADMIN_LIMITS.get(model, ALL_OPS)
        )
        for model in MODELS
    },
    StaffRole.SUPPORT: {
        "User": frozenset({Op.VIEW, Op.EDIT}),
        "StripeCustomer": READ,
        "UserSubscription": READ,
        "PaymentHistory": READ,
        "Account": READ,
        "Session": READ,
        "BlogPost": READ,
        "AuditLog": READ,
        "TokenLedgerEntry": READ,
        "StripeProduct": READ,
        "StripePrice": READ,
    },
    StaffRole.EDITOR: {
        "User": READ,
        "BlogPost": frozenset({Op.VIEW, Op.CREATE, Op.EDIT, Op.DELETE}),
        "Job": READ,
    },
}

TOOL_GRANTS: dict[StaffRole, frozenset[Tool]] = {
    StaffRole.ADMIN: frozenset(Tool),
    StaffRole.SUPPORT: frozenset(
        {
            Tool.BAN,
            Tool.ADJUST_TOKENS,
            Tool.REVOKE_SESSIONS,
            Tool.VIEW_DASHBOARD,
            Tool.REFUND_PAYMENT,
            Tool.CANCEL_SUBSCRIPTION,
            Tool.DATA_REQUESTS,
        }
    ),
    StaffRole.EDITOR: frozenset({Tool.GENERATE_POST, Tool.PUBLISH_POST, Tool.VIEW_DASHBOARD}),
}

# Roles with the DATA_REQUESTS tool that may also erase (the others may only export).
ERASE_ROLES = frozenset({StaffRole.ADMIN})
# Roles whose refunds are capped at SUPPORT_REFUND_LIMIT (larger ones need an ADMIN).
REFUND_LIMITED_ROLES = frozenset({StaffRole.SUPPORT})

# Columns a role may see where it may not see everything (others: the view's allowlist).
VISIBLE_FIELDS: dict[tuple[StaffRole, str], frozenset[str]] = {
    (StaffRole.EDITOR, "User"): frozenset({"id", "email", "name"}),
}
# Columns a role may change through an edit form (others: the view's form allowlist).
EDITABLE_FIELDS: dict[tuple[StaffRole, str], frozenset[str]] = {
    (StaffRole.SUPPORT, "User"): frozenset({"name", "email"}),
}


def _role(role: StaffRole | str | None) -> StaffRole | None:
    if role is None:
        return None
    try:
        return StaffRole(role)
    except ValueError:
        return None


def can(role: StaffRole | str | None, subject: str | Tool, op: Op | str | None = None) -> bool:
    """May ``role`` do ``op`` on model ``subject``, or use tool ``subject`` (op None)?"""
    staff_role = _role(role)
    if staff_role is None:
        return False
    if op is None:
        try:
            return Tool(subject) in TOOL_GRANTS.get(staff_role, frozenset())
        except ValueError:
            return False
    try:
        wanted = Op(op)
    except ValueError:
        return False
    if str(subject) in APPEND_ONLY_MODELS and wanted not in APPEND_ONLY_OPS:
        return False
    return wanted in MODEL_GRANTS.get(staff_role, {}).get(str(subject), frozenset())


def visible_fields(role: StaffRole | str | None, model: str) -> frozenset[str] | None:
    """The only columns ``role`` may see on ``model``, or None for "whatever the view lists"."""
    staff_role = _role(role)
    return VISIBLE_FIELDS.get((staff_role, model)) if staff_role else frozenset()


def editable_fields(role: StaffRole | str | None, model: str) -> frozenset[str] | None:
    """The only columns ``role`` may edit on ``model``, or None for "the view's form"."""
    staff_role = _role(role)
    return EDITABLE_FIELDS.get((staff_role, model)) if staff_role else frozenset()


def matrix_rows() -> list[tuple[str, dict[StaffRole, list[str]]]]:
    """The matrix as rows for the "what can each role do" page."""
    rows = []
    for model in MODELS:
        rows.append(
            (
                model,
                {
                    role: [
                        op.value for op in Op if op in MODEL_GRANTS[role].get(model, frozenset())
                    ]
                    for role in StaffRole
                },
            )
        )
    for tool in Tool:
        rows.append(
            (
                f"tool: {tool.value}",
                {role: (["yes"] if tool in TOOL_GRANTS[role] else []) for role in StaffRole},
            )
        )
    return rows


ERR_NOT_ALLOWED = "Your role ({role}) may not use the {tool} tool."


def may_erase(role: StaffRole | str | None) -> bool:
    """May ``role`` erase a customer's data (the system may, see ``require_erase``)?"""
    staff_role = _role(role)
    return staff_role in ERASE_ROLES and can(staff_role, Tool.DATA_REQUESTS)


ERR_ERASE = "Your role ({role}) may export a customer's data but not erase it."


def require_erase(actor: Actor) -> None:
    """Raise PermissionDenied unless ``actor`` may erase a customer's data."""
    require_tool(actor, Tool.DATA_REQUESTS)
    if not actor.is_system and not may_erase(actor.role):
        raise PermissionDenied(ERR_ERASE.format(role=actor.role or "none"))


def require_tool(actor: Actor, tool: Tool) -> None:
    """Raise PermissionDenied unless ``actor`` may use ``tool``.

    Services call this as a second line behind the doors. The system (CLI, webhooks, jobs:
    no staff account) may do anything; a staff actor without a known role may do nothing.
    """
    if actor.is_system:
        return
    if not can(actor.role, tool):
        raise PermissionDenied(ERR_NOT_ALLOWED.format(role=actor.role or "none", tool=tool.value))
