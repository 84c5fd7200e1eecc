"""The contract's routing rule, as a table. No app or database needed."""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from intake import routing as routing_module
from intake.routing import FLAG_NEEDS_ROUTING, FLAG_OUTSIDE, route_lead, zip5, zip_centroid, zip_table
from intake.seed import LOCATIONS


@dataclass
class Office:
    slug: str
    name: str
    latitude: float
    longitude: float


OFFICES = [Office(slug, name, lat, lon) for slug, name, _zip, lat, lon, *_ in LOCATIONS]


@pytest.mark.parametrize(
    "zip_code, slug",
    [
        ("20001", "washington-dc"),  # DC, Shaw
        ("20002", "washington-dc"),  # DC, Capitol Hill NE
        ("20774", "washington-dc"),  # Upper Marlboro, MD: DC is nearer than Annapolis
        ("20910", "bethesda-md"),  # Silver Spring, MD
        ("20850", "bethesda-md"),  # Rockville, MD
        ("20878", "bethesda-md"),  # Gaithersburg, MD
        ("21045", "columbia-md"),  # Columbia, MD
        ("21201", "columbia-md"),  # Baltimore, MD
        ("21403", "annapolis-md"),  # Annapolis, MD
        ("21012", "annapolis-md"),  # Arnold, MD
        ("22202", "arlington-va"),  # Crystal City, VA
        ("22314", "arlington-va"),  # Alexandria, VA
        ("22031", "fairfax-va"),  # Fairfax, VA
        ("20170", "fairfax-va"),  # Herndon, VA
        ("22401", "fairfax-va"),  # Fredericksburg, VA: far but inside 50 miles
    ],
)
def test_nearest_office_to_zip(zip_code, slug):
    decision = route_lead(None, zip_code, OFFICES, "washington-dc")
    assert decision.slug == slug
    assert decision.flag is None
    assert decision.reason.startswith(f"nearest to ZIP {zip_code}, ")
    assert decision.reason.endswith(" mi")


def test_reason_matches_contract_wording():
    decision = route_lead(None, "22180", OFFICES, "washington-dc")
    assert (decision.slug, decision.reason) == ("fairfax-va", "nearest to ZIP 22180, 5.0 mi")
    assert decision.distance_miles == 5.0


@pytest.mark.parametrize("zip_code", ["22180-1234", "221801234", " 22180 "])
def test_zip_plus_four_routes_by_its_first_five(zip_code):
    assert route_lead(None, zip_code, OFFICES, "washington-dc").slug == "fairfax-va"


@pytest.mark.parametrize("zip_code, slug", [("10001", "annapolis-md"), ("90210", "fairfax-va")])
def test_out_of_area_goes_to_nearest_flagged(zip_code, slug):
    decision = route_lead(None, zip_code, OFFICES, "washington-dc")
    assert decision.slug == slug
    assert decision.flag == FLAG_OUTSIDE
    assert decision.distance_miles > 50


@pytest.mark.parametrize("zip_code", [None, "", "99999", "00000", "abcde", "2003", "200361", "20036-12"])
def test_unknown_or_missing_zip_goes_to_default_flagged(zip_code):
    decision = route_lead(None, zip_code, OFFICES, "bethesda-md")
    assert decision.slug == "bethesda-md"
    assert decision.flag == FLAG_NEEDS_ROUTING


def test_choice_beats_zip():
    decision = route_lead("annapolis-md", "22030", OFFICES, "washington-dc")
    assert (decision.slug, decision.reason, decision.flag) == ("annapolis-md", "chosen by patient", None)


def test_choice_of_unknown_or_inactive_office_falls_back_to_zip():
    active = [o for o in OFFICES if o.slug != "fairfax-va"]
    decision = route_lead("fairfax-va", "22030", active, "washington-dc")
    assert decision.slug != "fairfax-va"
    assert decision.reason.startswith("nearest to ZIP 22030")


def test_inactive_default_falls_back_to_first_active():
    active = [o for o in OFFICES if o.slug != "washington-dc"]
    decision = route_lead(None, None, active, "washington-dc")
    assert decision.slug == active[0].slug
    assert decision.flag == FLAG_NEEDS_ROUTING


@pytest.mark.parametrize("value, expected", [("20036", "20036"), ("20036-1234", "20036"), ("x20036", None),
                                             ("20036\n", "20036"), ("２００３６", None)])
def test_zip5(value, expected):
    assert zip5(value) == expected


# ---- the compact ZIP table (routing must answer as the zipcodes package does) -------------

def _package_centroid(code):
    """What the zipcodes package itself says: the first record's coordinates, or None."""
    import zipcodes

    found = zipcodes.matching(code)
    try:
        return (float(found[0]["lat"]), float(found[0]["long"])) if found else None
    except (KeyError, ValueError):
        return None


def test_zip_table_agrees_with_the_package():
    table = zip_table()
    assert len(table) > 40_000
    codes = [f"{n:05d}" for n in table.codes[::97]]  # a spread across every state
    codes += ["20036", "22180", "09000", "00501", "99950", "00000", "00100", "99999", "20035"]
    assert [zip_centroid(c) for c in codes] == [_package_centroid(c) for c in codes]
    assert zip_centroid("22180") == _package_centroid("22180") != None  # noqa: E711
    assert zip_centroid("00000") is None


@pytest.mark.parametrize("code", ["2018", "201800", "abcde", "٢٠١٨٠", ""])
def test_zip_table_refuses_what_is_not_five_ascii_digits(code):
    assert zip_centroid(code) is None


def test_routing_keeps_neither_the_package_nor_its_data_in_the_process():
    """The zipcodes package keeps ~37 MB once it has answered; routing reads it in a child process."""
    script = """
import sys
def rss():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) // 1024
from intake import routing
before = rss()
decision = routing.route_lead(None, "22180", [], "washington-dc")
routing.zip_centroid("20814")
print(rss() - before, "zipcodes" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    grown, imported = done.stdout.split()
    assert imported == "False"
    assert int(grown) < 10, f"routing's first use grew RSS by {grown} MB"


def test_zip_table_falls_back_to_the_package_in_process(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no child processes here")

    monkeypatch.setattr(routing_module.subprocess, "run", refuse)
    zip_table.cache_clear()
    try:
        assert zip_centroid("22180") == _package_centroid("22180")
    finally:
        zip_table.cache_clear()
