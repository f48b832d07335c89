"""The admin interface (Flask-Admin, Bootstrap 4), served at ``/admin``; ``/`` redirects
there. Every view derives from dashboard.admin.base (deny by default, audited changes).

To add a view: write ``dashboard/admin/views/<name>.py`` with a ``SecureModelView`` or
``SecureView`` subclass and add one line to ``VIEWS`` below (or call
``admin.add_view`` on the object ``init_admin`` returns).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_admin import Admin, BaseView
from flask_admin.theme import Bootstrap4Theme

from dashboard.security import csp_nonce

ADMIN_URL = "/admin"


def _views() -> list[BaseView]:
    """A fresh instance of every view (Flask-Admin binds a view to one app)."""
    from dashboard.admin.views.accounts import AccountView
    from dashboard.admin.views.audit_log import AuditLogView
    from dashboard.admin.views.blog_posts import BlogPostView
    from dashboard.admin.views.customer_find import CustomerView as StripeCustomerView
    from dashboard.admin.views.customer_page import CustomerView
    from dashboard.admin.views.generate import GenerateView
    from dashboard.admin.views.jobs import JobView
    from dashboard.admin.views.payments import PaymentView
    from dashboard.admin.views.prices import PriceView
    from dashboard.admin.views.products import ProductView
    from dashboard.admin.views.resync import ResyncView
    from dashboard.admin.views.roles import RolesView
    from dashboard.admin.views.sessions import SessionView
    from dashboard.admin.views.staff import StaffView
    from dashboard.admin.views.subscriptions import SubscriptionView
    from dashboard.admin.views.users import UserView
    from dashboard.admin.views.verification_tokens import VerificationTokenView
    from dashboard.admin.views.webhook_events import WebhookEventView
    from dashboard.models import (
        Account,
        AuditLog,
        BlogPost,
        Job,
        PaymentHistory,
        Session,
        StaffAccount,
        StripeCustomer,
        StripeEventRecord,
        StripePrice,
        StripeProduct,
        User,
        UserSubscription,
        VerificationToken,
    )

    people, billing = "Customers", "Billing"
    return [
        UserView(User, name="Users", endpoint="users"),
        CustomerView(name="Find a customer", endpoint="customer"),
        BlogPostView(BlogPost, name="Blog posts", endpoint="blog_posts"),
        AccountView(Account, name="Sign-in accounts", endpoint="accounts", category=people),
        SessionView(Session, name="Sessions", endpoint="sessions", category=people),
        VerificationTokenView(
            VerificationToken,
            name="Verification tokens",
            endpoint="verification_tokens",
            category=people,
        ),
        SubscriptionView(
            UserSubscription, name="Subscriptions", endpoint="subscriptions", category=billing
        ),
        PaymentView(PaymentHistory, name="Payments", endpoint="payments", category=billing),
        StripeCustomerView(
            StripeCustomer, name="Stripe customers", endpoint="customers", category=billing
        ),
        ProductView(StripeProduct, name="Products", endpoint="products", category=billing),
        PriceView(StripePrice, name="Prices", endpoint="prices", category=billing),
        StaffView(StaffAccount, name="Staff", endpoint="staff", category="Backoffice"),
        AuditLogView(AuditLog, name="Audit log", endpoint="audit", category="Backoffice"),
        RolesView(name="What each role can do", endpoint="roles", category="Backoffice"),
        GenerateView(name="Generate post", endpoint="generate"),
        ResyncView(name="Resync Stripe", endpoint="resync", category=billing),
        WebhookEventView(
            StripeEventRecord, name="Webhook events", endpoint="webhook_events", category=billing
        ),
        JobView(Job, name="Jobs", endpoint="jobs", category="Backoffice"),
    ]


VIEWS: list[Callable[[], list[BaseView]]] = [_views]


def _home() -> ResponseReturnValue:
    return redirect(url_for("admin.index"))


def init_admin(app: Flask) -> Admin:
    """Mount the admin on ``app`` and return it."""
    from dashboard.admin.views.home import HomeView

    admin = Admin(
        app,
        name="Backoffice",
        url=ADMIN_URL,
        index_view=HomeView(name="Home", url=ADMIN_URL),
        theme=Bootstrap4Theme(base_template="admin/bo/base.html", fluid=True),
        csp_nonce_generator=csp_nonce,
    )
    for build in VIEWS:
        admin.add_views(*build())
    app.add_url_rule("/", "home", _home)
    return admin
