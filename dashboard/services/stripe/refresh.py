"""Refreshing from Stripe on access (a user's subscriptions) and on a schedule (products
and prices).

Rules (notes/stripe.md, properties 13 and 17):
- Opening a user's page refreshes that user's subscriptions when the last attempt is older
  than ``max_age`` (``STRIPE_REFRESH_MAX_AGE``, 10 minutes); the attempt is claimed in the
  database first, so concurrent page views make one Stripe call, not many.
- The call has a short timeout (``STRIPE_REFRESH_TIMEOUT``) and no retries; when Stripe is
  slow or down the stored data is served and the Freshness says from when.
- The writes go through the same upserts as webhooks and the resync.
- Products and prices are refreshed every ``STRIPE_CATALOG_REFRESH_INTERVAL`` seconds by a
  ``stripe_resync`` job limited to them; one job per interval however many workers ask.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dashboard.core.actor import Actor
from dashboard.core.errors import BackofficeError
from dashboard.core.transaction import unit_of_work
from dashboard.extensions import db
from dashboard.jobs import job_create
from dashboard.models import (
    Job,
    StripeCustomer,
    StripeUserRefresh,
    User,
    UserSubscription,
    utcnow,
)
from dashboard.services.stripe.gateway import (
    Gateway,
    StripeSettings,
    StripeUnavailable,
    stripe_gateway,
)
from dashboard.services.stripe.store import dialect_insert
from dashboard.services.stripe.sync import stripe_customers_upsert, stripe_subscriptions_upsert

REFRESH_ACTOR = Actor.system("stripe-refresh")
MSG_REFRESHED = "Refreshed from Stripe at {at:%Y-%m-%d %H:%M:%S} UTC."
MSG_RECENT = "Data from Stripe as of {at:%Y-%m-%d %H:%M:%S} UTC."
MSG_NEVER = "Not refreshed from Stripe yet."
MSG_STALE = "Stripe unreachable, showing data from {since}."
MSG_SHOWING = "Showing data from {since}."
MSG_NO_CUSTOMER = "This user has no Stripe customer."
CATALOG_TYPES = ["products", "prices"]


@dataclass(frozen=True)
class Freshness:
    """How fresh a user's Stripe data is, in words a page can show as is."""

    refreshed: bool  # a call to Stripe succeeded just now
    stale: bool  # the call failed: the data shown may be out of date
    refreshed_at: datetime | None
    message: str


def _claim(user_id: str, now: datetime, max_age: int) -> bool:
    """Take the right to call Stripe for this user now (committed at once)."""
    table = StripeUserRefresh.__table__
    stmt = dialect_insert(table).values(user_id=user_id, attempted_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.user_id],
        set_={"attempted_at": stmt.excluded.attempted_at},
        where=table.c.attempted_at <= now - timedelta(seconds=max_age),
    ).returning(table.c.user_id)
    with unit_of_work():
        claimed = db.session.execute(stmt).first() is not None
    return claimed


def _stale(user_id: str) -> Freshness:
    row = db.session.get(StripeUserRefresh, user_id, populate_existing=True)
    message = row.error.format(since=_data_since(user_id, row))
    return Freshness(False, True, row.refreshed_at, message)


def _data_since(user_id: str, row: StripeUserRefresh | None) -> str:
    when = row.refreshed_at if row is not None else None
    when = when or db.session.scalar(
        sa.select(sa.func.max(UserSubscription.updated_at)).where(
            UserSubscription.user_id == user_id
        )
    )
    return f"{when:%Y-%m-%d %H:%M:%S} UTC" if when else "the last sync"


def _customer_of(gateway: Gateway, user_id: str) -> str | None:
    """The user's Stripe customer id; one not linked yet is looked up by email on Stripe."""
    query = sa.select(StripeCustomer.stripe_customer_id).where(StripeCustomer.user_id == user_id)
    customer = db.session.scalar(query)
    if customer is None:
        email = db.session.scalar(sa.select(User.email).where(User.id == user_id))
        for page in gateway.list_pages("customers", {"email": email}):
            stripe_customers_upsert(objects=page.objects, fetched_at=page.fetched_at)
        customer = db.session.scalar(query)
    return customer


def stripe_refresh_user(
    *, user_id: str, settings: StripeSettings, max_age: int | None = None
) -> Freshness:
    """Refresh ``user_id``'s subscriptions from Stripe unless done less than ``max_age``
    seconds ago (default ``settings.refresh_max_age``; 0 forces it). Never raises for
    Stripe being slow or down."""
    max_age = settings.refresh_max_age if max_age is None else max_age
    now = utcnow()
    if not _claim(user_id, now, max_age):
        row = db.session.get(StripeUserRefresh, user_id, populate_existing=True)
        if row is not None and row.error:
            return _stale(user_id)
        at = row.refreshed_at if row is not None else None
        return Freshness(False, False, at, MSG_RECENT.format(at=at) if at else MSG_NEVER)
    try:
        with unit_of_work():
            gateway = stripe_gateway(settings, timeout=settings.refresh_timeout, retries=0)
            customer = _customer_of(gateway, user_id)
            if customer is not None:
                params = {"customer": customer, "status": "all"}
                for page in gateway.list_pages("subscriptions", params):
                    stripe_subscriptions_upsert(
                        objects=page.objects,
                        fetched_at=page.fetched_at,
                        gateway=gateway,
                        actor=REFRESH_ACTOR,
                    )
            db.session.execute(
                sa.update(StripeUserRefresh)
                .where(StripeUserRefresh.user_id == user_id)
                .values(refreshed_at=now, error=None)
            )
    except BackofficeError as exc:
        # The unit rolled the refresh back; why it failed is kept in a transaction of its own.
        reason = (
            MSG_STALE if isinstance(exc, StripeUnavailable) else exc.message + " " + MSG_SHOWING
        )
        with unit_of_work():
            db.session.execute(
                sa.update(StripeUserRefresh)
                .where(StripeUserRefresh.user_id == user_id)
                .values(error=reason)
            )
        return _stale(user_id)
    message = MSG_REFRESHED.format(at=now) if customer else MSG_NO_CUSTOMER
    return Freshness(customer is not None, False, now, message)


def stripe_catalog_refresh_request(
    *, actor: Actor, settings: StripeSettings, at: float | None = None
) -> Job | None:
    """Queue the products-and-prices refresh for the current interval, unless it is queued
    already (by this or another worker). Returns the new job, or None."""
    interval = max(1, settings.catalog_refresh_interval)
    slot = int((time.time() if at is None else at) // interval)
    key = f"stripe-catalog-refresh:{slot}"
    if db.session.scalar(sa.select(Job.id).where(Job.idempotency_key == key)):
        return None
    try:
        with unit_of_work():
            job = job_create(
                kind="stripe_resync",
                actor=actor,
                params={"only": CATALOG_TYPES, "scheduled": True},
                idempotency_key=key,
            )
    except IntegrityError:  # another worker queued it between our check and insert
        return None
    return job
