"""Payments (Stripe's PaymentHistory mirror, millions of rows): read-only, newest first,
each row with its user's e-mail from the same query, searchable by Stripe id or by the
user's e-mail."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import joinedload

from dashboard.admin import columns
from dashboard.admin.column_kinds import BigMirrorView
from dashboard.admin.filters import choice_filter, date_filters, flatten, id_filter
from dashboard.admin.listing import SearchColumn, user_email
from dashboard.models import PaymentHistory

PAYMENT_STATUSES = (
    "succeeded",
    "failed",
    "refunded",
    "partially_refunded",
    "pending",
    "canceled",
)


class PaymentView(BigMirrorView):
    permission_model = "PaymentHistory"
    allow_export = True

    column_list = ("created_at", "user", "amount", "status", "stripe_payment_intent_id")
    column_details_list = (
        "id",
        "stripe_payment_intent_id",
        "user",
        "amount",
        "currency",
        "status",
        "created_at",
    )
    column_export_list = (
        "id",
        "stripe_payment_intent_id",
        "user_id",
        "user.email",
        "amount",
        "currency",
        "status",
        "created_at",
    )
    column_sortable_list = ("created_at",)
    column_filters = flatten(
        choice_filter(PaymentHistory.status, "Status", PAYMENT_STATUSES),
        date_filters(PaymentHistory.created_at, "Paid"),
        id_filter(PaymentHistory.user_id, "User id"),
    )
    list_key = ("created_at", "id")
    search_columns = (SearchColumn("stripe_payment_intent_id", "exact"), user_email())
    column_labels = {
        "created_at": "When (UTC)",
        "stripe_payment_intent_id": "Stripe payment intent",
        "user_id": "User id",
        "user.email": "User email",
    }
    column_formatters = {"user": columns.user, "amount": columns.money}

    def get_query(self) -> Any:
        return super().get_query().options(joinedload(PaymentHistory.user, innerjoin=True))

    def get_one(self, id: Any) -> Any:
        return self.get_query().filter(PaymentHistory.id == id).one_or_none()
