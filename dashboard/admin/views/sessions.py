"""Signed-in devices of customers (NextAuth database ``Session`` rows): read-only. The
session token is never listed, shown, searched or exported (it would let anyone reading the
page sign in as the customer). To end sessions use Ban or Sign out everywhere."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import joinedload

from dashboard.admin import columns
from dashboard.admin.column_kinds import BigTableView
from dashboard.admin.filters import date_filters, flatten, id_filter
from dashboard.admin.listing import SearchColumn, user_email
from dashboard.models import Session


class SessionView(BigTableView):
    permission_model = "Session"
    allow_export = True

    column_list = ("id", "user", "expires")
    column_details_list = ("id", "user", "expires")
    column_export_list = ("id", "user_id", "user.email", "expires")
    column_filters = flatten(
        date_filters(Session.expires, "Expires"), id_filter(Session.user_id, "User id")
    )
    # No creation time in the schema: ids (cuid) grow with time, so the newest come first.
    list_key = ("id",)
    search_columns = (SearchColumn("id", "exact"), user_email())
    column_labels = {"expires": "Expires (UTC)", "user.email": "User email"}
    column_formatters = {"user": columns.user, "id": columns.own_details_link("id")}

    def get_query(self) -> Any:
        return super().get_query().options(joinedload(Session.user, innerjoin=True))

    def get_one(self, id: Any) -> Any:
        return self.get_query().filter(Session.id == id).one_or_none()
