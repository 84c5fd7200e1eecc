"""The tables of Intake, in SQLAlchemy 2.0 style.

Every change here needs an Alembic migration in migrations/ (tests check that
autogenerate finds no difference).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from . import clock
from .extensions import db


def utcnow() -> datetime:
    """Column default that reads the clock at insert time (tests move the clock)."""
    return clock.utcnow()


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, on every database.

    SQLite keeps no zone, so values come back naive; this puts UTC back on them.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# Lead statuses, in the order a lead normally moves through them.
STATUSES = {
    "new": "New",
    "contacting": "Contacting",
    "consult_scheduled": "Consult scheduled",
    "became_patient": "Became a patient",
    "closed": "Closed",
}
OPEN_STATUSES = ("new", "contacting", "consult_scheduled")
CLOSE_REASONS = {
    "not_a_fit": "Not a fit",
    "unreachable": "Unreachable",
    "chose_another_provider": "Chose another provider",
    "duplicate": "Duplicate",
    "spam": "Spam",
    "purged": "Purged",
}
CONTACT_METHODS = {"phone": "Phone call", "text": "Text message", "email": "Email"}
HELP_TOPICS = {
    "depression": "Depression",
    "ptsd": "PTSD",
    "anxiety": "Anxiety",
    "chronic_pain": "Chronic pain",
    "other": "Something else",
}
# Queue priority: smaller sorts first.
PRIORITY_URGENT = 0
PRIORITY_REPEAT = 1
PRIORITY_NORMAL = 2

ROLES = ("admin", "staff")


staff_location = Table(
    "staff_location",
    db.metadata,
    Column("user_id", ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", ForeignKey("location.id", ondelete="CASCADE"), primary_key=True),
)


class Location(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    zip_code: Mapped[str] = mapped_column(String(5))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    hours: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    position: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    inboxes: Mapped[list[LocationInbox]] = relationship(
        back_populates="location", cascade="all, delete-orphan", order_by="LocationInbox.id"
    )

    @property
    def inbox_emails(self) -> list[str]:
        return [i.email for i in self.inboxes]

    def __repr__(self) -> str:
        return f"<Location {self.slug}>"


class LocationInbox(db.Model):
    __table_args__ = (UniqueConstraint("location_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))

    location: Mapped[Location] = relationship(back_populates="inboxes")

    def __repr__(self) -> str:
        return f"<LocationInbox {self.location_id} {self.email}>"


class Article(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(120), default="")
    published_on: Mapped[date] = mapped_column(Date, index=True)
    body_html: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Article {self.slug}>"


class StaffUser(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(10), default="staff")
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Bumped on sign-out, deactivation and password change: every session
    # cookie carrying an older number stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    totp_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    locations: Mapped[list[Location]] = relationship(secondary=staff_location, order_by="Location.position")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    # Flask-Login's interface, written out so the session version is part of the id.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<StaffUser {self.id} {self.role}>"


class Lead(db.Model):
    __table_args__ = (
        # The triage queue: open, not spam, urgent first, then oldest.
        Index("ix_lead_queue", "is_open", "spam", "priority", "created_at", "id"),
        Index("ix_lead_location_queue", "location_id", "is_open", "spam", "priority", "created_at", "id"),
        Index("ix_lead_location_created", "location_id", "created_at"),
        # The queue's capped per-status counts: an index-only range, however many leads are open.
        Index("ix_lead_status_open", "status", "is_open", "spam"),
        # The same counts for staff, who see only their offices.
        Index("ix_lead_location_status", "location_id", "status", "is_open", "spam"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(9), unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    status: Mapped[str] = mapped_column(String(24), default="new", index=True)
    close_reason: Mapped[str | None] = mapped_column(String(32))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    spam: Mapped[bool] = mapped_column(Boolean, default=False)
    spam_reason: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(SmallInteger, default=PRIORITY_NORMAL)

    # What the patient typed, kept as typed (after trimming and normalising).
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    email_lower: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    zip_code: Mapped[str | None] = mapped_column(String(10))
    contact_method: Mapped[str] = mapped_column(String(10), default="phone")
    help_with: Mapped[str] = mapped_column(String(100), default="")  # comma-separated HELP_TOPICS keys
    message: Mapped[str] = mapped_column(Text, default="")
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_text: Mapped[str] = mapped_column(Text, default="")
    consent_version: Mapped[str] = mapped_column(String(20), default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Where the inquiry came from.
    source_path: Mapped[str] = mapped_column(String(300), default="")
    source_article: Mapped[str | None] = mapped_column(String(120), index=True)
    utm_source: Mapped[str | None] = mapped_column(String(100))
    utm_medium: Mapped[str | None] = mapped_column(String(100))
    utm_campaign: Mapped[str | None] = mapped_column(String(100))
    referrer: Mapped[str | None] = mapped_column(String(500))
    ip_hash: Mapped[str | None] = mapped_column(String(64))

    # Routing, as decided by intake.routing.route_lead.
    routing_reason: Mapped[str] = mapped_column(String(200), default="")
    routing_flag: Mapped[str | None] = mapped_column(String(40))
    distance_miles: Mapped[float | None] = mapped_column(Float)

    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"))
    has_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_inquiry_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    location: Mapped[Location] = relationship()
    assignee: Mapped[StaffUser | None] = relationship()
    inquiries: Mapped[list[Inquiry]] = relationship(back_populates="lead", order_by="Inquiry.id")

    @property
    def display_name(self) -> str:
        """First name and last initial: enough for a queue row."""
        initial = f" {self.last_name[:1]}." if self.last_name else ""
        return f"{self.first_name}{initial}"

    @property
    def help_topics(self) -> list[str]:
        return [HELP_TOPICS.get(k, k) for k in self.help_with.split(",") if k]

    def __repr__(self) -> str:
        return f"<Lead {self.id} {self.reference}>"


class Inquiry(db.Model):
    """A later message from someone who already has an open lead at the office."""

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    zip_code: Mapped[str | None] = mapped_column(String(10))
    contact_method: Mapped[str] = mapped_column(String(10), default="phone")
    help_with: Mapped[str] = mapped_column(String(100), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    source_path: Mapped[str] = mapped_column(String(300), default="")
    utm_campaign: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead: Mapped[Lead] = relationship(back_populates="inquiries")

    def __repr__(self) -> str:
        return f"<Inquiry {self.id} lead={self.lead_id}>"


class Submission(db.Model):
    """One rendered form's token, spent once: a resend finds the lead it made."""

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    def __repr__(self) -> str:
        return f"<Submission lead={self.lead_id}>"


class AuditEvent(db.Model):
    """Append-only record of what happened: a lead's timeline and the audit trail.

    ``detail`` holds codes and staff-entered notes, never a password or a
    patient's message.
    """

    __table_args__ = (Index("ix_audit_event_lead_time", "lead_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id", ondelete="SET NULL"))
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[StaffUser | None] = relationship()

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action}>"


OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "dead", "recorded")


class OutboxMessage(db.Model):
    """An email waiting to go, going, or gone. Written in the lead's transaction."""

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id", ondelete="SET NULL"), index=True)
    recipients: Mapped[str] = mapped_column(Text)  # comma-separated bare addresses
    # Keyed hash of the acknowledgement address, for the once-a-day limit.
    recipient_key: Mapped[str | None] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status}>"


class ReportDay(db.Model):
    """Leads per UTC day, office, source article and campaign: the reports' rollup.

    Kept by intake/rollups.py from the lead table, never written anywhere else.
    An empty string stands for "no article" and "no campaign" (key columns
    cannot be NULL).
    """

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), primary_key=True)
    source_article: Mapped[str] = mapped_column(String(120), primary_key=True)
    utm_campaign: Mapped[str] = mapped_column(String(100), primary_key=True)
    leads: Mapped[int] = mapped_column(Integer)
    spam: Mapped[int] = mapped_column(Integer)
    consult: Mapped[int] = mapped_column(Integer)  # non-spam, consult scheduled or became a patient
    patient: Mapped[int] = mapped_column(Integer)  # non-spam, became a patient


class ReportResponse(db.Model):
    """How many non-spam leads of a UTC day and office were first contacted after so many whole minutes."""

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), primary_key=True)
    minutes: Mapped[int] = mapped_column(Integer, primary_key=True)
    leads: Mapped[int] = mapped_column(Integer)


class ReportDirty(db.Model):
    """A (day, office) whose rollup rows must be counted again: written with the lead change that caused it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    location_id: Mapped[int] = mapped_column(Integer)
