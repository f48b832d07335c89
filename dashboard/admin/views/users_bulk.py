"""Bulk actions of the Users list: ban, grant tokens, deduct tokens, on the ticked rows or
on every user matching the list. Each calls one set-based service with the selection as a
SELECT of user ids, so 100,000 users take a handful of statements; the flash says how many
were changed and how many were skipped, and why."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import DateField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from dashboard.admin.access import Requirement
from dashboard.admin.bulk import BulkAction, BulkActionsMixin, BulkOutcome, Selection
from dashboard.admin.links import user_link
from dashboard.auth.current import current_actor
from dashboard.permissions import Tool
from dashboard.services.moderation.bulk import users_ban_bulk
from dashboard.services.tokens.bulk import tokens_deduct_bulk, tokens_grant_bulk
from dashboard.services.tokens.ledger import MAX_AMOUNT

REASON = {"validators": [DataRequired(message="A reason is required."), Length(max=500)]}


def _reason() -> TextAreaField:
    return TextAreaField(
        "Reason", description="Kept in each user's history and the audit trail.", **REASON
    )


def _amount() -> IntegerField:
    return IntegerField(
        "Tokens per user",
        validators=[
            InputRequired(message="Enter a whole number of tokens."),
            NumberRange(min=1, max=MAX_AMOUNT, message=f"Between 1 and {MAX_AMOUNT:,}."),
        ],
    )


class BanForm(FlaskForm):
    reason = _reason()
    until = DateField(
        "Banned until (optional)",
        validators=[Optional()],
        description="The ban ends at 00:00 UTC that day; leave empty for a permanent ban.",
    )


class GrantForm(FlaskForm):
    amount = _amount()
    reason = _reason()
    expires = DateField(
        "New expiry date (optional)",
        validators=[Optional()],
        description="Sets tokensExpiresAt to 00:00 UTC that day for every user changed.",
    )


class DeductForm(FlaskForm):
    amount = _amount()
    reason = _reason()


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, time()) if day else None


def _skips(parts: list[tuple[int, str]]) -> str:
    shown = [f"{count:,} {why}" for count, why in parts if count]
    return f"; skipped {', '.join(shown)}" if shown else ""


class UserBulkActions(BulkActionsMixin):
    bulk_actions = (
        BulkAction(
            "ban",
            "Ban",
            Requirement(tool=Tool.BAN),
            BanForm,
            "bulk_ban",
            explain=(
                "Each user becomes BANNED and is signed out of every device. Users already "
                "banned, you yourself and staff of a higher role than yours are skipped."
            ),
            danger=True,
        ),
        BulkAction(
            "grant_tokens",
            "Grant tokens",
            Requirement(tool=Tool.ADJUST_TOKENS),
            GrantForm,
            "bulk_grant",
            explain="Each user's balance grows by the amount, with a ledger row each.",
        ),
        BulkAction(
            "deduct_tokens",
            "Deduct tokens",
            Requirement(tool=Tool.ADJUST_TOKENS),
            DeductForm,
            "bulk_deduct",
            explain="Users with fewer tokens than the amount are skipped, never overdrawn.",
            danger=True,
        ),
    )

    def bulk_sample_label(self, row: Any) -> Markup:
        return user_link(row.id, row.email)

    def bulk_ban(self, selection: Selection, form: BanForm) -> BulkOutcome:
        result = users_ban_bulk(
            user_filter=selection.id_select(),
            reason=form.reason.data,
            until=_midnight(form.until.data),
            actor=current_actor(),
            filter_label=selection.label,
        )
        skipped = _skips(
            [
                (result.skipped_already_banned, "already banned"),
                (result.skipped_self, "yourself"),
                (result.skipped_protected, "staff of a higher role"),
            ]
        )
        return BulkOutcome(
            f"{result.banned:,} of {result.matched:,} users banned and "
            f"{result.sessions_revoked:,} sessions ended{skipped}."
        )

    def bulk_grant(self, selection: Selection, form: GrantForm) -> BulkOutcome:
        result = tokens_grant_bulk(
            user_filter=selection.id_select(),
            amount=form.amount.data,
            reason=form.reason.data,
            expires_at=_midnight(form.expires.data),
            actor=current_actor(),
            filter_label=selection.label,
        )
        skipped = _skips([(result.skipped_over_limit, "who would exceed the balance limit")])
        return BulkOutcome(
            f"{form.amount.data:,} tokens granted to {result.changed:,} of "
            f"{result.matched:,} users{skipped}."
        )

    def bulk_deduct(self, selection: Selection, form: DeductForm) -> BulkOutcome:
        result = tokens_deduct_bulk(
            user_filter=selection.id_select(),
            amount=form.amount.data,
            reason=form.reason.data,
            actor=current_actor(),
            filter_label=selection.label,
        )
        skipped = _skips([(result.skipped_short, f"with fewer than {form.amount.data:,} tokens")])
        return BulkOutcome(
            f"{form.amount.data:,} tokens deducted from {result.changed:,} of "
            f"{result.matched:,} users{skipped}."
        )
