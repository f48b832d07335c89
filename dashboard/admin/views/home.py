"""The admin home page: who is signed in and the views their role may open."""

from __future__ import annotations

from flask import url_for
from flask_admin import AdminIndexView, expose

from dashboard.admin.access import AccessMixin, requires
from dashboard.auth.current import current_staff
from dashboard.permissions import Tool


class HomeView(AccessMixin, AdminIndexView):
    @expose("/")
    @requires(tool=Tool.VIEW_DASHBOARD)
    def index(self) -> str:
        links = []
        for view in self.admin._views:  # noqa: SLF001 - Flask-Admin keeps no public list
            if view is self or not view.is_accessible():
                continue
            landing = getattr(view, "landing_endpoint", "index")
            links.append((view.name, url_for(f"{view.endpoint}.{landing}")))
        return self.render("admin/bo/index.html", staff=current_staff(), links=links)
