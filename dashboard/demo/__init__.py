"""Deterministic, realistic demo data, loaded in bulk (behind ``flask seed-demo``).

The package owns what the demo database looks like and how it gets there fast. Rows are
generated in chunks of users as plain tuples and written with PostgreSQL's COPY (or
executemany on SQLite), so a million users with three million payments load in minutes
without building ORM objects. The same ``seed`` and ``as_of`` always give the same rows. User
roles and membership statuses follow from each user's subscriptions by the rule the Stripe
sync applies, so the demo data is consistent with what Backoffice would compute.

- ``vocabulary``: names, topics, plans and the weighted statuses;
- ``rows``: ``Table`` and ``Mint`` (the seeded random source, ids and timestamps);
- ``catalogue``, ``billing``, ``people``, ``posts``: the rows of each kind;
- ``generator``: ``DemoGenerator``, which draws them chunk by chunk in a fixed order;
- ``loader``: COPY, the index drop and rebuild, and ``load_demo_data``.
"""

from dashboard.demo.generator import DemoGenerator
from dashboard.demo.loader import (
    ERR_TABLES_BUSY,
    LOADED_TABLES,
    LOCK_TIMEOUT_MS,
    DemoLoadBlocked,
    load_demo_data,
    secondary_indexes_deferred,
)
from dashboard.demo.rows import Table
from dashboard.demo.vocabulary import (
    DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    PAYMENT_STATUSES,
    PLANS,
    POST_ANGLES,
    SUBSCRIPTION_STATUSES,
    TOPICS,
    pick_payment_status,
    pick_subscription_status,
)

__all__ = [
    "DOMAINS",
    "ERR_TABLES_BUSY",
    "FIRST_NAMES",
    "LAST_NAMES",
    "LOADED_TABLES",
    "LOCK_TIMEOUT_MS",
    "PAYMENT_STATUSES",
    "PLANS",
    "POST_ANGLES",
    "SUBSCRIPTION_STATUSES",
    "TOPICS",
    "DemoGenerator",
    "DemoLoadBlocked",
    "Table",
    "load_demo_data",
    "pick_payment_status",
    "pick_subscription_status",
    "secondary_indexes_deferred",
]
