"""Which office a lead goes to: the contract's three rules, in one place.

Pure functions: no Flask, no database. Callers pass the active offices.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import re
import subprocess
import sys
from array import array
from dataclasses import dataclass
from typing import Protocol, Sequence

logger = logging.getLogger(__name__)

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


# Run in a child process: print "ZIP LAT LONG" for every record of the zipcodes
# package, a two-digit prefix at a time so the child never holds all 42,000
# records as Python dicts at once.
_DUMP_ZIPS = """
import sys, zipcodes
out = sys.stdout
for prefix in range(100):
    for z in zipcodes.similar_to(f"{prefix:02d}"):
        out.write(f"{z['zip_code']} {z['lat']} {z['long']}\\n")
"""


class ZipTable:
    """ZIP -> (latitude, longitude), held as three sorted arrays (under 1 MB).

    The zipcodes package is the source, but once it has answered a query it
    keeps its whole data set (about 37 MB) in the process for good. Every web
    worker would carry that for the sake of six offices' worth of arithmetic,
    so the table is read from the package in a short-lived child process and
    only the three numbers routing needs are kept here.
    """

    def __init__(self, lines):
        codes, lats, lons = array("i"), array("d"), array("d")
        last = -1
        for line in lines:
            code, lat, lon = line.split(" ")
            number = int(code)
            if number <= last:  # the package lists ZIPs in order; keep the first record of a ZIP
                continue
            try:
                point = float(lat), float(lon)
            except ValueError:
                point = (math.nan, math.nan)  # a record without usable coordinates: known but unplaceable
            codes.append(number)
            lats.append(point[0])
            lons.append(point[1])
            last = number
        self.codes, self.lats, self.lons = codes, lats, lons

    def __len__(self) -> int:
        return len(self.codes)

    def get(self, code: str) -> tuple[float, float] | None:
        if not (len(code) == 5 and code.isascii() and code.isdigit()):
            return None
        number = int(code)
        i = bisect.bisect_left(self.codes, number)
        if i == len(self.codes) or self.codes[i] != number or math.isnan(self.lats[i]):
            return None
        return self.lats[i], self.lons[i]


def _zip_lines() -> list[str]:
    """Every ZIP record as "ZIP LAT LONG", read from the zipcodes package in a child process."""
    try:
        done = subprocess.run([sys.executable, "-c", _DUMP_ZIPS], capture_output=True, text=True,
                              check=True, timeout=120)
        return done.stdout.splitlines()
    except (OSError, subprocess.SubprocessError) as exc:
        # Routing must still work: read the package here, at the cost of its memory.
        logger.warning("ZIP table: child process failed (%s); loading zipcodes in this process", exc)
        import zipcodes

        return [f"{z['zip_code']} {z['lat']} {z['long']}" for z in zipcodes.list_all()]


@functools.cache
def zip_table() -> ZipTable:
    """The ZIP table, built on first use (about half a second of a child's CPU) and kept."""
    table = ZipTable(_zip_lines())
    if not len(table):
        raise RuntimeError("the zipcodes package listed no ZIP codes")
    return table


def zip_centroid(code: str) -> tuple[float, float] | None:
    """Latitude and longitude of a five-digit ZIP the zipcodes package knows, else None."""
    return zip_table().get(code)


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
