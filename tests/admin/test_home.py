"""The admin home page is the dashboard: figures and charts the role may see, with the
pages it may open beside them."""

from __future__ import annotations

import re

import pytest

from dashboard.extensions import db
from dashboard.models import UserRole
from tests.admin.views_helpers import signed_in, text
from tests.factories import make_post, make_price, make_subscription, make_user

pytestmark = pytest.mark.backends("postgresql", "sqlite")


def test_the_admin_sees_every_figure_and_chart(app, monkeypatch):
    monkeypatch.setitem(app.config, "STATS_CACHE_SECONDS", 0)
    user = make_user(role=UserRole.PREMIUM, tokens=40)
    make_subscription(user, make_price(unit_amount=1200))
    make_post(user)
    db.session.commit()
    page = text(signed_in(app, "ADMIN").get("/admin/"))
    for section in ("users-by-role", "subscriptions-by-product", "token-figures", "recent-audit"):
        assert f'id="{section}"' in page, section
    assert "<svg" in page and 'id="signups-table"' in page and 'id="published-table"' in page
    assert re.search(r'id="mrr-total">12\.00<', page)
    drafts = re.search(r'<p id="drafts-waiting"><a href="([^"]+)">1 drafts waiting', page)
    assert drafts and "/admin/blog_posts/" in drafts.group(1)
    assert 'id="bo-home-links"' in page


def test_an_editor_sees_posts_but_not_revenue_users_or_the_audit_trail(app, monkeypatch):
    monkeypatch.setitem(app.config, "STATS_CACHE_SECONDS", 0)
    page = text(signed_in(app, "EDITOR").get("/admin/"))
    assert 'id="drafts-waiting"' in page and 'id="published-table"' in page
    for hidden in ("subscriptions-by-product", "users-by-role", "token-figures", "recent-audit"):
        assert f'id="{hidden}"' not in page, hidden
    links = page[page.index('id="bo-home-links"') :]
    assert "/admin/blog_posts/" in links and "/admin/payments/" not in links
