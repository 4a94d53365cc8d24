"""The offline gazetteer: administrative units (old and new structure), agencies and post offices in memory.

Address matching runs for every booking and every imported row, so the reference data is read once into plain
(immutable, session-free) records and kept per database for a few minutes; reference data changes rarely and a
stale copy for five minutes after a manager's edit is harmless (``load_gazetteer(..., fresh=True)`` forces it).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistics.agencies.models import (
    AdminUnit,
    AdminUnitSuccessor,
    Agency,
    AgencyKind,
    PostOffice,
    PostOfficeArea,
    Scheme,
    UnitLevel,
)
from logistics.text import fold, fold_words

CACHE_SECONDS = 300.0
MIN_PLACE_NAME = 12  # a place name this long inside a query names that place


@dataclass(frozen=True, slots=True)
class UnitRef:
    """An administrative unit as the router needs it."""

    id: int
    scheme: Scheme
    level: UnitLevel
    code: str
    name: str
    short_name: str
    kind: str
    parent_id: int | None
    lat: float | None
    lon: float | None

    @property
    def point(self) -> tuple[float, float] | None:
        """The centroid, when known."""
        return (self.lat, self.lon) if self.lat is not None and self.lon is not None else None


@dataclass(frozen=True, slots=True)
class PlaceRef:
    """An agency desk or a post office: a named point in a unit."""

    id: int
    code: str
    name: str
    address: str
    unit_id: int
    lat: float | None
    lon: float | None
    active: bool
    kind: str  # an AgencyKind value, or "post_office"

    @property
    def point(self) -> tuple[float, float] | None:
        """The location, when known."""
        return (self.lat, self.lon) if self.lat is not None and self.lon is not None else None


@dataclass
class Gazetteer:
    """All reference places of the deployment, indexed for matching and routing."""

    units: dict[int, UnitRef]
    successors: dict[int, list[tuple[int, bool]]]  # legacy unit id -> [(2025 unit id, is_main)]
    agencies: dict[int, PlaceRef]
    post_offices: dict[int, PlaceRef]
    office_by_unit: dict[int, int]  # 2025 commune id -> serving post office id
    by_code: dict[tuple[Scheme, UnitLevel, str], int] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    predecessors: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    memo: dict[str, Any] = field(default_factory=dict)  # derived indexes (address matching) built once

    def __post_init__(self) -> None:
        for unit in self.units.values():
            self.by_code[(unit.scheme, unit.level, unit.code)] = unit.id
            if unit.parent_id is not None:
                self.children[unit.parent_id].append(unit.id)
        for legacy_id, succ in self.successors.items():
            for new_id, _main in succ:
                self.predecessors[new_id].append(legacy_id)

    def unit(self, unit_id: int) -> UnitRef:
        """The unit with this id (KeyError when unknown)."""
        return self.units[unit_id]

    def commune_2025(self, code: str) -> UnitRef | None:
        """The 2025 commune with this GSO code."""
        uid = self.by_code.get((Scheme.V2025, UnitLevel.COMMUNE, code))
        return self.units[uid] if uid is not None else None

    def legacy_commune(self, code: str) -> UnitRef | None:
        """The pre-July-2025 commune with this GSO code."""
        uid = self.by_code.get((Scheme.LEGACY, UnitLevel.COMMUNE, code))
        return self.units[uid] if uid is not None else None

    def main_successor(self, legacy_id: int) -> UnitRef | None:
        """The 2025 commune that took over (most of) a legacy commune."""
        succ = sorted(self.successors.get(legacy_id, []), key=lambda s: (not s[1], s[0]))
        return self.units[succ[0][0]] if succ else None

    def all_successors(self, legacy_id: int) -> list[UnitRef]:
        """Every 2025 commune that took part of a legacy commune, the main one first."""
        succ = sorted(self.successors.get(legacy_id, []), key=lambda s: (not s[1], s[0]))
        return [self.units[s[0]] for s in succ]

    def province_of(self, unit_id: int) -> UnitRef:
        """The province a unit belongs to (the unit itself for a province)."""
        unit = self.units[unit_id]
        while unit.parent_id is not None:
            unit = self.units[unit.parent_id]
        return unit

    def former_districts(self, unit_id: int) -> set[int]:
        """Legacy districts a unit lay in (a 2025 commune: those of the legacy communes it absorbed)."""
        unit = self.units[unit_id]
        if unit.scheme == Scheme.LEGACY:
            return {unit.parent_id} if unit.level == UnitLevel.COMMUNE and unit.parent_id else (
                {unit.id} if unit.level == UnitLevel.DISTRICT else set())
        return {pid for lid in self.predecessors.get(unit_id, [])
                if (pid := self.units[lid].parent_id) is not None}

    def communes_2025(self) -> list[UnitRef]:
        """The 2025 communes, by code."""
        return sorted((u for u in self.units.values()
                       if u.scheme == Scheme.V2025 and u.level == UnitLevel.COMMUNE), key=lambda u: u.code)

    def active_agencies(self, kind: AgencyKind) -> list[PlaceRef]:
        """Active desks of one kind, by id."""
        return sorted((a for a in self.agencies.values() if a.active and a.kind == kind.value), key=lambda a: a.id)

    def find_place(self, query: str) -> PlaceRef | None:
        """An agency or post office whose name the query contains (or equals its code)."""
        key = fold(query)
        if not key:
            return None
        best: PlaceRef | None = None
        for place in (*self.agencies.values(), *self.post_offices.values()):
            name_key = fold(place.name)
            named = place.code == query.strip() or name_key == key or (
                len(name_key) >= MIN_PLACE_NAME and name_key in key)
            if named and (best is None or (place.active, len(place.name)) > (best.active, len(best.name))):
                best = place
        return best

    def name_key(self, unit: UnitRef) -> str:
        """Word-folded full name ("phuong tan thanh")."""
        return fold_words(unit.name)


_cache: dict[str, tuple[float, Gazetteer]] = {}
_lock = threading.Lock()


def _cache_key(session: Session) -> str:
    bind = session.get_bind()
    return bind.engine.url.render_as_string(hide_password=True)


def load_gazetteer(session: Session, *, fresh: bool = False) -> Gazetteer:
    """The gazetteer of the session's database, read at most every ``CACHE_SECONDS``."""
    key = _cache_key(session)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and not fresh and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    gaz = read_gazetteer(session)
    with _lock:
        _cache[key] = (now, gaz)
    return gaz


def read_gazetteer(session: Session) -> Gazetteer:
    """Read the reference data into a new gazetteer."""
    units = {
        row.id: UnitRef(row.id, row.scheme, row.level, row.code, row.name, row.short_name, row.kind,
                        row.parent_id, row.lat, row.lon)
        for row in session.execute(select(
            AdminUnit.id, AdminUnit.scheme, AdminUnit.level, AdminUnit.code, AdminUnit.name, AdminUnit.short_name,
            AdminUnit.kind, AdminUnit.parent_id, AdminUnit.lat, AdminUnit.lon))
    }
    successors: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    for legacy_id, unit_id, is_main in session.execute(
            select(AdminUnitSuccessor.legacy_unit_id, AdminUnitSuccessor.unit_id, AdminUnitSuccessor.is_main)):
        successors[legacy_id].append((unit_id, bool(is_main)))
    agencies = {
        r.id: PlaceRef(r.id, r.code, r.name, r.address, r.admin_unit_id, r.lat, r.lon, bool(r.active), r.kind.value)
        for r in session.execute(select(Agency.id, Agency.code, Agency.name, Agency.address, Agency.admin_unit_id,
                                        Agency.lat, Agency.lon, Agency.active, Agency.kind))
    }
    offices = {
        r.id: PlaceRef(r.id, r.code, r.name, r.address, r.admin_unit_id, r.lat, r.lon, bool(r.active), "post_office")
        for r in session.execute(select(PostOffice.id, PostOffice.code, PostOffice.name, PostOffice.address,
                                        PostOffice.admin_unit_id, PostOffice.lat, PostOffice.lon, PostOffice.active))
    }
    office_by_unit: dict[int, int] = {}
    for office_id, unit_id in session.execute(
            select(PostOfficeArea.post_office_id, PostOfficeArea.admin_unit_id)
            .order_by(PostOfficeArea.post_office_id)):
        if offices.get(office_id) is not None and offices[office_id].active:
            office_by_unit.setdefault(unit_id, office_id)
    return Gazetteer(units, dict(successors), agencies, offices, office_by_unit)
