"""Geocoding through geopy: the offline gazetteer by default, Nominatim as an option that falls back to it.

The machines here have no internet and couriers in the Mekong delta often have none either, so the default
geocoder answers from the gazetteer (administrative units of both structures, agency desks, post offices).
Every ``Location`` carries the unit's code in ``raw`` so callers can route on it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from geopy.distance import geodesic
from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim
from geopy.geocoders.base import Geocoder
from geopy.location import Location

from logistics.agencies.models import Scheme, UnitLevel
from logistics.routing.addresses import AddressMatch, resolve_address
from logistics.routing.gazetteer import Gazetteer, PlaceRef, UnitRef

log = logging.getLogger(__name__)

GEOCODERS = ("offline", "nominatim")


def unit_location(gaz: Gazetteer, unit: UnitRef, match: AddressMatch | None = None) -> Location:
    """A geopy ``Location`` for a unit, its code in ``raw``."""
    raw: dict[str, Any] = {"source": "gazetteer", "type": "admin_unit", "code": unit.code,
                           "scheme": unit.scheme.value, "level": unit.level.value, "name": unit.name}
    if match is not None:
        raw["status"] = match.status
        raw["legacy_code"] = match.legacy.code if match.legacy else None
        raw["score"] = match.candidates[0].score if match.candidates else None
    full = ", ".join(_lineage(gaz, unit))
    return Location(full, (unit.lat or 0.0, unit.lon or 0.0), raw)


def _lineage(gaz: Gazetteer, unit: UnitRef) -> list[str]:
    parts = [unit.name]
    parent = unit.parent_id
    while parent is not None:
        parts.append(gaz.units[parent].name)
        parent = gaz.units[parent].parent_id
    return parts


def place_location(gaz: Gazetteer, place: PlaceRef) -> Location:
    """A geopy ``Location`` for an agency desk or post office; ``raw`` has its code and its unit's code."""
    unit = gaz.units[place.unit_id]
    raw = {"source": "gazetteer", "type": place.kind, "code": place.code, "name": place.name,
           "unit_code": unit.code, "scheme": unit.scheme.value, "level": unit.level.value}
    return Location(f"{place.name}, {place.address}", (place.lat or 0.0, place.lon or 0.0), raw)


class OfflineGeocoder(Geocoder):  # type: ignore[misc]  # geopy ships no type hints
    """geopy geocoder answering from the gazetteer, with no network.

    ``geocode`` finds an agency or post office by name, else resolves the address (old or new structure) to
    its 2025 commune; an ambiguous address gives no single answer (``exactly_one=False`` lists candidates).
    ``reverse`` gives the 2025 commune whose centroid is nearest.
    """

    def __init__(self, gazetteer: Gazetteer) -> None:
        super().__init__(user_agent="dossierpost-offline")
        self.gazetteer = gazetteer

    def match(self, query: str) -> AddressMatch:
        """The full address match (status and candidates), for callers that need more than a point."""
        return resolve_address(self.gazetteer, query)

    def geocode(self, query: str, *, exactly_one: bool = True, **_kwargs: Any) -> Location | list[Location] | None:
        """Locate ``query`` (a place name or an address)."""
        place = self.gazetteer.find_place(query)
        if place is not None and place.point is not None:
            loc = place_location(self.gazetteer, place)
            return loc if exactly_one else [loc]
        match = self.match(query)
        if exactly_one:
            return unit_location(self.gazetteer, match.unit, match) if match.unit and match.unit.point else None
        return [unit_location(self.gazetteer, c.unit, match) for c in match.candidates if c.unit.point] or None

    def reverse(self, query: Any, *, exactly_one: bool = True, **_kwargs: Any) -> Location | list[Location] | None:
        """The 2025 communes nearest to a point, nearest first."""
        point = (float(query[0]), float(query[1])) if isinstance(query, (tuple, list)) else query
        ranked = sorted((u for u in self.gazetteer.communes_2025() if u.point),
                        key=lambda u: geodesic(point, u.point).meters)
        if not ranked:
            return None
        locs = [unit_location(self.gazetteer, u) for u in ranked[:5]]
        return locs[0] if exactly_one else locs


class FallbackGeocoder(Geocoder):  # type: ignore[misc]  # geopy ships no type hints
    """An online geocoder (rate-limited, cached) that falls back to the offline one on any failure.

    The online answer is snapped to the nearest 2025 commune (``raw['code']``) so routing works the same.
    """

    def __init__(self, online: Callable[..., Any], offline: OfflineGeocoder, *, cache_size: int = 2048) -> None:
        super().__init__(user_agent="dossierpost")
        self.online = online
        self.offline = offline
        self.cache: OrderedDict[str, Location | None] = OrderedDict()
        self.cache_size = cache_size
        self.fallbacks = 0

    def geocode(self, query: str, *, exactly_one: bool = True, **kwargs: Any) -> Location | list[Location] | None:
        """Ask the online service (once per query, cached); on error or no answer, the gazetteer."""
        if query in self.cache:
            self.cache.move_to_end(query)
            hit = self.cache[query]
            if hit is not None:
                return hit if exactly_one else [hit]
        else:
            found: Location | None = None
            try:
                answer = self.online(query, exactly_one=True, **kwargs)
                if isinstance(answer, Location):
                    found = self._snap(answer)
            except (GeopyError, OSError, ValueError) as exc:
                log.warning("online geocoder failed (%s); using the offline gazetteer", exc.__class__.__name__)
                self.fallbacks += 1
            else:
                self.cache[query] = found
                if len(self.cache) > self.cache_size:
                    self.cache.popitem(last=False)
            if found is not None:
                return found if exactly_one else [found]
        return self.offline.geocode(query, exactly_one=exactly_one)

    def _snap(self, loc: Location) -> Location:
        nearest = self.offline.reverse((loc.latitude, loc.longitude), exactly_one=True)
        raw = dict(loc.raw) if isinstance(loc.raw, dict) else {}
        if isinstance(nearest, Location):
            raw.update(source="nominatim", type="admin_unit", code=nearest.raw["code"],
                       scheme=Scheme.V2025.value, level=UnitLevel.COMMUNE.value)
        return Location(loc.address, (loc.latitude, loc.longitude), raw)

    def reverse(self, query: Any, *, exactly_one: bool = True, **kwargs: Any) -> Location | list[Location] | None:
        """Reverse geocoding is always offline (the commune is what routing needs)."""
        return self.offline.reverse(query, exactly_one=exactly_one, **kwargs)


def make_geocoder(gazetteer: Gazetteer, kind: str = "offline", *, nominatim_domain: str = "",
                  user_agent: str = "dossierpost", min_delay_seconds: float = 1.0) -> Geocoder:
    """The geocoder the settings select: ``offline`` (default) or ``nominatim`` with offline fallback."""
    offline = OfflineGeocoder(gazetteer)
    if kind == "offline":
        return offline
    if kind != "nominatim":
        raise ValueError(f"unknown geocoder {kind!r}; one of {', '.join(GEOCODERS)}")
    options: dict[str, Any] = {"user_agent": user_agent, "timeout": 5}
    if nominatim_domain:
        scheme, _, domain = nominatim_domain.rpartition("://")
        options["domain"] = domain.rstrip("/")
        options["scheme"] = scheme or "https"
    nominatim = Nominatim(**options)
    # geopy logs every query URL at DEBUG, and the query is the citizen's address: keep it out of the logs.
    geopy_log = logging.getLogger("geopy")
    geopy_log.setLevel(max(geopy_log.getEffectiveLevel(), logging.INFO))
    # Nominatim's usage policy: at most one request per second; errors are not retried here (we fall back).
    limited = RateLimiter(nominatim.geocode, min_delay_seconds=min_delay_seconds, max_retries=0,
                          swallow_exceptions=False)
    return FallbackGeocoder(limited, offline)
