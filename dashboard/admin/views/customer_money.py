"""The customer page's money actions (mixed into ``customer_page.CustomerView``): refund a
payment (``customer.refund``: its own form page, reached from the payment's row and from the
payment's details page) and cancel / resume a subscription (``customer.cancel``, a form on
the subscription's row).

Each rendered form carries a one-time key (``once``): Stripe gets it as the idempotency key,
so a double submit or a retry after a timeout changes Stripe once. Stripe's refusals and
outages come back as flashes; nothing is written locally then.
"""

from __future__ import annotations

import secrets

from flask import current_app, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional

from dashboard.admin.access import requires
from dashboard.auth.current import current_actor
from dashboard.core.errors import BackofficeError, NotFound
from dashboard.permissions import Op, Tool
from dashboard.services.stripe.cancellations import CancelMode, subscription_cancel
from dashboard.services.stripe.gateway import StripeSettings, StripeUnavailable
from dashboard.services.stripe.links import stripe_dashboard_url
from dashboard.services.stripe.refunds import payment_refund, payment_refund_options

MAX_REASON = 1000
ERR_AMOUNT = "Enter the amount as a number with at most two decimals, e.g. 12.50."
ERR_FORM = "The form was incomplete or malformed; nothing was changed."
MSG_NOTHING = " Nothing was changed."
MSG_RETRY = (
    " If Stripe did make it, submitting the same form again cannot do it twice, and Stripe's"
    " webhook will record it."
)
MODES = [
    SelectChoice(CancelMode.PERIOD_END.value, "At period end"),
    SelectChoice(CancelMode.NOW.value, "Now"),
    SelectChoice(CancelMode.RESUME.value, "Resume (withdraw the cancellation)"),
]


class RefundForm(FlaskForm):
    amount = DecimalField("Amount", places=2, validators=[Optional()])
    reason = StringField("Reason", validators=[Length(max=MAX_REASON)])
    take_back = BooleanField("Also take back the tokens this payment's invoice granted")
    once = HiddenField()


class CancelForm(FlaskForm):
    mode = SelectField("When", choices=MODES, default=CancelMode.PERIOD_END.value)
    reason = StringField("Reason", validators=[Length(max=MAX_REASON)])
    once = HiddenField()


def stripe_settings() -> StripeSettings:
    return StripeSettings.from_config(current_app.config)


def dashboard_link(object_id: str | None) -> str | None:
    """ "Open in Stripe" for the configured key's mode (None without a key)."""
    settings = stripe_settings()
    if not settings.configured:
        return None
    return stripe_dashboard_url(object_id, livemode=settings.livemode)


def _failure(exc: BackofficeError) -> str:
    extra = MSG_RETRY if isinstance(exc, StripeUnavailable) else ""
    return exc.message + MSG_NOTHING + extra


def cancel_form() -> CancelForm:
    """A fresh cancel form for one subscription row, with its one-time key."""
    return CancelForm(formdata=None, once=_nonce())


class MoneyActions:
    """``refund`` (GET: the form; POST: the refund) and ``cancel`` for CustomerView."""

    @expose("/<user_id>/payments/<payment_id>/refund", methods=("GET", "POST"))
    @requires(Op.VIEW, tool=Tool.REFUND_PAYMENT)
    def refund(self, user_id: str, payment_id: str) -> ResponseReturnValue:
        back = redirect(url_for(".show", user_id=user_id))
        settings = stripe_settings()
        try:
            options = payment_refund_options(payment_id=payment_id[:100], settings=settings)
        except NotFound as exc:
            flash(exc.message, "danger")
            return back
        if options.payment.user_id != user_id:
            flash(f"Payment {payment_id[:100]} is not this customer's.", "danger")
            return back
        form = RefundForm()
        if not form.is_submitted():
            form = RefundForm(formdata=None, once=_nonce())
            return self.render(  # type: ignore[attr-defined]
                "admin/customer/refund.html",
                form=form,
                options=options,
                user_id=user_id,
                stripe_url=dashboard_link(options.payment.stripe_payment_intent_id),
            )
        if not form.validate():
            flash(ERR_AMOUNT if "amount" in form.errors else ERR_FORM, "danger")
            return redirect(url_for(".refund", user_id=user_id, payment_id=payment_id))
        amount = None if form.amount.data is None else int(form.amount.data * 100)
        try:
            result = payment_refund(
                payment_id=payment_id,
                amount=amount,
                reason=form.reason.data,
                idempotency_key=form.once.data or "",
                actor=current_actor(),
                settings=settings,
                support_limit=current_app.config["SUPPORT_REFUND_LIMIT"],
                take_back_tokens=form.take_back.data,
            )
        except BackofficeError as exc:
            flash(_failure(exc), "danger")
            return back
        flash(result.message, "success" if result.applied else "info")
        return back

    @expose("/<user_id>/subscriptions/<subscription_id>/cancel", methods=("POST",))
    @requires(Op.VIEW, tool=Tool.CANCEL_SUBSCRIPTION)
    def cancel(self, user_id: str, subscription_id: str) -> ResponseReturnValue:
        back = redirect(url_for(".show", user_id=user_id))
        form = CancelForm()
        if not form.validate_on_submit():
            flash(ERR_FORM, "danger")
            return back
        try:
            result = subscription_cancel(
                subscription_id=subscription_id[:100],
                user_id=user_id,
                mode=form.mode.data,
                reason=form.reason.data,
                idempotency_key=form.once.data or "",
                actor=current_actor(),
                settings=stripe_settings(),
            )
        except BackofficeError as exc:
            flash(_failure(exc), "danger")
            return back
        flash(result.message, "success")
        return back


def _nonce() -> str:
    return secrets.token_urlsafe(18)
