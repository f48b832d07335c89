"""The words and odds the demo data is drawn from: names, topics, plans and the weighted
statuses of subscriptions and payments."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

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
