"""The home dashboard: the state of the business at a glance."""

from __future__ import annotations

from typing import Any

from flask import current_app

from dashboard.admin.charts import bar_chart
from dashboard.services.stats import stats_dashboard


def home_context() -> dict[str, Any]:
    """Everything admin/home.html renders."""
    figures = stats_dashboard(max_age_seconds=current_app.config.get("STATS_CACHE_SECONDS", 60))
    return {
        "figures": figures,
        "signups_chart": bar_chart(
            [(day[5:], count) for day, count in figures.signups_per_day],
            title="Sign-ups per day, last 30 days",
        ),
        "published_chart": bar_chart(
            [(week[5:], count) for week, count in figures.published_per_week],
            title="Posts published per week, last 12 weeks",
        ),
    }
