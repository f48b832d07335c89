"""The writes the fake Stripe accepts: ``POST /v1/refunds``, ``POST /v1/subscriptions/ID``
(``cancel_at_period_end``) and ``DELETE /v1/subscriptions/ID``, with Stripe's refusals
(``charge_already_refunded``, ``amount_too_large``, ``resource_missing``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.stripe_server import FakeStripe


def _error(status: int, message: str, code: str | None = None) -> tuple[int, dict]:
    body: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        body["code"] = code
    return status, {"error": body}


def _missing(kind: str, object_id: str) -> tuple[int, dict]:
    return _error(404, f"No such {kind}: '{object_id}'", "resource_missing")


def handle_write(
    fake: FakeStripe, method: str, parts: list[str], params: dict[str, Any]
) -> tuple[int, Any]:
    kind = parts[1]
    with fake.lock:
        if kind == "refunds" and method == "POST" and len(parts) == 2:
            return _refund(fake, params)
        if kind == "subscriptions" and len(parts) == 3:
            return _subscription(fake, method, parts[2], params)
    return _error(405, f"The fake does not {method} {'/'.join(parts)}.")


def refund_charge(fake: FakeStripe, intent_id: str, amount: int | None = None) -> dict:
    """Refund on the fake's side (as Stripe's dashboard would); returns the refund."""
    status, body = _refund(fake, {"payment_intent": intent_id, "amount": amount})
    assert status == 200, body
    return body


def _refund(fake: FakeStripe, params: dict[str, Any]) -> tuple[int, Any]:
    intent_id = params.get("payment_intent") or ""
    intents = fake.store.objects["payment_intents"]
    if intent_id not in intents or intent_id in fake.store.deleted["payment_intents"]:
        return _missing("payment_intent", intent_id)
    charge = fake.get(intents[intent_id]["latest_charge"])
    left = charge["amount"] - charge["amount_refunded"]
    if charge["refunded"] or left <= 0:
        return _error(
            400, f"Charge {charge['id']} has already been refunded.", "charge_already_refunded"
        )
    amount = int(params["amount"]) if params.get("amount") not in (None, "") else left
    if amount > left:
        return _error(
            400,
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
            "amount_too_large",
        )
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    refund = fake.put(
        {
            "id": fake.new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": fake.tick(),
            "currency": charge["currency"],
            "metadata": params.get("metadata") or {},
            "payment_intent": intent_id,
            "reason": None,
            "status": "succeeded",
        }
    )
    return 200, dict(refund)


def _subscription(
    fake: FakeStripe, method: str, sub_id: str, params: dict[str, Any]
) -> tuple[int, Any]:
    subs = fake.store.objects["subscriptions"]
    if sub_id not in subs or sub_id in fake.store.deleted["subscriptions"]:
        return _missing("subscription", sub_id)
    sub = subs[sub_id]
    if sub["status"] == "canceled":
        return _error(400, "A canceled subscription can only update its cancellation_details.")
    if method == "DELETE":
        now = fake.tick()
        sub.update(status="canceled", canceled_at=now, ended_at=now, cancel_at_period_end=False)
    elif "cancel_at_period_end" in params:
        flag = params["cancel_at_period_end"] == "true"
        end = sub["items"]["data"][0].get("current_period_end")
        sub.update(
            cancel_at_period_end=flag,
            cancel_at=end if flag else None,
            canceled_at=fake.tick() if flag else None,
        )
    return 200, fake.render(sub_id, [])
