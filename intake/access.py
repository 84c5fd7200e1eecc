"""Who may see which leads: the one place the office rule is enforced.

Every staff view fetches leads through these functions, so a staff user can
never reach another office's lead, and a lead they may not see answers 404
exactly as a missing one does.
"""

from __future__ import annotations

from flask import abort
from sqlalchemy import Select, select

from .extensions import db
from .models import Lead, Location, StaffUser


def location_ids(user: StaffUser) -> list[int] | None:
    """The office ids ``user`` may see, or None for every office (admins)."""
    if user.is_admin:
        return None
    return [loc.id for loc in user.locations]


def scope(query: Select, user: StaffUser) -> Select:
    """Limit a query over Lead to the user's offices."""
    ids = location_ids(user)
    if ids is None:
        return query
    return query.where(Lead.location_id.in_(ids))


def visible_leads(user: StaffUser) -> Select:
    """A query of every lead ``user`` may see."""
    return scope(select(Lead), user)


def visible_locations(user: StaffUser) -> list[Location]:
    query = select(Location).order_by(Location.position)
    ids = location_ids(user)
    if ids is not None:
        query = query.where(Location.id.in_(ids))
    return list(db.session.scalars(query))


def can_see_location(user: StaffUser, location_id: int) -> bool:
    ids = location_ids(user)
    return ids is None or location_id in ids


def get_lead_or_404(user: StaffUser, lead_id: int) -> Lead:
    """The lead, if it exists and ``user`` may see it; otherwise 404."""
    lead = db.session.scalar(visible_leads(user).where(Lead.id == lead_id))
    if lead is None:
        abort(404)
    return lead
