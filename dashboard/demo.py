"""Deterministic, realistic demo data, loaded in bulk.

Rows are generated in chunks of users as plain tuples and written with PostgreSQL's COPY
(or executemany on SQLite), so a million users with three million payments load in
minutes without building ORM objects. The same ``seed`` and ``as_of`` always give the same
rows. User roles and membership statuses follow from each user's subscriptions by the rule
the Stripe sync applies, so the demo data is consistent with what Backoffice would compute.
"""

from __future__ import annotations

import io
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dashboard.database import backoffice_schema
from dashboard.services.membership import derive_user_state

FIRST_NAMES = (
    "Ada Alan Grace Linus Margaret Ken Barbara Dennis Frances Edsger Radia Tim Hedy Donald "
    "Katherine John Mary Guido Anita Bjarne Sophie Yukihiro Lynn Brian Karen Niklaus Shafi "
    "Leslie Adele Fernando Joan Rasmus Annie Vint Jean Ivan Carla Tony Ruth Marvin Noor "
    "Amara Kofi Mei Hiroshi Priya Arjun Zofia Lars Ingrid Mateo Lucia Omar Fatima Chen Olu"
).split()
LAST_NAMES = (
    "Lovelace Turing Hopper Torvalds Hamilton Thompson Liskov Ritchie Allen Dijkstra Perlman "
    "Berners-Lee Lamarr Knuth Johnson Backus Kenneth Rossum Borg Stroustrup Wilson Matsumoto "
    "Conway Kernighan Jones Wirth Goldwasser Lamport Goldberg Corbato Clarke Lerdorf Easley "
    "Cerf Sammet Sutherland Meyer Hoare Nakamura Minsky Haddad Okafor Mensah Zhang Tanaka "
    "Patel Sharma Nowak Larsen Berg Garcia Rossi Hassan Ali Wang Adeyemi"
).split()
DOMAINS = ("example.com", "example.org", "example.net", "mail.test", "corp.example")
TOPICS = (
    "remote work",
    "sourdough baking",
    "personal finance",
    "trail running",
    "home coffee",
    "small business marketing",
    "urban gardening",
    "product design",
    "language learning",
    "budget travel",
    "indoor climbing",
    "photography",
    "podcasting",
    "mechanical keyboards",
)

POST_ANGLES = ("A Beginner Guide", "Lessons Learned", "What Nobody Tells You", "Ten Tips")
# (key, name, tokens per period, monthly cents, yearly cents)
PLANS = (
    ("starter", "Starter", 10, 900, 9000),
    ("pro", "Pro", 50, 2900, 29000),
    ("business", "Business", 200, 9900, 99000),
)
# Weighted subscription statuses as Stripe reports them.
SUBSCRIPTION_STATUSES = (
    ("active", 60),
    ("trialing", 5),
    ("past_due", 5),
    ("unpaid", 2),
    ("canceled", 18),
    ("incomplete", 3),
    ("incomplete_expired", 4),
    ("paused", 3),
)
PAYMENT_STATUSES = (("succeeded", 90), ("failed", 7), ("refunded", 3))


@dataclass
class Table:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def _weighted(options: Sequence[tuple[str, int]]) -> Callable[[random.Random], str]:
    values = [value for value, _ in options]
    cumulative = []
    total = 0
    for _, weight in options:
        total += weight
        cumulative.append(total)

    def pick(rng: random.Random) -> str:
        return rng.choices(values, cum_weights=cumulative, k=1)[0]

    return pick


pick_subscription_status = _weighted(SUBSCRIPTION_STATUSES)
pick_payment_status = _weighted(PAYMENT_STATUSES)


class DemoGenerator:
    """Yields chunks of rows for every shared table, in foreign-key order."""

    def __init__(self, *, users: int, seed: int, as_of: datetime, payments_per_user: float = 3.0):
        self.user_count = users
        self.rng = random.Random(seed)
        self.seed = seed
        self.as_of = as_of
        self.payments_per_user = payments_per_user
        self.counters: dict[str, int] = {}

    # -- ids ---------------------------------------------------------------------------
    def _next(self, kind: str) -> int:
        value = self.counters.get(kind, 0) + 1
        self.counters[kind] = value
        return value

    def cuid(self, kind: str) -> str:
        # 25 characters like Prisma's cuid(): "c" + a per-table counter + seeded noise.
        return f"c{self._next(kind):08x}{self.rng.getrandbits(64):016x}"

    def stripe_id(self, prefix: str, kind: str) -> str:
        return f"{prefix}_{self.seed:02x}{self._next(kind):010d}{self.rng.getrandbits(32):08x}"

    def _ago(self, max_days: float) -> datetime:
        moment = self.as_of - timedelta(seconds=self.rng.random() * max_days * 86400)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    # -- catalogue ---------------------------------------------------------------------
    def catalogue(self) -> tuple[Table, Table]:
        products = Table(
            "StripeProduct",
            ("id", "name", "description", "active", "tokens", "metadata", "createdAt", "updatedAt"),
        )
        prices = Table(
            "StripePrice",
            (
                "id",
                "productId",
                "unitAmount",
                "currency",
                "interval",
                "intervalCount",
                "type",
                "active",
            ),
        )
        self.plans: list[dict[str, Any]] = []
        created = self.as_of - timedelta(days=900)
        for key, name, tokens, monthly, yearly in PLANS:
            product_id = f"prod_demo{key}"
            products.rows.append(
                (
                    product_id,
                    name,
                    f"{name} plan: {tokens} tokens a month",
                    True,
                    tokens,
                    {"tokens": str(tokens), "plan": key},
                    created,
                    created,
                )
            )
            for interval, amount in (("month", monthly), ("year", yearly)):
                price_id = f"price_demo{key}{interval}"
                prices.rows.append(
                    (price_id, product_id, amount, "usd", interval, 1, "recurring", True)
                )
                self.plans.append(
                    {
                        "product": product_id,
                        "price": price_id,
                        "amount": amount,
                        "interval": interval,
                        "tokens": tokens,
                    }
                )
        # An archived plan with an archived price: Stripe never deletes them.
        products.rows.append(
            (
                "prod_demolegacy",
                "Legacy Basic",
                "Retired in 2025",
                False,
                5,
                {"tokens": "5"},
                created,
                created,
            )
        )
        prices.rows.append(
            ("price_demolegacymonth", "prod_demolegacy", 500, "usd", "month", 1, "recurring", False)
        )
        prices.rows.append(
            ("price_demotokenpack", "prod_demopro", 1500, "usd", None, None, "one_time", True)
        )
        return products, prices

    # -- users and everything hanging off them -----------------------------------------
    def chunks(self, chunk_size: int) -> Iterable[list[Table]]:
        for start in range(0, self.user_count, chunk_size):
            yield self._chunk(start, min(start + chunk_size, self.user_count))

    def _chunk(self, start: int, stop: int) -> list[Table]:
        rng = self.rng
        users = Table(
            "User",
            (
                "id",
                "email",
                "name",
                "role",
                "stripeProductId",
                "membershipStatus",
                "tokens",
                "tokensExpiresAt",
                "emailVerified",
                "image",
                "createdAt",
                "updatedAt",
            ),
        )
        accounts = Table(
            "Account",
            (
                "id",
                "userId",
                "type",
                "provider",
                "providerAccountId",
                "refresh_token",
                "access_token",
                "expires_at",
                "token_type",
                "scope",
                "id_token",
                "session_state",
            ),
        )
        sessions = Table("Session", ("id", "sessionToken", "userId", "expires"))
        tokens = Table("VerificationToken", ("identifier", "token", "expires"))
        customers = Table("StripeCustomer", ("id", "userId", "stripeCustomerId"))
        subscriptions = Table(
            "UserSubscription",
            (
                "id",
                "userId",
                "stripeSubscriptionId",
                "stripeProductId",
                "stripePriceId",
                "status",
                "currentPeriodStart",
                "currentPeriodEnd",
                "cancelAtPeriodEnd",
                "createdAt",
                "updatedAt",
            ),
        )
        payments = Table(
            "PaymentHistory",
            (
                "id",
                "userId",
                "stripePaymentIntentId",
                "amount",
                "currency",
                "status",
                "createdAt",
            ),
        )
        ledger = Table(
            "bo_token_ledger",
            (
                "user_id",
                "delta",
                "balance_after",
                "kind",
                "reason",
                "expires_at",
                "actor_label",
                "created_at",
            ),
        )
        posts = Table(
            "BlogPost",
            (
                "id",
                "user_id",
                "title",
                "content",
                "original_text",
                "image_url",
                "image_prompt",
                "tokens_used",
                "character_count",
                "slug",
                "is_published",
                "published_at",
                "created_at",
                "updated_at",
            ),
        )
        # A customer has ~5 payments on average (not every period has passed yet), so ~60%
        # of users being customers gives ~3 payments a user.
        customer_share = min(0.9, self.payments_per_user / 5.0)

        for index in range(start, stop):
            first = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]
            last = LAST_NAMES[rng.randrange(len(LAST_NAMES))]
            user_id = self.cuid("user")
            email = f"{first}.{last}{index + 1}@{DOMAINS[index % len(DOMAINS)]}".lower()
            # Sign-ups lean recent: a quarter arrived in the last 60 days.
            created = self._ago(60 if rng.random() < 0.25 else 730)
            verified = (
                created + timedelta(minutes=rng.randrange(1, 600)) if rng.random() < 0.8 else None
            )
            forced = index % 97  # the first users of every 97 cover each combination
            statuses, product_for_user, period_end = self._billing(
                customers,
                subscriptions,
                payments,
                user_id=user_id,
                created=created,
                forced=forced,
                customer_share=customer_share,
            )

            role, membership = derive_user_state(statuses)
            if role == "USER":
                product_for_user = None
            # ADMIN and BANNED are set by people, not by Stripe; they keep their plan.
            if index % 997 == 10:
                role = "ADMIN"
            elif forced in (11, 12) or (forced > 20 and rng.random() < 0.01):
                role = "BANNED"
            balance = 0
            expires = None
            if role == "PREMIUM" and period_end is not None:
                balance = rng.randrange(0, 60)
                expires = period_end
            elif rng.random() < 0.05:
                balance = rng.randrange(1, 5)
                expires = self.as_of + timedelta(days=rng.randrange(-20, 20))
            users.rows.append(
                (
                    user_id,
                    email,
                    f"{first} {last}",
                    role,
                    product_for_user,
                    membership,
                    balance,
                    expires,
                    verified,
                    None,
                    created,
                    created,
                )
            )
            if balance:
                # The ledger explains every balance, so `flask tokens check` is clean.
                ledger.rows.append(
                    (
                        user_id,
                        balance,
                        balance,
                        "OPENING_BALANCE",
                        "Demo opening balance",
                        expires,
                        "seed-demo",
                        created,
                    )
                )

            self._identity(
                accounts,
                sessions,
                tokens,
                user_id=user_id,
                email=email,
                created=created,
                verified=verified,
            )
            if forced in (3, 4) or rng.random() < 0.03:
                self._posts(posts, user_id, created, published=forced == 3 or rng.random() < 0.6)
        return [
            users,
            ledger,
            accounts,
            sessions,
            tokens,
            customers,
            subscriptions,
            payments,
            posts,
        ]

    def _identity(
        self,
        accounts: Table,
        sessions: Table,
        tokens: Table,
        *,
        user_id: str,
        email: str,
        created: datetime,
        verified: datetime | None,
    ) -> None:
        """NextAuth rows: an OAuth account, live or expired sessions, a pending sign-in."""
        rng = self.rng
        provider_roll = rng.random()
        if provider_roll < 0.85:
            provider = "google" if provider_roll < 0.6 else "github"
            account_id = str(10**15 + self._next("provider_account"))
            accounts.rows.append(
                (
                    self.cuid("account"),
                    user_id,
                    "oauth",
                    provider,
                    account_id,
                    f"1//demo-refresh-{rng.getrandbits(64):x}",
                    f"ya29.demo-access-{rng.getrandbits(96):x}",
                    int(created.timestamp()) + 3600,
                    "Bearer",
                    "openid email profile",
                    f"eyJdemo.{rng.getrandbits(64):x}",
                    None,
                )
            )
        if rng.random() < 0.4:
            for _ in range(1 + (rng.random() < 0.3)):
                sessions.rows.append(
                    (
                        self.cuid("session"),
                        f"{rng.getrandbits(128):032x}",
                        user_id,
                        self.as_of + timedelta(days=rng.randrange(-10, 30)),
                    )
                )
        if verified is None and rng.random() < 0.05:
            tokens.rows.append(
                (email, f"{rng.getrandbits(128):032x}", self.as_of + timedelta(hours=24))
            )

    def _billing(
        self,
        customers: Table,
        subscriptions: Table,
        payments: Table,
        *,
        user_id: str,
        created: datetime,
        forced: int,
        customer_share: float,
    ) -> tuple[list[str], str | None, datetime | None]:
        """A customer's subscriptions and payments; returns their statuses, the live plan's
        product and its period end."""
        rng = self.rng
        statuses: list[str] = []
        product_for_user = None
        period_end = None
        if not (forced < 8 or rng.random() < customer_share):
            return statuses, None, None
        customers.rows.append((self.cuid("customer"), user_id, self.stripe_id("cus", "customer")))
        subscription_count = 2 if rng.random() < 0.15 else 1
        for sub_number in range(subscription_count):
            plan = self.plans[rng.randrange(len(self.plans))]
            if forced < 8 and sub_number == 0:
                status = SUBSCRIPTION_STATUSES[forced][0]
            elif sub_number == 1:
                status = "canceled"  # an earlier plan the customer left
            else:
                status = pick_subscription_status(rng)
            statuses.append(status)
            sub_created = max(created, self._ago(700))
            days = 30 if plan["interval"] == "month" else 365
            if status in ("canceled", "incomplete_expired"):
                end = sub_created + timedelta(days=days)
                begin = sub_created
            else:
                end = self.as_of + timedelta(days=rng.randrange(1, days))
                begin = end - timedelta(days=days)
            subscriptions.rows.append(
                (
                    self.cuid("subscription"),
                    user_id,
                    self.stripe_id("sub", "subscription"),
                    plan["product"],
                    plan["price"],
                    status,
                    begin,
                    end,
                    status == "active" and rng.random() < 0.1,
                    sub_created,
                    sub_created,
                )
            )
            if status in ("active", "trialing", "past_due", "unpaid"):
                product_for_user = plan["product"]
                period_end = end
            # Payment history: roughly monthly since the subscription started.
            payment_count = rng.randint(1, 16)
            if sub_number == 1:
                payment_count = rng.randint(1, 3)
            for number in range(payment_count):
                paid = sub_created + timedelta(days=number * 30, hours=rng.random() * 5)
                if paid > self.as_of:
                    break
                pstatus = pick_payment_status(rng) if status != "past_due" else "failed"
                payments.rows.append(
                    (
                        self.cuid("payment"),
                        user_id,
                        self.stripe_id("pi", "payment"),
                        plan["amount"],
                        "usd",
                        pstatus,
                        paid.replace(microsecond=paid.microsecond // 1000 * 1000),
                    )
                )

        return statuses, product_for_user, period_end

    def _posts(self, posts: Table, user_id: str, created: datetime, *, published: bool) -> None:
        rng = self.rng
        topic = TOPICS[rng.randrange(len(TOPICS))]
        number = self._next("post")
        angle = rng.choice(POST_ANGLES)
        title = f"{topic.title()}: {angle}"
        original = (f"My notes on {topic}. " * rng.randint(20, 60)).strip()
        content = (
            f"{topic.capitalize()} rewards patience.\n\n## Why {topic} matters\n\n"
            f"Most people start {topic} with big plans.\n\n## Getting started\n\n"
            f"- Start small\n- Keep notes\n- Ask for help\n\n### A common mistake\n\n"
            f"Doing too much at once.\n"
        )
        chars = len(original)
        post_created = max(created, self._ago(365))
        posts.rows.append(
            (
                self.cuid("post"),
                user_id,
                title,
                content,
                original,
                None,
                None,
                math.ceil(chars / 15000),
                chars,
                f"{topic.replace(' ', '-')}-{number}" if published else None,
                published,
                post_created + timedelta(hours=2) if published else None,
                post_created,
                post_created,
            )
        )


# -- writers ---------------------------------------------------------------------------


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dict):
        value = json.dumps(value)
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _write_postgresql(connection: sa.Connection, table: Table) -> None:
    buffer = io.StringIO()
    buffer.writelines("\t".join(_copy_value(value) for value in row) + "\n" for row in table.rows)
    buffer.seek(0)
    columns = ", ".join(f'"{column}"' for column in table.columns)
    cursor = connection.connection.driver_connection.cursor()
    cursor.copy_expert(f'COPY "{table.name}" ({columns}) FROM STDIN', buffer)
    cursor.close()


def _write_generic(connection: sa.Connection, table: Table) -> None:
    reflected = sa.table(table.name, *(sa.column(column) for column in table.columns))
    rows = [
        {
            column: (json.dumps(value) if isinstance(value, dict) else value)
            for column, value in zip(table.columns, row, strict=True)
        }
        for row in table.rows
    ]
    connection.execute(sa.insert(reflected), rows)


ERR_TABLES_BUSY = (
    "another connection is using the tables (a running Backoffice or seed application?); "
    "stop it and run seed-demo again"
)


LOCK_TIMEOUT_MS = 15000


class DemoLoadBlocked(RuntimeError):
    """The tables are in use elsewhere; nothing was written."""


LOADED_TABLES = (
    "StripeProduct",
    "StripePrice",
    "User",
    "bo_token_ledger",
    "Account",
    "Session",
    "VerificationToken",
    "StripeCustomer",
    "UserSubscription",
    "PaymentHistory",
    "BlogPost",
)


@contextmanager
def secondary_indexes_deferred(
    connection: sa.Connection, tables: Sequence[str], progress: Callable[[str], None]
) -> Iterator[None]:
    """On PostgreSQL, drop the tables' non-unique indexes for a bulk load and build them again
    afterwards, in the caller's transaction: one sorted build per index is several times
    cheaper than maintaining it row by row (pg_restore does the same). Primary keys and
    unique indexes stay, so the load is checked as it goes."""
    if connection.dialect.name != "postgresql":
        yield
        return
    definitions = connection.execute(
        sa.text(
            "SELECT ci.relname, pg_get_indexdef(ix.indexrelid) FROM pg_index ix "
            "JOIN pg_class ci ON ci.oid = ix.indexrelid "
            "JOIN pg_class ct ON ct.oid = ix.indrelid "
            "JOIN pg_namespace n ON n.oid = ct.relnamespace "
            "WHERE n.nspname = ANY(current_schemas(false)) AND ct.relname = ANY(:tables) "
            "AND NOT ix.indisunique AND NOT ix.indisprimary ORDER BY ci.relname"
        ),
        {"tables": list(tables)},
    ).all()
    # Fail with a message rather than wait behind another connection (a running server)
    # that reads these tables.
    connection.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
    try:
        for name, _definition in definitions:
            connection.execute(sa.text(f'DROP INDEX "{name}"'))
    except sa.exc.OperationalError as exc:
        raise DemoLoadBlocked(ERR_TABLES_BUSY) from exc
    connection.execute(sa.text("SET LOCAL lock_timeout = 0"))
    yield
    started = time.monotonic()
    connection.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _name, definition in definitions:
        connection.execute(sa.text(definition))
    progress(f"  rebuilt {len(definitions)} indexes ({time.monotonic() - started:.0f}s)")


def load_demo_data(
    connection: sa.Connection,
    *,
    users: int,
    seed: int,
    as_of: datetime,
    progress: Callable[[str], None] = lambda _message: None,
    chunk_size: int = 20000,
) -> dict[str, int]:
    """Write demo rows through ``connection`` (the caller commits) and return row counts."""
    write = _write_postgresql if connection.dialect.name == "postgresql" else _write_generic
    own_schema = backoffice_schema(connection)
    if own_schema is not None:
        # COPY and the index statements name tables plainly: the ledger is in Backoffice's
        # schema, the rest in the seed application's.
        connection.execute(sa.text(f'SET LOCAL search_path TO public, "{own_schema}"'))
    generator = DemoGenerator(users=users, seed=seed, as_of=as_of)
    counts: dict[str, int] = {}
    started = time.monotonic()
    for table in generator.catalogue():
        write(connection, table)
        counts[table.name] = counts.get(table.name, 0) + len(table.rows)
    done = 0
    with secondary_indexes_deferred(connection, LOADED_TABLES, progress):
        for chunk in generator.chunks(chunk_size):
            for table in chunk:
                if table.rows:
                    write(connection, table)
                    counts[table.name] = counts.get(table.name, 0) + len(table.rows)
            done += len(chunk[0].rows)
            elapsed = time.monotonic() - started
            progress(
                f"  {done:,}/{users:,} users, {counts.get('PaymentHistory', 0):,} payments "
                f"({elapsed:.0f}s)"
            )
    return counts
