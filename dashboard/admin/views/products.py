"""Stripe products (plans): read-only, with links to their prices, subscriptions and the
users on each plan."""

from __future__ import annotations

from dashboard.admin import columns
from dashboard.admin.column_kinds import MirrorView
from dashboard.admin.filters import bool_filter, date_filters, flatten
from dashboard.admin.related import related_links
from dashboard.models import StripeProduct


class ProductView(MirrorView):
    permission_model = "StripeProduct"

    column_list = ("name", "active", "tokens", "created_at")
    column_details_list = (
        "id",
        "name",
        "description",
        "active",
        "tokens",
        "created_at",
        "updated_at",
    )
    column_sortable_list = ("name", "created_at")
    column_default_sort = ("created_at", True)
    column_filters = flatten(
        bool_filter(StripeProduct.active, "Active"),
        date_filters(StripeProduct.created_at, "Created"),
        date_filters(StripeProduct.updated_at, "Updated"),
    )
    column_labels = {"tokens": "Tokens granted", "created_at": "Created (UTC)"}
    column_formatters = {"name": columns.own_details_link("name"), "active": columns.yes_no}

    def related_links(self, model: StripeProduct) -> list[tuple[str, str]]:
        return related_links(
            [
                ("Prices", "prices", "product_id", model.id),
                ("Subscriptions", "subscriptions", "stripe_product_id", model.id),
                ("Users on this plan", "users", "stripe_product_id", model.id),
            ]
        )
