"""E-mail verification tokens (NextAuth ``VerificationToken``): who has a pending sign-in
link and until when. The token is the table's only key and a credential (it signs the
holder in), so this view shows no details pages, row links or checkboxes: nothing on the
page may carry it, not even in a URL."""

from __future__ import annotations

from dashboard.admin.base import SecureModelView
from dashboard.admin.filters import date_filters, flatten, id_filter
from dashboard.models import VerificationToken


class VerificationTokenView(SecureModelView):
    permission_model = "VerificationToken"
    allow_details = False
    column_display_actions = False

    column_list = ("identifier", "expires")
    column_sortable_list = ("identifier",)
    column_default_sort = ("expires", True)
    column_filters = flatten(
        id_filter(VerificationToken.identifier, "Identifier"),
        date_filters(VerificationToken.expires, "Expires"),
    )
    column_labels = {"identifier": "Identifier (e-mail)", "expires": "Expires (UTC)"}
