"""Fixtures for the Stripe sync: a fake Stripe on 127.0.0.1, the app pointed at it, and a
way to deliver signed webhooks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from flask import Flask

from tests.fakes.stripe_server import FakeStripe

WEBHOOK_SECRET = "whsec_test_backoffice_current"
OLD_WEBHOOK_SECRET = "whsec_test_backoffice_previous"


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    try:
        yield fake
    finally:
        fake.stop()


def point_at(app: Flask, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", fake.api_key)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", fake.url)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRETS", [WEBHOOK_SECRET])
    monkeypatch.setitem(app.config, "STRIPE_RETRY_BASE_MS", 1)
    monkeypatch.setitem(app.config, "STRIPE_MAX_RETRIES", 3)


@pytest.fixture
def stripe_app(app: Flask, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The transactional app, configured to talk to the fake."""
    point_at(app, fake_stripe, monkeypatch)
    return app


@pytest.fixture
def committed_stripe_app(
    committed_app: Flask, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> Flask:
    """The committing app (for threads), configured to talk to the fake."""
    point_at(committed_app, fake_stripe, monkeypatch)
    return committed_app


def signed(
    event: dict[str, Any],
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    body: str | None = None,
) -> tuple[str, dict[str, str]]:
    """The body and headers Stripe would send for ``event``."""
    body = body if body is not None else json.dumps(event, indent=2)
    header = stripe.WebhookSignature.generate_signature_header(
        body, secret, timestamp=timestamp or int(time.time())
    )
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


def deliver(client: Any, event: dict[str, Any], **kwargs: Any) -> Any:
    body, headers = signed(event, **kwargs)
    return client.post("/webhooks/stripe", data=body, headers=headers)
