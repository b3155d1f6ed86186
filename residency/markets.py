"""Markets (countries whose users the platform may serve), site locations and the network floor.

Stdlib only, like the rest of ``residency``: the program, the pack and ``infra``'s reports use one
vocabulary. A market is an ISO 3166-1 alpha-2 country, the jurisdiction its data belongs to, and a
reference location (its main population centre). The network floor is what physics and real fibre
routes cost before a single token is computed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Location:
    name: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Market:
    country: str
    """ISO 3166-1 alpha-2 code."""
    name: str
    jurisdiction: str
    """A key of residency.JURISDICTIONS."""
    location: Location


def _eu(country: str, name: str, city: str, lat: float, lon: float) -> tuple[str, Market]:
    return country, Market(country, name, "EU", Location(city, lat, lon))


# The 27 EU member states (their data falls under GDPR) and the UAE. Reference location: the largest city
# (coordinates of its centre, 3 decimals, about 100 m: far below what matters at fibre speed).
MARKETS: Mapping[str, Market] = MappingProxyType(
    dict(
        [
            _eu("AT", "Austria", "Vienna", 48.208, 16.372),
            _eu("BE", "Belgium", "Brussels", 50.847, 4.357),
            _eu("BG", "Bulgaria", "Sofia", 42.698, 23.322),
            _eu("HR", "Croatia", "Zagreb", 45.815, 15.982),
            _eu("CY", "Cyprus", "Nicosia", 35.185, 33.382),
            _eu("CZ", "Czechia", "Prague", 50.075, 14.438),
            _eu("DK", "Denmark", "Copenhagen", 55.676, 12.568),
            _eu("EE", "Estonia", "Tallinn", 59.437, 24.754),
            _eu("FI", "Finland", "Helsinki", 60.170, 24.938),
            _eu("FR", "France", "Paris", 48.857, 2.352),
            _eu("DE", "Germany", "Berlin", 52.520, 13.405),
            _eu("GR", "Greece", "Athens", 37.984, 23.728),
            _eu("HU", "Hungary", "Budapest", 47.498, 19.040),
            _eu("IE", "Ireland", "Dublin", 53.350, -6.260),
            _eu("IT", "Italy", "Rome", 41.903, 12.496),
            _eu("LV", "Latvia", "Riga", 56.950, 24.106),
            _eu("LT", "Lithuania", "Vilnius", 54.687, 25.280),
            _eu("LU", "Luxembourg", "Luxembourg", 49.612, 6.130),
            _eu("MT", "Malta", "Valletta", 35.899, 14.514),
            _eu("NL", "Netherlands", "Amsterdam", 52.370, 4.895),
            _eu("PL", "Poland", "Warsaw", 52.230, 21.011),
            _eu("PT", "Portugal", "Lisbon", 38.722, -9.139),
            _eu("RO", "Romania", "Bucharest", 44.427, 26.103),
            _eu("SK", "Slovakia", "Bratislava", 48.149, 17.107),
            _eu("SI", "Slovenia", "Ljubljana", 46.056, 14.506),
            _eu("ES", "Spain", "Madrid", 40.417, -3.704),
            _eu("SE", "Sweden", "Stockholm", 59.329, 18.069),
            ("AE", Market("AE", "United Arab Emirates", "UAE", Location("Dubai", 25.205, 55.271))),
        ]
    )
)

# Countries the catalogue knows but whose data belongs to no jurisdiction of ours: configuring one as a
# market is "a jurisdiction the project does not know", not a typo.
COUNTRIES_WITHOUT_JURISDICTION: frozenset[str] = frozenset(
    {"GB", "CH", "NO", "IS", "LI", "US", "CA", "SA", "QA", "KW", "BH", "OM", "EG", "IN", "TR", "IL", "JO"}
)

# Where the AWS regions of our jurisdictions are (AWS publishes the metro, not the buildings: the metro's
# centre is used). me-central-1 is "Middle East (UAE)"; its metro is not published, Dubai is assumed.
AWS_REGION_LOCATIONS: Mapping[str, Location] = MappingProxyType(
    {
        "eu-central-1": Location("Frankfurt", 50.110, 8.682),
        "eu-central-2": Location("Zurich", 47.377, 8.541),
        "eu-west-1": Location("Dublin", 53.350, -6.260),
        "eu-west-3": Location("Paris", 48.857, 2.352),
        "eu-north-1": Location("Stockholm", 59.329, 18.069),
        "eu-south-1": Location("Milan", 45.464, 9.190),
        "eu-south-2": Location("Zaragoza", 41.649, -0.889),
        "me-central-1": Location("Dubai", 25.205, 55.271),
    }
)

EARTH_MEAN_RADIUS_KM = 6371.0088  # IUGG mean radius
SPEED_OF_LIGHT_KM_PER_MS = 299_792.458 / 1000
FIBRE_KM_PER_MS = SPEED_OF_LIGHT_KM_PER_MS * 2 / 3  # light in silica fibre (refractive index ~1.5)

_ALPHA2 = re.compile(r"[A-Z]{2}")


def country_problem(code: str) -> str | None:
    """Why ``code`` cannot be a market, or None when it is one."""
    if not _ALPHA2.fullmatch(code):
        return "not an ISO 3166-1 alpha-2 code (two upper-case letters, e.g. DE)"
    if code in MARKETS:
        return None
    if code in COUNTRIES_WITHOUT_JURISDICTION:
        return f"{code} belongs to no jurisdiction the project knows (markets: {', '.join(sorted(MARKETS))})"
    return f"unknown country code {code!r} (markets: {', '.join(sorted(MARKETS))})"


def jurisdiction_of_country(code: str) -> str | None:
    market = MARKETS.get(code)
    return market.jurisdiction if market else None


def great_circle_km(a: Location, b: Location) -> float:
    """Haversine distance on the mean-radius sphere (within 0.5 % of the ellipsoid: enough for a floor)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def network_floor_ms(a: Location, b: Location, path_stretch: float) -> float:
    """Round trip at fibre speed along the great circle, times how much longer real routes are."""
    return 2 * great_circle_km(a, b) / FIBRE_KM_PER_MS * path_stretch
