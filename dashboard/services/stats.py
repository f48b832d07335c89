"""The figures on the home dashboard, each from one aggregate query.

On PostgreSQL the queries run concurrently on separate connections (each is an index or
sequential scan over up to a few million rows, so the page costs the slowest query rather
than their sum), and the result is kept for ``STATS_CACHE_SECONDS`` so that a dashboard
left open or reloaded does not rescan the tables; the page shows when the figures were
computed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import (
    AuditLog,
    BlogPost,
    MembershipStatus,
    StripePrice,
    StripeProduct,
    User,
    UserRole,
    UserSubscription,
    utcnow,
)

ACTIVE_SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due")
# Statuses that bring in money this month (trials do not yet).
REVENUE_SUBSCRIPTION_STATUSES = ("active", "past_due")


@dataclass
class DashboardFigures:
    computed_at: datetime
    seconds: float
    users_by_role: dict[str, int] = field(default_factory=dict)
    users_by_membership: dict[str, int] = field(default_factory=dict)
    signups_per_day: list[tuple[str, int]] = field(default_factory=list)
    subscriptions_by_product: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)
    posts: dict[str, int] = field(default_factory=dict)
    published_per_week: list[tuple[str, int]] = field(default_factory=list)
    recent_audit: list[AuditLog] = field(default_factory=list)

    @property
    def total_users(self) -> int:
        return sum(self.users_by_role.values())

    @property
    def monthly_recurring_revenue(self) -> int:
        return sum(row["mrr_cents"] for row in self.subscriptions_by_product)


def _day(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return sa.func.date_trunc("day", column)
    return sa.func.strftime("%Y-%m-%d", column)


def _week(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return sa.func.date_trunc("week", column)
    # SQLite: the Monday of the week.
    return sa.func.date(column, "weekday 0", "-6 days")


def _label(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if isinstance(value, datetime) else str(value)


def _users_by_role_and_membership(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    rows = conn.execute(
        sa.select(User.role, User.membership_status, sa.func.count()).group_by(
            User.role, User.membership_status
        )
    ).all()
    roles = {role.value: 0 for role in UserRole}
    memberships = {status.value: 0 for status in MembershipStatus}
    for role, membership, count in rows:
        roles[UserRole(role).value] += count
        memberships[MembershipStatus(membership).value] += count
    return {"users_by_role": roles, "users_by_membership": memberships}


def _signups(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    start = (now - timedelta(days=29)).replace(hour=0, minute=0, second=0, microsecond=0)
    day = _day(User.created_at, conn.dialect.name)
    rows = {
        _label(key): count
        for key, count in conn.execute(
            sa.select(day, sa.func.count()).where(User.created_at >= start).group_by(day)
        )
    }
    days = [(start + timedelta(days=offset)).strftime("%Y-%m-%d") for offset in range(30)]
    return {"signups_per_day": [(d, int(rows.get(d, 0))) for d in days]}


def _subscriptions(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    # Count per price first (an index-only scan of status+price), then join the handful of
    # prices and products: far cheaper than joining every subscription row.
    per_price = (
        sa.select(
            UserSubscription.stripe_price_id.label("price_id"),
            sa.func.count().label("active"),
            sa.func.count()
            .filter(UserSubscription.status.in_(REVENUE_SUBSCRIPTION_STATUSES))
            .label("paying"),
        )
        .where(UserSubscription.status.in_(ACTIVE_SUBSCRIPTION_STATUSES))
        .group_by(UserSubscription.stripe_price_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(
            StripeProduct.id,
            StripeProduct.name,
            StripePrice.unit_amount,
            StripePrice.interval,
            StripePrice.interval_count,
            per_price.c.active,
            per_price.c.paying,
        )
        .join(StripePrice, StripePrice.id == per_price.c.price_id)
        .join(StripeProduct, StripeProduct.id == StripePrice.product_id)
    ).all()
    products: dict[str, dict[str, Any]] = {}
    for pid, name, amount, interval, interval_count, active, paying in rows:
        row = products.setdefault(
            pid, {"product_id": pid, "product": name, "active": 0, "mrr_cents": 0.0}
        )
        row["active"] += int(active)
        row["mrr_cents"] += paying * monthly_amount(amount, interval, interval_count)
    for row in products.values():
        row["mrr_cents"] = round(row["mrr_cents"])
    return {"subscriptions_by_product": sorted(products.values(), key=lambda r: r["product"])}


def monthly_amount(unit_amount: int | None, interval: str | None, count: int | None) -> float:
    """A recurring price's amount per month, in cents (0 for one-time prices)."""
    if not unit_amount or not interval:
        return 0.0
    per_interval = {"day": 365 / 12, "week": 52 / 12, "month": 1.0, "year": 1 / 12}
    return unit_amount * per_interval.get(interval, 0.0) / (count or 1)


def _tokens(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    soon = sa.and_(User.tokens_expires_at >= now, User.tokens_expires_at < now + timedelta(days=7))
    total, expiring_users, expiring_tokens = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(User.tokens), 0),
            sa.func.count().filter(soon),
            sa.func.coalesce(sa.func.sum(User.tokens).filter(soon), 0),
        ).where(User.tokens > 0)
    ).one()
    return {
        "tokens": {
            "outstanding": int(total),
            "expiring_users": int(expiring_users),
            "expiring_tokens": int(expiring_tokens),
        }
    }


def _posts(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    drafts = conn.execute(
        sa.select(sa.func.count()).select_from(BlogPost).where(BlogPost.is_published.is_(False))
    ).scalar_one()
    start = now - timedelta(weeks=12)
    week = _week(BlogPost.published_at, conn.dialect.name)
    rows = {
        _label(key): count
        for key, count in conn.execute(
            sa.select(week, sa.func.count())
            .where(BlogPost.is_published.is_(True), BlogPost.published_at >= start)
            .group_by(week)
        )
    }
    monday = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    weeks = [(monday - timedelta(weeks=n)).strftime("%Y-%m-%d") for n in range(11, -1, -1)]
    return {
        "posts": {"drafts": int(drafts)},
        "published_per_week": [(w, int(rows.get(w, 0))) for w in weeks],
    }


FIGURE_QUERIES: tuple[Callable[[sa.Connection, datetime], dict[str, Any]], ...] = (
    _users_by_role_and_membership,
    _signups,
    _subscriptions,
    _tokens,
    _posts,
)

_cache: dict[str, tuple[float, DashboardFigures]] = {}
_cache_lock = threading.Lock()


def _run_concurrently(engine: sa.Engine, now: datetime) -> list[dict[str, Any]]:
    def run(query: Callable[[sa.Connection, datetime], dict[str, Any]]) -> dict[str, Any]:
        with engine.connect() as conn:
            return query(conn, now)

    with ThreadPoolExecutor(max_workers=len(FIGURE_QUERIES)) as pool:
        return list(pool.map(run, FIGURE_QUERIES))


def stats_dashboard(
    *, max_age_seconds: float = 60.0, now: datetime | None = None
) -> DashboardFigures:
    """The home dashboard's figures, computed at most every ``max_age_seconds``."""
    bind = db.engine
    key = str(getattr(bind, "url", "connection"))
    cached = _cache.get(key)
    if max_age_seconds > 0 and cached and time.monotonic() - cached[0] < max_age_seconds:
        figures = cached[1]
    else:
        now = now or utcnow()
        started = time.monotonic()
        if isinstance(bind, sa.Engine) and bind.dialect.name == "postgresql":
            parts = _run_concurrently(bind, now)
        else:
            # SQLite, or a test's single connection: one after the other.
            connection = db.session.connection()
            parts = [query(connection, now) for query in FIGURE_QUERIES]
        figures = DashboardFigures(computed_at=now, seconds=time.monotonic() - started)
        for part in parts:
            for name, value in part.items():
                setattr(figures, name, value)
        if max_age_seconds > 0:
            with _cache_lock:
                _cache[key] = (time.monotonic(), figures)
    # The audit feed is always live: it is one index scan.
    figures.recent_audit = list(
        db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id.desc()).limit(10))
    )
    return figures
