"""What every demo generator module shares: ``Table`` (a table's name, columns and generated
rows) and ``Mint``, the one seeded random source with the id counters and clock."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass
class Table:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


class Mint:
    """Ids and timestamps drawn from one ``random.Random(seed)``: every module draws from the
    same generator in a fixed order, so a seed and ``as_of`` always give the same rows."""

    def __init__(self, *, seed: int, as_of: datetime):
        self.rng = random.Random(seed)
        self.seed = seed
        self.as_of = as_of
        self.counters: dict[str, int] = {}

    def next_number(self, kind: str) -> int:
        value = self.counters.get(kind, 0) + 1
        self.counters[kind] = value
        return value

    def cuid(self, kind: str) -> str:
        # 25 characters like Prisma's cuid(): "c" + a per-table counter + seeded noise.
        return f"c{self.next_number(kind):08x}{self.rng.getrandbits(64):016x}"

    def stripe_id(self, prefix: str, kind: str) -> str:
        number = self.next_number(kind)
        return f"{prefix}_{self.seed:02x}{number:010d}{self.rng.getrandbits(32):08x}"

    def ago(self, max_days: float) -> datetime:
        moment = self.as_of - timedelta(seconds=self.rng.random() * max_days * 86400)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
