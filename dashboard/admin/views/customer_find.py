"""Stripe customers (the StripeCustomer mirror: which Stripe customer a user is): read-only,
searchable by Stripe customer id or by the user's e-mail."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import joinedload

from dashboard.admin import columns
from dashboard.admin.column_kinds import BigMirrorView
from dashboard.admin.filters import flatten, id_filter
from dashboard.admin.listing import SearchColumn, user_email
from dashboard.models import StripeCustomer


class CustomerView(BigMirrorView):
    permission_model = "StripeCustomer"

    column_list = ("stripe_customer_id", "user")
    column_details_list = ("id", "stripe_customer_id", "user")
    column_filters = flatten(id_filter(StripeCustomer.user_id, "User id"))
    # No creation time in the schema: ids (cuid) grow with time, so the newest come first.
    list_key = ("id",)
    search_columns = (
        SearchColumn("stripe_customer_id", "exact"),
        user_email(),
    )
    column_labels = {"stripe_customer_id": "Stripe customer"}
    column_formatters = {"user": columns.user}

    def get_query(self) -> Any:
        return super().get_query().options(joinedload(StripeCustomer.user, innerjoin=True))

    def get_one(self, id: Any) -> Any:
        return self.get_query().filter(StripeCustomer.id == id).one_or_none()
