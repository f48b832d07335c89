"""Sign-in and account forms (Flask-WTF: each carries the CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from dashboard.services.staff.passwords import MAX_PASSWORD_LENGTH


class SignInForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )


class SecondFactorForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app, or a recovery code",
        validators=[DataRequired(), Length(max=40)],
    )


class EnrollTotpForm(FlaskForm):
    code = StringField("Code shown by the app", validators=[DataRequired(), Length(max=12)])
    # Asked only when already signed in: replacing a second factor needs the password too.
    password = PasswordField("Your current password", validators=[Length(max=MAX_PASSWORD_LENGTH)])


class ChangePasswordForm(FlaskForm):
    # Asked only on the account page; the forced change during sign-in has just checked it.
    current_password = PasswordField(
        "Current password", validators=[Length(max=MAX_PASSWORD_LENGTH)]
    )
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new_password", message="The two passwords differ.")],
    )


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
