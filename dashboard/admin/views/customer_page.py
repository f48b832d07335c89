"""The customer page (``customer.show``, ``/admin/customer/<user_id>``): everything support
gets asked about one user on one page, and the actions they take from it.

What a role sees follows the matrix: the profile shows the User fields the role may see
(``permissions.visible_fields``; EDITOR: id, email and name), and each section needs VIEW
on its model (``services.customer.SECTION_MODELS``). Each action is a POST with its CSRF
token and a reason, declared with ``@requires`` (the tool it needs) and shown only to roles
that have it; the services check again and apply their own rules (rank, no-ops, balance).
After an action the browser is sent back to the page (post/redirect/get) with a flash.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional

from dashboard.admin.access import requires
from dashboard.admin.base import SecureView
from dashboard.admin.customer_display import money, price, shown_fields, when
from dashboard.admin.links import model_details_url
from dashboard.admin.user_lists import user_list_url
from dashboard.admin.views.customer_money import MoneyActions, cancel_form, dashboard_link
from dashboard.auth.current import current_actor, current_role
from dashboard.core.errors import BackofficeError, NotFound
from dashboard.permissions import Op, Tool, can
from dashboard.services.customer_overview import (
    SECTION_MODELS,
    customer_profile,
    customer_sections,
)
from dashboard.services.moderation import bans as moderation
from dashboard.services.stripe.gateway import StripeSettings
from dashboard.services.stripe.refresh import Freshness, stripe_refresh_user
from dashboard.services.tokens import ledger as tokens
from dashboard.services.user_lookup import user_query_plausible, users_find

MAX_REASON = 1000
ERR_FORM = "The form was incomplete or malformed; nothing was changed."
ERR_DATE = "{label}: enter a date as YYYY-MM-DD; nothing was changed."
ERR_REASON_LONG = f"The reason is too long (at most {MAX_REASON} characters)."
ERR_EXPIRY_ON_DEDUCT = "A new expiry date can only be set when granting tokens."
ERR_NOT_FOUND = "No customer with id {user_id}."
MSG_STRIPE_OFF = "Stripe sync is not configured (no STRIPE_SECRET_KEY): showing stored data."
MSG_NO_MATCH = "No customer with the email, id or Stripe customer id “{query}”."
MSG_SEVERAL = "Several customers match “{query}”; pick one."
MSG_GRANTED = "Granted {amount} tokens: balance {before} → {after}{expiry}."
MSG_DEDUCTED = "Deducted {amount} tokens: balance {before} → {after}."
MSG_ALREADY_APPLIED = (
    "This change was already applied (balance {before} → {after}); nothing changed."
)
# Links to other views' pages, by their endpoint names (dashboard.admin.links).
LIST_ENDPOINTS = {
    "subscriptions": "subscriptions",
    "payments": "payments",
    "accounts": "accounts",
    "sessions": "sessions",
    "posts": "blog_posts",
}
DIRECTIONS = [SelectChoice("grant", "Grant"), SelectChoice("deduct", "Deduct")]
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class ReasonForm(FlaskForm):
    # Required by the services, which say so in their own words when it is blank.
    reason = StringField("Reason", validators=[Length(max=MAX_REASON, message=ERR_REASON_LONG)])


class BanForm(ReasonForm):
    until = DateField("Ban until (00:00 UTC that day)", validators=[Optional()])


class TokensForm(ReasonForm):
    direction = SelectField("Grant or deduct", choices=DIRECTIONS)
    amount = IntegerField("Amount", validators=[Optional()])
    expires = DateField("New expiry (00:00 UTC that day)", validators=[Optional()])
    once = HiddenField()  # one per rendered form: a double submit is applied once


def _midnight(day: Any) -> datetime | None:
    return datetime(day.year, day.month, day.day) if day else None


def _shown_id(user_id: str) -> str:
    return user_id.replace("\x00", "")[:100]


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def _form_problem(form: FlaskForm) -> str:
    """One message for a form that did not validate."""
    for name, errors in form.errors.items():
        field = getattr(form, name, None)
        if name == "amount":
            return tokens.ERR_AMOUNT
        if isinstance(field, DateField):
            return ERR_DATE.format(label=field.label.text)
        if errors and name == "reason":
            return errors[0]
    return ERR_FORM


class CustomerView(MoneyActions, SecureView):
    """Find a customer (``index``), their page (``show``), its four actions and the money
    actions of ``customer_money`` (refund, cancel / resume)."""

    permission_model = "User"

    # -- pages ------------------------------------------------------------------------------

    @expose("/")
    @requires(Op.VIEW)
    def index(self) -> ResponseReturnValue:
        query = request.args.get("q", "").strip()
        if not query:
            return self.render("admin/customer/find.html", query="", matches=[])
        matches = users_find(
            query=query, by_stripe_customer=can(current_role(), "StripeCustomer", Op.VIEW)
        )
        if len(matches) == 1:
            return redirect(url_for(".show", user_id=matches[0].id))
        message = MSG_SEVERAL if matches else MSG_NO_MATCH
        flash(message.format(query=_shown_id(query)), "info" if matches else "warning")
        return self.render("admin/customer/find.html", query=query, matches=matches)

    @expose("/<user_id>")
    @requires(Op.VIEW)
    def show(self, user_id: str) -> ResponseReturnValue:
        profile = customer_profile(user_id=user_id) if user_query_plausible(user_id) else None
        if profile is None:
            flash(ERR_NOT_FOUND.format(user_id=_shown_id(user_id)), "warning")
            return self.render("admin/customer/find.html", query="", matches=[]), 404
        role = current_role()
        # Refreshed before the sections are read, so they show what Stripe just said.
        freshness = self._freshness(user_id) if self.allowed("stripe_sync") else None
        sections = customer_sections(
            user_id=user_id,
            sections=[name for name, model in SECTION_MODELS.items() if can(role, model, Op.VIEW)],
        )
        return self.render(
            "admin/customer/show.html",
            profile=profile,
            fields=shown_fields(role, profile),
            sections=sections,
            list_urls={
                name: user_list_url(endpoint, user_id=profile.id, email=profile.email)
                for name, endpoint in LIST_ENDPOINTS.items()
                if name in sections
            },
            details_url=model_details_url,
            money=money,
            price=price,
            when=when,
            may={
                name: self.allowed(name)
                for name in (
                    "ban",
                    "unban",
                    "sign_out",
                    "adjust_tokens",
                    "stripe_sync",
                    "refund",
                    "cancel",
                )
            },
            stripe_link=dashboard_link,
            cancel_form=cancel_form,
            may_generate=can(role, Tool.GENERATE_POST),
            stripe_on=StripeSettings.from_config(current_app.config).configured,
            freshness=freshness,
            stripe_off=MSG_STRIPE_OFF,
            ban_form=BanForm(formdata=None),
            reason_form=ReasonForm(formdata=None),
            tokens_form=TokensForm(formdata=None, once=new_nonce()),
            sync_form=FlaskForm(formdata=None),
        )

    @staticmethod
    def _freshness(user_id: str, max_age: int | None = None) -> Freshness | None:
        """The on-access refresh (rate-limited by the service); None, and no call, when no
        Stripe key is configured."""
        settings = StripeSettings.from_config(current_app.config)
        if not settings.configured:
            return None
        return stripe_refresh_user(user_id=user_id, settings=settings, max_age=max_age)

    # -- actions ----------------------------------------------------------------------------

    def _act(
        self, user_id: str, form: FlaskForm, change: Callable[[Any], tuple[str, str]]
    ) -> ResponseReturnValue:
        """Validate ``form``, run ``change(form)`` -> (message, flash category), flash the
        outcome and go back to the page (to the finder if the user does not exist)."""
        if not user_query_plausible(user_id):
            flash(moderation.ERR_USER.format(user_id=_shown_id(user_id)), "danger")
            return redirect(url_for(".index"))
        back = redirect(url_for(".show", user_id=user_id))
        if not form.validate_on_submit():
            flash(_form_problem(form), "danger")
            return back
        try:
            message, category = change(form)
        except NotFound as exc:
            flash(exc.message, "danger")
            return redirect(url_for(".index"))
        except BackofficeError as exc:
            flash(exc.message, "danger")
        else:
            flash(message, category)
        return back

    @staticmethod
    def _outcome(result: moderation.ModerationResult) -> tuple[str, str]:
        return result.message, "success" if result.changed else "info"

    @expose("/<user_id>/ban", methods=("POST",))
    @requires(Op.VIEW, tool=Tool.BAN)
    def ban(self, user_id: str) -> ResponseReturnValue:
        return self._act(
            user_id,
            BanForm(),
            lambda form: self._outcome(
                moderation.user_ban(
                    user_id=user_id,
                    reason=form.reason.data,
                    until=_midnight(form.until.data),
                    actor=current_actor(),
                )
            ),
        )

    @expose("/<user_id>/unban", methods=("POST",))
    @requires(Op.VIEW, tool=Tool.BAN)
    def unban(self, user_id: str) -> ResponseReturnValue:
        return self._act(
            user_id,
            ReasonForm(),
            lambda form: self._outcome(
                moderation.user_unban(
                    user_id=user_id, reason=form.reason.data, actor=current_actor()
                )
            ),
        )

    @expose("/<user_id>/sign-out", methods=("POST",))
    @requires(Op.VIEW, tool=Tool.REVOKE_SESSIONS)
    def sign_out(self, user_id: str) -> ResponseReturnValue:
        return self._act(
            user_id,
            ReasonForm(),
            lambda form: self._outcome(
                moderation.user_sign_out_everywhere(
                    user_id=user_id, reason=form.reason.data, actor=current_actor()
                )
            ),
        )

    @expose("/<user_id>/stripe-sync", methods=("POST",))
    @requires(Op.VIEW, model="UserSubscription")
    def stripe_sync(self, user_id: str) -> ResponseReturnValue:
        """ "Sync from Stripe": the refresh, forced (max_age=0)."""

        def sync(form: FlaskForm) -> tuple[str, str]:
            if customer_profile(user_id=user_id) is None:
                raise NotFound(ERR_NOT_FOUND.format(user_id=_shown_id(user_id)))
            freshness = self._freshness(user_id, max_age=0)
            if freshness is None:
                return MSG_STRIPE_OFF, "warning"
            if freshness.stale:
                return freshness.message, "warning"
            return freshness.message, "success" if freshness.refreshed else "info"

        return self._act(user_id, FlaskForm(), sync)

    @expose("/<user_id>/tokens", methods=("POST",))
    @requires(Op.VIEW, tool=Tool.ADJUST_TOKENS)
    def adjust_tokens(self, user_id: str) -> ResponseReturnValue:
        return self._act(user_id, TokensForm(), lambda form: _adjust(user_id, form))


def _adjust(user_id: str, form: TokensForm) -> tuple[str, str]:
    """Grant or deduct through ``services.tokens``; the flash shows the balance before and
    after. The form's nonce is the ledger reference, so a second submit of the same form
    changes nothing."""
    expires = _midnight(form.expires.data)
    amount = form.amount.data
    if amount is None:
        raise BackofficeError(tokens.ERR_AMOUNT)
    once = form.once.data or ""
    arguments: dict[str, Any] = {
        "user_id": user_id,
        "amount": amount,
        "reason": form.reason.data,
        "actor": current_actor(),
        "reference": f"customer-page:{once}" if NONCE.fullmatch(once) else None,
    }
    if form.direction.data == "deduct":
        if expires is not None:
            raise BackofficeError(ERR_EXPIRY_ON_DEDUCT)
        change = tokens.tokens_deduct(**arguments)
        message = MSG_DEDUCTED
    else:
        if expires is not None:
            arguments["expires_at"] = expires
        change = tokens.tokens_grant(**arguments)
        message = MSG_GRANTED
    before, after = change.balance_before, change.balance_after
    if not change.applied:
        return MSG_ALREADY_APPLIED.format(before=before, after=after), "info"
    expiry = f"; tokens now expire {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
    return message.format(amount=amount, before=before, after=after, expiry=expiry), "success"
