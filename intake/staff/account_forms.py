"""Forms for signing in and looking after one's own account."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)],
                       render_kw={"autocomplete": "username", "spellcheck": "false", "autocapitalize": "none"})
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()
    submit = SubmitField("Sign in")


class TotpForm(FlaskForm):
    code = StringField("Code from your authenticator app",
                       validators=[DataRequired("Enter the 6-digit code."),
                                   Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="Enter the 6 digits shown in the app.")],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": "7"})
    submit = SubmitField("Verify")


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired("Enter your current password.")],
                            render_kw={"autocomplete": "current-password"})
    new = PasswordField("New password", validators=[DataRequired("Choose a new password."), Length(max=256)],
                        description="At least 15 characters. A few unrelated words make a good one.",
                        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("New password again",
                            validators=[DataRequired("Type the new password again."),
                                        EqualTo("new", message="The two new passwords differ.")],
                            render_kw={"autocomplete": "new-password"})
    submit = SubmitField("Change password")

