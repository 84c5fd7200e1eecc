"""Which office a lead goes to: the contract's three rules, in one place.

Pure functions: no Flask, no database. Callers pass the active offices.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Protocol, Sequence

import zipcodes

SERVICE_RADIUS_MILES = 50.0
EARTH_RADIUS_MILES = 3958.8

CHOSEN = "chosen by patient"
FLAG_OUTSIDE = "outside service area"
FLAG_NEEDS_ROUTING = "needs routing"

ZIP_RE = re.compile(r"^([0-9]{5})(?:-?[0-9]{4})?$")


class Office(Protocol):
    slug: str
    name: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class RoutingDecision:
    slug: str
    reason: str
    flag: str | None = None
    distance_miles: float | None = None


def zip5(value: str | None) -> str | None:
    """The five-digit ZIP in ``value`` (ZIP or ZIP+4), or None."""
    match = ZIP_RE.match((value or "").strip())
    return match.group(1) if match else None


@functools.lru_cache(maxsize=4096)
def zip_centroid(code: str) -> tuple[float, float] | None:
    """Latitude and longitude of a ZIP the zipcodes package knows, else None."""
    try:
        found = zipcodes.matching(code)
    except (TypeError, ValueError):
        return None
    if not found:
        return None
    try:
        return float(found[0]["lat"]), float(found[0]["long"])
    except (KeyError, TypeError, ValueError):
        return None


def distance_miles(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(math.sqrt(h))


def route_lead(
    choice: str | None,
    zip_code: str | None,
    offices: Sequence[Office],
    default_slug: str,
) -> RoutingDecision:
    """Decide the office for a lead.

    1. The patient's own choice, when it names an active office.
    2. Else the office nearest the ZIP's centroid, flagged when over 50 miles.
    3. Else the default office, flagged as needing routing by hand.
    """
    by_slug = {o.slug: o for o in offices}
    if choice and choice in by_slug:
        return RoutingDecision(choice, CHOSEN)

    code = zip5(zip_code)
    point = zip_centroid(code) if code else None
    if point and offices:
        nearest, miles = min(
            ((o, distance_miles(point, (o.latitude, o.longitude))) for o in offices),
            key=lambda pair: pair[1],
        )
        miles = round(miles, 1)
        flag = FLAG_OUTSIDE if miles > SERVICE_RADIUS_MILES else None
        return RoutingDecision(nearest.slug, f"nearest to ZIP {code}, {miles:.1f} mi", flag, miles)

    if default_slug not in by_slug and offices:
        default_slug = offices[0].slug
    why = f"no usable ZIP ({code} unknown)" if code else "no location or ZIP given"
    return RoutingDecision(default_slug, f"default office: {why}", FLAG_NEEDS_ROUTING)
