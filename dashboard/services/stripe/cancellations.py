"""Cancelling and resuming a subscription through Stripe.

``subscription_cancel`` asks Stripe (cancel at period end, cancel now, or resume one set to
cancel at period end), with the caller's idempotency key, then in one transaction writes
Stripe's answer with the upsert the ``customer.subscription.*`` webhooks use (so the two
converge whatever their order), which recomputes the user's role and membership by the one
rule in ``services.membership``, and the audit row. Nothing is written locally when Stripe
refuses or does not answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError, NotFound
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.models import UserSubscription
from dashboard.permissions import Tool, require_tool
from dashboard.services.audit import audit_record
from dashboard.services.stripe.gateway import StripeSettings, stripe_gateway
from dashboard.services.stripe.sync import stripe_subscriptions_upsert

ERR_SUBSCRIPTION = "No subscription with id {subscription_id}."
ERR_REASON = "A reason is required."
ERR_MODE = "Choose how to cancel: at period end, now, or resume."
ERR_ENDED = "This subscription has already ended ({status}); there is nothing to cancel."
ERR_NOT_CANCELING = "This subscription is not set to cancel; there is nothing to resume."
ERR_ALREADY_CANCELING = "This subscription already cancels at the end of its period."
ERR_KEY = "The form is missing its one-time key; reload the page and try again."
ENDED = ("canceled", "incomplete_expired")
MSG_DONE = {
    "period_end": "Subscription {sub} will cancel at the end of its period ({end:%Y-%m-%d}).",
    "now": "Subscription {sub} is canceled now.",
    "resume": "Subscription {sub} will renew: the cancellation at period end is withdrawn.",
}


class CancelMode(StrEnum):
    PERIOD_END = "period_end"
    NOW = "now"
    RESUME = "resume"


@dataclass(frozen=True)
class CancelResult:
    status: str
    cancel_at_period_end: bool
    message: str


def subscription_cancel_problem(subscription: UserSubscription) -> str | None:
    """Why cancelling cannot work for this subscription (the page disables the form)."""
    if subscription.status in ENDED:
        return ERR_ENDED.format(status=subscription.status)
    return None


def subscription_cancel(
    *,
    subscription_id: str,
    mode: CancelMode | str,
    reason: str | None,
    idempotency_key: str,
    actor: Actor,
    settings: StripeSettings,
    user_id: str | None = None,
) -> CancelResult:
    """Cancel (at period end or now) or resume the stored subscription ``subscription_id``.

    ``user_id``, when given, must own it. Raises NotFound, PermissionDenied (tool
    CANCEL_SUBSCRIPTION), BackofficeError (no reason, already ended, nothing to resume),
    StripeConfigError, StripeRequestFailed or StripeUnavailable; nothing is written locally then.
    """
    require_tool(actor, Tool.CANCEL_SUBSCRIPTION)
    reason = (reason or "").strip()
    if not reason:
        raise BackofficeError(ERR_REASON)
    try:
        mode = CancelMode(mode)
    except ValueError:
        raise BackofficeError(ERR_MODE) from None
    if not idempotency_key:
        raise BackofficeError(ERR_KEY)
    stored = db.session.get(UserSubscription, subscription_id)
    if stored is None or (user_id is not None and stored.user_id != user_id):
        raise NotFound(ERR_SUBSCRIPTION.format(subscription_id=subscription_id[:100]))
    problem = subscription_cancel_problem(stored)
    if problem:
        raise BackofficeError(problem)
    if mode is CancelMode.RESUME and not stored.cancel_at_period_end:
        raise BackofficeError(ERR_NOT_CANCELING)
    if mode is CancelMode.PERIOD_END and stored.cancel_at_period_end:
        raise BackofficeError(ERR_ALREADY_CANCELING)
    gateway = stripe_gateway(settings)
    sub_id, owner = stored.stripe_subscription_id, stored.user_id
    before = {"status": stored.status, "cancelAtPeriodEnd": stored.cancel_at_period_end}
    key = f"bo-subscription-{mode.value}-{idempotency_key}"
    path = f"/v1/subscriptions/{sub_id}"
    if mode is CancelMode.NOW:
        answer = gateway.write("delete", path, {}, idempotency_key=key)
    else:
        flag = mode is CancelMode.PERIOD_END
        answer = gateway.write("post", path, {"cancel_at_period_end": flag}, idempotency_key=key)
    obj = answer.obj or {}
    with unit_of_work():
        stripe_subscriptions_upsert(
            objects=[obj], fetched_at=answer.fetched_at, gateway=gateway, actor=actor
        )
        after = {
            "status": obj.get("status"),
            "cancelAtPeriodEnd": bool(obj.get("cancel_at_period_end")),
        }
        audit_record(
            actor=actor,
            action=f"subscription.{'resume' if mode is CancelMode.RESUME else 'cancel'}",
            target_model="User",
            target_id=owner,
            changes={
                name: {"before": before[name], "after": after[name]}
                for name in before
                if before[name] != after[name]
            },
            details={"stripe_subscription_id": sub_id, "mode": mode.value},
            reason=reason,
        )
    end = db.session.get(UserSubscription, subscription_id)
    message = MSG_DONE[mode.value].format(
        sub=sub_id, end=end.current_period_end if end else stored.current_period_end
    )
    return CancelResult(str(after["status"]), bool(after["cancelAtPeriodEnd"]), message)
