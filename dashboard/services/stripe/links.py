"""Links to Stripe's dashboard for an object, in test or live mode by the key's mode."""

from __future__ import annotations

DASHBOARD = "https://dashboard.stripe.com"
PATHS = {"cus": "customers", "sub": "subscriptions", "pi": "payments", "re": "refunds"}


def stripe_dashboard_url(object_id: str | None, *, livemode: bool) -> str | None:
    """``https://dashboard.stripe.com[/test]/<kind>/<id>`` for a Stripe id (None for an id
    of a kind Stripe's dashboard has no page for)."""
    if not object_id:
        return None
    kind = PATHS.get(object_id.split("_", 1)[0])
    if kind is None:
        return None
    return f"{DASHBOARD}{'' if livemode else '/test'}/{kind}/{object_id}"
