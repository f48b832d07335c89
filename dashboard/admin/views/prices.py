"""Stripe prices: read-only, each with its product from the same query."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import joinedload

from dashboard.admin import columns
from dashboard.admin.column_kinds import MirrorView
from dashboard.admin.filters import bool_filter, choice_filter, flatten, id_filter
from dashboard.admin.related import related_links
from dashboard.models import StripePrice


class PriceView(MirrorView):
    permission_model = "StripePrice"

    column_list = ("id", "product", "unit_amount", "interval", "type", "active")
    column_details_list = (
        "id",
        "product",
        "unit_amount",
        "currency",
        "interval",
        "interval_count",
        "type",
        "active",
    )
    column_filters = flatten(
        bool_filter(StripePrice.active, "Active"),
        choice_filter(StripePrice.type, "Type", ("recurring", "one_time")),
        choice_filter(StripePrice.interval, "Interval", ("day", "week", "month", "year")),
        id_filter(StripePrice.product_id, "Product id"),
    )
    column_labels = {"unit_amount": "Amount", "product": "Plan"}
    column_formatters = {
        "id": columns.own_details_link("id"),
        "product": columns.details_link("products", "name"),
        "unit_amount": columns.money,
        "active": columns.yes_no,
    }

    def get_query(self) -> Any:
        return super().get_query().options(joinedload(StripePrice.product, innerjoin=True))

    def get_one(self, id: Any) -> Any:
        return self.get_query().filter(StripePrice.id == id).one_or_none()

    def related_links(self, model: StripePrice) -> list[tuple[str, str]]:
        return related_links([("Subscriptions", "subscriptions", "stripe_price_id", model.id)])
