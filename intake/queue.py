"""The triage queue: filters from the URL, the ordered query, keyset paging, counts and search.

The queue's order (priority, created_at, id) is exactly the order of the
ix_lead_queue / ix_lead_location_queue indexes, so a page is an index range
scan: "Next page" carries the last row's key and never walks an OFFSET.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta, timezone

import phonenumbers
from sqlalchemy import Select, and_, false, func, or_, select, true, tuple_
from sqlalchemy.orm import Session, selectinload

from . import access
from .models import OPEN_STATUSES, STATUSES, Lead, Location, StaffUser

PAGE_SIZE = 50
COUNT_CAP = 1000
SEARCH_LIMIT = 50
CONTACT_SOURCE = "contact"  # the source filter's value for leads sent from /contact
ASSIGNEE_CHOICES = ("mine", "nobody")
URGENCY_CHOICES = ("urgent", "repeat", "normal")
SPAM_CHOICES = ("only", "include")


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class QueueFilters:
    """What the person chose to see; every field comes from and goes back to the URL."""

    office: str = ""
    status: str = ""  # "" means every open status
    assignee: str = ""  # "mine", "nobody" or a user id
    urgency: str = ""
    source: str = ""  # an article slug, or CONTACT_SOURCE
    date_from: date | None = None
    date_to: date | None = None
    spam: str = ""  # "" hides spam, "only" shows only spam, "include" shows both

    @classmethod
    def from_args(cls, args) -> QueueFilters:
        """Read filters from request args, dropping any value that makes no sense."""
        status = args.get("status", "")
        assignee = args.get("assignee", "")
        urgency = args.get("urgency", "")
        spam = args.get("spam", "")
        source = args.get("source", "").strip()
        return cls(
            office=args.get("office", "").strip()[:40],
            status=status if status in STATUSES or status == "all" else "",
            assignee=assignee if assignee in ASSIGNEE_CHOICES or assignee.isdigit() else "",
            urgency=urgency if urgency in URGENCY_CHOICES else "",
            source=source[:120] if re.fullmatch(r"[a-z0-9-]*", source) else "",
            date_from=_parse_date(args.get("from")),
            date_to=_parse_date(args.get("to")),
            spam=spam if spam in SPAM_CHOICES else "",
        )

    def to_args(self) -> dict[str, str]:
        """The filters as URL parameters, empty ones left out."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value:
                key = {"date_from": "from", "date_to": "to"}.get(f.name, f.name)
                out[key] = value.isoformat() if isinstance(value, date) else str(value)
        return out

    def without_status(self) -> QueueFilters:
        return replace(self, status="")

    def summary(self) -> str:
        """A PII-free description for the audit trail, e.g. ``office=bethesda-md status=new``."""
        return " ".join(f"{k}={v}" for k, v in self.to_args().items()) or "default"


def apply_filters(query: Select, filters: QueueFilters, user: StaffUser) -> Select:
    """Narrow a query over Lead by ``filters``; scoping to the user's offices is added here too."""
    query = access.scope(query, user)
    if filters.office:
        query = query.where(Lead.location_id == select(Location.id).where(Location.slug == filters.office)
                            .scalar_subquery())
    if filters.status == "all":
        pass
    elif filters.status:
        query = query.where(Lead.is_open == (true() if filters.status in OPEN_STATUSES else false()),
                            Lead.status == filters.status)
    else:
        query = query.where(Lead.is_open == true())
    if filters.spam == "only":
        query = query.where(Lead.spam == true())
    elif filters.spam != "include":
        query = query.where(Lead.spam == false())
    if filters.assignee == "mine":
        query = query.where(Lead.assignee_id == user.id)
    elif filters.assignee == "nobody":
        query = query.where(Lead.assignee_id.is_(None))
    elif filters.assignee:
        query = query.where(Lead.assignee_id == int(filters.assignee))
    if filters.urgency == "urgent":
        query = query.where(Lead.priority == 0)
    elif filters.urgency == "repeat":
        query = query.where(Lead.priority == 1)
    elif filters.urgency == "normal":
        query = query.where(Lead.priority == 2)
    if filters.source == CONTACT_SOURCE:
        query = query.where(Lead.source_article.is_(None))
    elif filters.source:
        query = query.where(Lead.source_article == filters.source)
    if filters.date_from:
        query = query.where(Lead.created_at >= datetime.combine(filters.date_from, time(), timezone.utc))
    if filters.date_to:
        query = query.where(Lead.created_at < datetime.combine(filters.date_to + timedelta(days=1), time(),
                                                                timezone.utc))
    return query


QUEUE_ORDER = (Lead.priority, Lead.created_at, Lead.id)
# A queue row shows its office and assignee: fetch them in one query each, not one per row.
ROW_LOADS = (selectinload(Lead.location), selectinload(Lead.assignee))


def encode_cursor(lead: Lead) -> str:
    """The key of the last row on a page, safe for a URL and free of patient detail."""
    micros = int(lead.created_at.timestamp() * 1_000_000)
    return f"{lead.priority}.{micros}.{lead.id}"


def decode_cursor(value: str | None) -> tuple[int, datetime, int] | None:
    if not value or not re.fullmatch(r"\d\.\d{1,20}\.\d{1,18}", value):
        return None
    priority, micros, lead_id = value.split(".")
    created = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=int(micros))
    return int(priority), created, int(lead_id)


@dataclass
class Page:
    leads: list[Lead]
    next_cursor: str | None


def queue_query(filters: QueueFilters, user: StaffUser) -> Select:
    """Every lead the queue shows for ``filters``, urgent first, then oldest."""
    return apply_filters(select(Lead), filters, user).order_by(*QUEUE_ORDER)


def queue_page(session: Session, filters: QueueFilters, user: StaffUser, after: str | None = None,
               page_size: int = PAGE_SIZE) -> Page:
    """One page of the queue after the row whose key is ``after``."""
    query = queue_query(filters, user).options(*ROW_LOADS)
    key = decode_cursor(after)
    if key is not None:
        query = query.where(tuple_(*QUEUE_ORDER) > tuple_(*key))
    rows = list(session.scalars(query.limit(page_size + 1)))
    more = len(rows) > page_size
    rows = rows[:page_size]
    return Page(rows, encode_cursor(rows[-1]) if more else None)


def status_counts(session: Session, filters: QueueFilters, user: StaffUser, cap: int = COUNT_CAP) -> dict[str, int]:
    """How many leads each status holds under the other filters, counted up to ``cap`` + 1.

    Each count reads at most cap + 1 index entries, so it costs the same at a
    thousand leads and at a million; a count above the cap shows as "1,000+".
    """
    base = filters.without_status()
    counts = {}
    for status in STATUSES:
        inner = apply_filters(select(Lead.id), replace(base, status=status), user).limit(cap + 1).subquery()
        counts[status] = session.scalar(select(func.count()).select_from(inner))
    return counts


def format_count(n: int, cap: int = COUNT_CAP) -> str:
    return f"{cap:,}+" if n > cap else f"{n:,}"


# ---- search ------------------------------------------------------------------

REFERENCE_RE = re.compile(r"[2-9A-HJ-NP-Z]{8}")


def normalise_reference(text: str) -> str | None:
    """``abcd-2345``, ``ABCD 2345`` and ``abcd2345`` all become ``ABCD-2345``."""
    compact = re.sub(r"[\s-]", "", text).upper()
    return f"{compact[:4]}-{compact[4:]}" if REFERENCE_RE.fullmatch(compact) else None


def normalise_phone(text: str, region: str = "US") -> str | None:
    """A phone number in any usual writing as E.164, or None if it is not one."""
    if len(re.sub(r"\D", "", text)) < 7 or re.search(r"[A-Za-z@]", text):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_conditions(text: str):
    """WHERE clauses for ``text``: (exact matches on reference, email or phone; name prefixes), each None if unused."""
    text = " ".join(text.split())[:200]
    if not text:
        return None, None
    exact = []
    reference = normalise_reference(text)
    if reference:
        exact.append(Lead.reference == reference)
    if "@" in text:
        exact.append(Lead.email_lower == text.lower())
    phone = normalise_phone(text)
    if phone:
        exact.append(Lead.phone == phone)
    names = None
    words = [w for w in re.split(r"[\s,]+", text) if w]
    # Names hold no digits, "@" or a reference's dash: such text is never also a name.
    written_as_reference = reference is not None and len(text) == 9
    if words and not phone and "@" not in text and not re.search(r"\d", text) and not written_as_reference:
        def starts(column, prefix):
            return column.ilike(_like_prefix(prefix), escape="\\")

        if len(words) == 1:
            names = or_(starts(Lead.first_name, words[0]), starts(Lead.last_name, words[0]))
        else:
            rest, head = " ".join(words[1:]), " ".join(words[:-1])
            names = or_(
                and_(starts(Lead.first_name, words[0]), starts(Lead.last_name, rest)),
                and_(starts(Lead.first_name, head), starts(Lead.last_name, words[-1])),
                and_(starts(Lead.last_name, words[0]), starts(Lead.first_name, rest)),  # "Lovelace, Ada"
            )
    return (or_(*exact) if exact else None), names


def search(session: Session, text: str, user: StaffUser, limit: int = SEARCH_LIMIT) -> list[Lead]:
    """Leads the user may see that match ``text``, any status: exact matches first, then names, newest first.

    Exact matches are index lookups. Names have no index, so they are read
    newest first by id and the read stops at ``limit`` matches: a common name
    answers at once, a name nobody has costs one pass over the office's leads.
    """
    exact, names = search_conditions(text)
    found: list[Lead] = []
    if exact is not None:
        # No ORDER BY here: it would tempt the planner away from the exact-match indexes.
        found = sorted(session.scalars(access.visible_leads(user).where(exact).options(*ROW_LOADS).limit(limit)),
                       key=lambda lead: lead.id, reverse=True)
    if names is not None and len(found) < limit:
        query = access.visible_leads(user).where(names).order_by(Lead.id.desc()).options(*ROW_LOADS)
        seen = {lead.id for lead in found}
        found += [lead for lead in session.scalars(query.limit(limit)) if lead.id not in seen]
    return found[:limit]


# ---- SLA ---------------------------------------------------------------------

def sla_state(lead: Lead, now: datetime, hours: float) -> str | None:
    """"on_time", "due_soon" or "overdue" while a lead waits as new; None once it is worked."""
    if lead.status != "new" or not lead.is_open or lead.spam:
        return None
    age = now - lead.created_at
    target = timedelta(hours=hours)
    if age >= target:
        return "overdue"
    if age >= target * 0.75:
        return "due_soon"
    return "on_time"


SLA_LABELS = {"on_time": "On time", "due_soon": "Due soon", "overdue": "Overdue"}


def age_text(then: datetime, now: datetime) -> str:
    """A short age such as "35 min", "5 h", "3 d"."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
