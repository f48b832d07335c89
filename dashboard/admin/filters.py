"""List filters that big tables can afford and hostile input cannot break.

Flask-Admin's automatic filters offer every operation on every column ("contains" on a
status, "not in list" on a date...), most of which no index serves, and some raise on bad
input (an unknown enum name is a KeyError, a NUL byte reaches PostgreSQL). These offer the
few operations that are useful and indexed, and validate every value: an invalid one is
flashed and ignored, never a 500.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Any

from flask_admin.contrib.sqla import filters as sqla_filters

MAX_VALUE_LENGTH = 200


def _plain_text(value: Any) -> bool:
    return isinstance(value, str) and "\x00" not in value and 0 < len(value) <= MAX_VALUE_LENGTH


class ChoiceEqualFilter(sqla_filters.FilterEqual):
    """``column = value`` where value is one of a fixed list (enum members or known
    statuses); anything else is refused."""

    def validate(self, value: Any) -> bool:
        return value in {key for key, _label in self.options or ()}

    def clean(self, value: Any) -> Any:
        enum_class = getattr(self, "enum_class", None)
        return enum_class(value) if enum_class else value


class TextEqualFilter(sqla_filters.FilterEqual):
    """``column = value`` for ids and other exact text."""

    def validate(self, value: Any) -> bool:
        return _plain_text(value)


class DateTimeAfterFilter(sqla_filters.DateTimeGreaterFilter):
    def operation(self) -> str:
        return "after"


class DateTimeBeforeFilter(sqla_filters.DateTimeSmallerFilter):
    def operation(self) -> str:
        return "before"


def choice_filter(column: Any, name: str, choices: Iterable[Any]) -> ChoiceEqualFilter:
    """ "<name> equals" with a drop-down of ``choices`` (an Enum class or plain strings)."""
    values = [c.value if isinstance(c, enum.Enum) else str(c) for c in choices]
    flt = ChoiceEqualFilter(
        column, name, options=[(v, v.replace("_", " ").title()) for v in values]
    )
    if isinstance(choices, type) and issubclass(choices, enum.Enum):
        flt.enum_class = choices
    return flt


def enum_filter(column: Any, name: str, enum_class: type[enum.Enum]) -> ChoiceEqualFilter:
    return choice_filter(column, name, enum_class)


def bool_filter(column: Any, name: str) -> sqla_filters.BooleanEqualFilter:
    return sqla_filters.BooleanEqualFilter(column, name)


def date_filters(column: Any, name: str) -> list[sqla_filters.BaseSQLAFilter]:
    """Between two times, after, before (an index on the column serves each)."""
    return [
        sqla_filters.DateTimeBetweenFilter(column, name),
        DateTimeAfterFilter(column, name),
        DateTimeBeforeFilter(column, name),
    ]


def id_filter(column: Any, name: str) -> TextEqualFilter:
    """ "<name> equals" on an id column: how a details page links to a related list."""
    return TextEqualFilter(column, name)


def flatten(*groups: Any) -> tuple[Any, ...]:
    """``column_filters`` from single filters and lists of them."""
    flat: list[Any] = []
    for group in groups:
        if isinstance(group, Sequence) and not isinstance(group, str):
            flat.extend(group)
        else:
            flat.append(group)
    return tuple(flat)
