"""Forms for the reports filter and the admin pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..models import ROLES
from ..offices import parse_inboxes as inbox_list


class Checkboxes(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class GetForm(FlaskForm):
    """A filter read from the query string: no CSRF token, nothing changes."""

    class Meta:
        csrf = False


class ReportFilterForm(GetForm):
    start = DateField("From", validators=[Optional()])
    end = DateField("To", validators=[Optional()])
    office = SelectField("Office", validators=[Optional()])
    submit = SubmitField("Show")

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The end date is before the start date.")
        if field.data and self.start.data and (field.data - self.start.data).days > 3 * 366:
            raise ValidationError("Choose a period of at most three years.")


class AuditFilterForm(GetForm):
    user = SelectField("User", validators=[Optional()])
    lead = IntegerField("Lead id", validators=[Optional(), NumberRange(min=1)])
    action = SelectField("Action", validators=[Optional()])
    start = DateField("From", validators=[Optional()])
    end = DateField("To", validators=[Optional()])
    submit = SubmitField("Filter")


def parse_inboxes(text: str) -> list[str]:
    """The office's inbox list, or a form error saying which address is wrong."""
    try:
        return inbox_list(text)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class OfficeForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the office a name."), Length(max=80)])
    address = StringField("Address", validators=[Length(max=200)])
    phone = StringField("Phone", validators=[Length(max=20)])
    hours = StringField("Hours", validators=[Length(max=200)])
    inboxes = TextAreaField("Notification inboxes",
                            description="Addresses that get word of new leads, separated by commas.")
    active = BooleanField("Active: takes new leads and is listed on the site")
    submit = SubmitField("Save office")

    def validate_inboxes(self, field):
        self.inbox_list = parse_inboxes(field.data or "")


class NewUserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter the email address."), Length(max=254)])
    name = StringField("Name", validators=[Length(max=120)])
    role = SelectField("Role", choices=[SelectChoice(r, r.capitalize()) for r in ROLES], default="staff")
    offices = Checkboxes("Offices", description="Staff see only the leads of these offices.")
    password = PasswordField("Initial password", validators=[DataRequired("Choose a first password."),
                                                             Length(max=256)],
                             description="At least 15 characters; tell it to them by phone or in person.",
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Initial password again",
                            validators=[DataRequired("Type the password again."),
                                        EqualTo("password", message="The two passwords differ.")],
                            render_kw={"autocomplete": "new-password"})
    totp_required = BooleanField("Require a second factor (authenticator app) at sign-in")
    submit = SubmitField("Create account")


class AccessForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(r, r.capitalize()) for r in ROLES])
    offices = Checkboxes("Offices")
    submit = SubmitField("Save role and offices")


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired("Choose a new password."), Length(max=256)],
                             description="At least 15 characters. Their current sessions end.",
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("New password again",
                            validators=[DataRequired("Type the password again."),
                                        EqualTo("password", message="The two passwords differ.")],
                            render_kw={"autocomplete": "new-password"})
    submit = SubmitField("Reset password")


class ButtonForm(FlaskForm):
    """A button-only POST: the CSRF token and nothing else."""

    submit = SubmitField("Go")
