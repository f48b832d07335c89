"""``DemoGenerator``: the demo rows chunk by chunk of users, in foreign-key order. Each user
is drawn in a fixed order (name, billing, standing, sign-in rows, posts) from the one seeded
``Mint``, which is what keeps a seed and ``as_of`` giving the same rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from dashboard.demo.billing import billing_rows, billing_tables
from dashboard.demo.catalogue import catalogue_rows
from dashboard.demo.people import identity_rows, people_tables, person_rows
from dashboard.demo.posts import post_rows, posts_table
from dashboard.demo.rows import Mint, Table
from dashboard.demo.vocabulary import DOMAINS, FIRST_NAMES, LAST_NAMES


class DemoGenerator(Mint):
    """Yields chunks of rows for every shared table, in foreign-key order."""

    def __init__(self, *, users: int, seed: int, as_of: datetime, payments_per_user: float = 3.0):
        super().__init__(seed=seed, as_of=as_of)
        self.user_count = users
        self.payments_per_user = payments_per_user
        self.plans: list[dict[str, Any]] = []

    def catalogue(self) -> tuple[Table, Table]:
        """The products and prices; call it before ``chunks`` (subscriptions pick its plans)."""
        products, prices, self.plans = catalogue_rows(self.as_of)
        return products, prices

    def chunks(self, chunk_size: int) -> Iterable[list[Table]]:
        for start in range(0, self.user_count, chunk_size):
            yield self._chunk(start, min(start + chunk_size, self.user_count))

    def _chunk(self, start: int, stop: int) -> list[Table]:
        rng = self.rng
        users, ledger, accounts, sessions, tokens = people_tables()
        customers, subscriptions, payments = billing_tables()
        posts = posts_table()
        # A customer has ~5 payments on average (not every period has passed yet), so ~60%
        # of users being customers gives ~3 payments a user.
        customer_share = min(0.9, self.payments_per_user / 5.0)

        for index in range(start, stop):
            first = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]
            last = LAST_NAMES[rng.randrange(len(LAST_NAMES))]
            user_id = self.cuid("user")
            email = f"{first}.{last}{index + 1}@{DOMAINS[index % len(DOMAINS)]}".lower()
            # Sign-ups lean recent: a quarter arrived in the last 60 days.
            created = self.ago(60 if rng.random() < 0.25 else 730)
            verified = (
                created + timedelta(minutes=rng.randrange(1, 600)) if rng.random() < 0.8 else None
            )
            forced = index % 97  # the first users of every 97 cover each combination
            statuses, product_for_user, period_end = billing_rows(
                self,
                self.plans,
                customers,
                subscriptions,
                payments,
                user_id=user_id,
                created=created,
                forced=forced,
                customer_share=customer_share,
            )
            person_rows(
                self,
                users,
                ledger,
                index=index,
                forced=forced,
                user_id=user_id,
                email=email,
                name=f"{first} {last}",
                created=created,
                verified=verified,
                statuses=statuses,
                product_for_user=product_for_user,
                period_end=period_end,
            )
            identity_rows(
                self,
                accounts,
                sessions,
                tokens,
                user_id=user_id,
                email=email,
                created=created,
                verified=verified,
            )
            if forced in (3, 4) or rng.random() < 0.03:
                published = forced == 3 or rng.random() < 0.6
                post_rows(self, posts, user_id, created, published=published)
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
