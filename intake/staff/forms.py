"""Forms for the queue and the lead page; choices that depend on the lead are filled per request."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from ..models import STATUSES
from ..triage import CONTACT_CHANNELS, CONTACT_OUTCOMES, NOTE_MAX, STAFF_CLOSE_REASONS


def _choices(labels: dict[str, str]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


class SearchForm(FlaskForm):
    """The queue's search box: sent by POST so the text stays out of URLs and logs."""

    q = StringField("Search", validators=[Optional(), Length(max=200)],
                    description="Reference, name, email or phone")


class LeadActionForm(FlaskForm):
    """A button on the lead page: carries the version the page showed, and its last event."""

    PREFIX = "act"
    version = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])
    seen = IntegerField(widget=HiddenField.widget, validators=[Optional()])

    def __init__(self, *args, **kwargs):
        # Each form on the lead page gets its own prefix, so its controls' ids never clash.
        kwargs.setdefault("prefix", self.PREFIX)
        super().__init__(*args, **kwargs)


class AssignForm(LeadActionForm):
    PREFIX = "assign"
    assignee = SelectField("Assign to", coerce=str, validators=[Optional()])


class StatusForm(LeadActionForm):
    PREFIX = "status"
    status = SelectField("Status", choices=_choices(STATUSES), validators=[DataRequired()])
    reason = SelectField("Reason for closing", choices=[SelectChoice("", "Choose when closing")] +
                         _choices(STAFF_CLOSE_REASONS), validators=[Optional()])


class CloseForm(LeadActionForm):
    PREFIX = "close"
    reason = HiddenField(validators=[DataRequired()])


class ContactAttemptForm(LeadActionForm):
    PREFIX = "contact"
    channel = RadioField("How", choices=_choices(CONTACT_CHANNELS), default="call",
                         validators=[DataRequired()])
    outcome = RadioField("What happened", choices=_choices(CONTACT_OUTCOMES), validators=[DataRequired()])
    note = StringField("Note (optional)", validators=[Optional(), Length(max=NOTE_MAX)])


class NoteForm(LeadActionForm):
    PREFIX = "note"
    text = TextAreaField("Note", validators=[DataRequired(), Length(max=NOTE_MAX)],
                         description="Your own words for colleagues. Seen by everyone who can open this lead.")


class MoveForm(LeadActionForm):
    PREFIX = "move"
    location = SelectField("Move to office", validators=[DataRequired()])
    reason = StringField("Why", validators=[DataRequired(), Length(max=500)])
