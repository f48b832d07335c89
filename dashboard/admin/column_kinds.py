"""The two kinds of model view besides the plain ``SecureModelView``.

- ``BigTableView``: a table of up to millions of rows (users, payments, subscriptions,
  posts, sessions, accounts, the audit trail): estimated counts, keyset pages and indexed
  search from ``ScalableListMixin``; give it ``list_key`` (an indexed, newest-first key
  ending in the primary key) and ``search_columns``.
- ``MirrorView``: a Stripe mirror table. Stripe is the source of truth, so no role
  creates, edits or deletes here whatever the matrix says (the sync and webhooks write).
"""

from __future__ import annotations

from typing import ClassVar

from dashboard.admin.base import SecureModelView
from dashboard.admin.listing import ScalableListMixin


class BigTableView(ScalableListMixin, SecureModelView):
    """See the module docstring."""


class MirrorView(SecureModelView):
    """See the module docstring."""

    allow_create: ClassVar[bool] = False
    allow_edit: ClassVar[bool] = False
    allow_delete: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.allow_create or cls.allow_edit or cls.allow_delete:
            raise TypeError(f"{cls.__name__}: Stripe mirror tables are read-only")


class BigMirrorView(ScalableListMixin, MirrorView):
    """A Stripe mirror table of millions of rows (subscriptions, payments)."""
