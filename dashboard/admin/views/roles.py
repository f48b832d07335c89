""" "What can each role do": the permission matrix as one table, for every staff member."""

from __future__ import annotations

from flask_admin import expose

from dashboard import permissions
from dashboard.admin.access import requires
from dashboard.admin.base import SecureView
from dashboard.auth.current import current_role
from dashboard.models import StaffRole


def field_limits() -> list[str]:
    lines = []
    for (role, model), fields in sorted(permissions.VISIBLE_FIELDS.items()):
        lines.append(f"{role.value} sees only {', '.join(sorted(fields))} of {model}.")
    for (role, model), fields in sorted(permissions.EDITABLE_FIELDS.items()):
        lines.append(f"{role.value} may change only {', '.join(sorted(fields))} of {model}.")
    return lines


class RolesView(SecureView):
    @expose("/")
    @requires(any_staff=True)
    def index(self) -> str:
        return self.render(
            "admin/bo/roles.html",
            rows=permissions.matrix_rows(),
            roles=list(StaffRole),
            my_role=current_role(),
            limits=field_limits(),
        )
