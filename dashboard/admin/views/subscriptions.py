"""Subscriptions (Stripe's UserSubscription mirror): read-only, newest first, with user,
plan and price from the same query; searchable by Stripe id or by the user's e-mail."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import joinedload

from dashboard.admin import columns
from dashboard.admin.column_kinds import BigMirrorView
from dashboard.admin.filters import bool_filter, choice_filter, date_filters, flatten, id_filter
from dashboard.admin.listing import SearchColumn, user_email
from dashboard.models import UserSubscription

# Stripe's subscription statuses.
SUBSCRIPTION_STATUSES = (
    "active",
    "trialing",
    "past_due",
    "unpaid",
    "paused",
    "incomplete",
    "incomplete_expired",
    "canceled",
)


class SubscriptionView(BigMirrorView):
    permission_model = "UserSubscription"
    allow_export = True

    column_list = (
        "created_at",
        "user",
        "stripe_product",
        "stripe_price",
        "status",
        "current_period_end",
        "cancel_at_period_end",
    )
    column_details_list = (
        "id",
        "stripe_subscription_id",
        "user",
        "stripe_product",
        "stripe_price",
        "status",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "created_at",
        "updated_at",
    )
    column_export_list = (
        "id",
        "stripe_subscription_id",
        "user_id",
        "user.email",
        "stripe_product_id",
        "stripe_price_id",
        "status",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "created_at",
    )
    column_sortable_list = ("created_at",)
    column_filters = flatten(
        choice_filter(UserSubscription.status, "Status", SUBSCRIPTION_STATUSES),
        bool_filter(UserSubscription.cancel_at_period_end, "Cancels at period end"),
        date_filters(UserSubscription.current_period_start, "Period starts"),
        date_filters(UserSubscription.current_period_end, "Period ends"),
        date_filters(UserSubscription.created_at, "Created"),
        date_filters(UserSubscription.updated_at, "Updated"),
        id_filter(UserSubscription.user_id, "User id"),
        id_filter(UserSubscription.stripe_product_id, "Product id"),
        id_filter(UserSubscription.stripe_price_id, "Price id"),
    )
    list_key = ("created_at", "id")
    search_columns = (SearchColumn("stripe_subscription_id", "exact"), user_email())
    column_labels = {
        "created_at": "Created (UTC)",
        "stripe_product": "Plan",
        "stripe_price": "Price",
        "stripe_subscription_id": "Stripe subscription",
        "cancel_at_period_end": "Cancels at period end",
        "user.email": "User email",
    }
    column_formatters = {
        "user": columns.user,
        "stripe_product": columns.details_link("products", "name"),
        "stripe_price": columns.details_link("prices"),
        "cancel_at_period_end": columns.yes_no,
    }

    def get_query(self) -> Any:
        return (
            super()
            .get_query()
            .options(
                joinedload(UserSubscription.user, innerjoin=True),
                joinedload(UserSubscription.stripe_product, innerjoin=True),
                joinedload(UserSubscription.stripe_price, innerjoin=True),
            )
        )

    def get_one(self, id: Any) -> Any:
        return self.get_query().filter(UserSubscription.id == id).one_or_none()
