"""Job door of the Stripe sync: builds the settings from the app and calls the service."""

from __future__ import annotations

from typing import Any

from flask import current_app

from dashboard.services.stripe.gateway import StripeSettings
from dashboard.services.stripe.resync_jobs import stripe_resync_run


def stripe_resync_job(job_id: str) -> dict[str, Any]:
    """Run the ``stripe_resync`` job ``job_id`` with the app's Stripe settings."""
    return stripe_resync_run(job_id, settings=StripeSettings.from_config(current_app.config))
