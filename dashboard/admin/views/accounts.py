"""Sign-in accounts (NextAuth ``Account``: a user's Google / GitHub login): read-only.
The OAuth tokens (access, refresh, id) and the session state are never listed, shown,
searched, filtered or exported: the column allowlists leave them out, and the base refuses
a view that names them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import joinedload

from dashboard.admin import columns
from dashboard.admin.column_kinds import BigTableView
from dashboard.admin.filters import choice_filter, flatten, id_filter
from dashboard.admin.listing import SearchColumn, user_email
from dashboard.models import Account

ACCOUNT_TYPES = ("oauth", "oidc", "email", "credentials")


class AccountView(BigTableView):
    permission_model = "Account"
    allow_export = True

    column_list = ("user", "provider", "provider_account_id", "type", "scope")
    column_details_list = (
        "id",
        "user",
        "type",
        "provider",
        "provider_account_id",
        "token_type",
        "scope",
        "expires_at",
    )
    column_export_list = ("id", "user_id", "user.email", "type", "provider", "provider_account_id")
    column_filters = flatten(
        id_filter(Account.provider, "Provider"),
        choice_filter(Account.type, "Type", ACCOUNT_TYPES),
        id_filter(Account.user_id, "User id"),
    )
    # No creation time in the schema: ids (cuid) grow with time, so the newest come first.
    list_key = ("id",)
    search_columns = (SearchColumn("id", "exact"), user_email())
    column_labels = {
        "provider_account_id": "Account id at the provider",
        "expires_at": "Access expires (epoch s)",
        "user.email": "User email",
    }
    column_formatters = {"user": columns.user}

    def get_query(self) -> Any:
        return super().get_query().options(joinedload(Account.user, innerjoin=True))

    def get_one(self, id: Any) -> Any:
        return self.get_query().filter(Account.id == id).one_or_none()
