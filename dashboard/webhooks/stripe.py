"""``POST /webhooks/stripe``: Stripe's door. Authenticated by its signature, so it is the one
POST exempt from CSRF and sign-in (``WEBHOOK_ENDPOINTS`` names it for those checks)."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from dashboard.services.stripe.events import stripe_webhook_receive
from dashboard.services.stripe.gateway import StripeSettings

bp = Blueprint("stripe_webhooks", __name__)
# Endpoints that take no session, no sign-in and no CSRF token (they verify a signature).
WEBHOOK_ENDPOINTS = ["stripe_webhooks.receive"]
# Stripe's events are a few kB; anything this big is not one of them.
MAX_BODY_BYTES = 1_000_000


@bp.post("/webhooks/stripe")
def receive() -> ResponseReturnValue:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return jsonify(received=False, message="Payload too large."), 413
    # The raw bytes: the signature covers them exactly, never a re-serialised form.
    receipt = stripe_webhook_receive(
        payload=request.get_data(cache=False),
        signature=request.headers.get("Stripe-Signature"),
        settings=StripeSettings.from_config(current_app.config),
    )
    body = {"received": receipt.status_code < 300, "message": receipt.message}
    return jsonify(body), receipt.status_code


def init_app(app: Flask) -> None:
    from dashboard.security import csrf

    # Stripe cannot send a CSRF token: the signature on the raw body authenticates it.
    csrf.exempt(receive)
    app.register_blueprint(bp)
