"""The admin home page: the state of the business at a glance (figures and charts from
``dashboard.admin.home_figures``), and beside it the pages the signed-in role may open."""

from __future__ import annotations

from flask import url_for
from flask_admin import AdminIndexView, expose

from dashboard.admin.access import AccessMixin, requires
from dashboard.admin.home_figures import home_context
from dashboard.admin.links import user_link
from dashboard.admin.related import related_list_url
from dashboard.auth.current import current_role, current_staff
from dashboard.permissions import Op, Tool, can, visible_fields


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
        role = current_role()
        # Each section shows figures from models the role may read.
        sections = {
            "users": can(role, "User", Op.VIEW) and visible_fields(role, "User") is None,
            "billing": can(role, "UserSubscription", Op.VIEW),
            "posts": can(role, "BlogPost", Op.VIEW),
            "audit": can(role, "AuditLog", Op.VIEW),
        }
        return self.render(
            "admin/home.html",
            staff=current_staff(),
            links=links,
            sections=sections,
            drafts_url=related_list_url("blog_posts", "is_published", "0"),
            user_link=user_link,
            **home_context(),
        )
