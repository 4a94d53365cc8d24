# Copyright 2025 DossierPost contributors. MIT licence.
"""Reference data (administrative units, agencies, procedures, post offices, tariff), loaded idempotently.

Why this module exists: the hierarchy of administrative units changed on 1 July 2025 (districts abolished,
Cà Mau merged with Bạc Liêu) and will change again, so it is *data*, never code. Two sources feed it:

* the ``vietnamadminunits`` package (MIT, a runtime dependency): GSO codes, names, kinds and centroids of
  the 2025 province and its communes, the legacy (pre-2025) provinces that merged into it with their
  districts and communes, and the old → new commune mapping. Its bundled sqlite file and JSON are read
  directly (located with ``importlib.util.find_spec``, which does not import the package): importing the
  package builds its address parser and costs most of a second, which ``make run`` would pay at every start.
* JSON files in ``config/data`` (``agencies.json``, ``procedures.json``, ``post_offices.json``,
  ``tariff.json``), which managers may edit; they are validated as they load and a bad entry is reported with
  the file and the entry it is in.

``load_reference_data`` upserts everything by natural keys with bulk statements, touches only rows whose
values changed (so a re-run writes nothing and never changes ids), flushes and never commits: the caller owns
the transaction. It runs unchanged on SQLite and PostgreSQL (plain INSERT/UPDATE/DELETE, no dialect upserts).
Rows that disappear from the data are *not* deleted (orders and events may point at them), except in the pure
link tables (successors, post-office areas) and in procedure checklists, which are replaced per procedure.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, insert, select, tuple_, update

from config.settings import PROJECT_ROOT
from logistics.agencies.models import (
    AdminUnit,
    AdminUnitSuccessor,
    Agency,
    AgencyKind,
    DocumentForm,
    PostOffice,
    PostOfficeArea,
    Procedure,
    ProcedureDocument,
    ProcedureLevel,
    Scheme,
    UnitLevel,
)
from logistics.fees.models import FeeReduction, TariffRate, TariffSurcharge, Zone
from logistics.text import fold

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = PROJECT_ROOT / "config" / "data"

# The 2025 province this deployment serves (GSO code). Which legacy provinces merged into it is read from the
# package's converter data, not listed here.
PROVINCE_CODE_2025 = "96"  # Tỉnh Cà Mau (since 1/7/2025 including the former Tỉnh Bạc Liêu)

# Which agency kind handles each procedure level; a procedure naming another pairing is a data error.
LEVEL_AGENCY_KIND = {
    ProcedureLevel.PROVINCE: AgencyKind.PROVINCE_CENTER,
    ProcedureLevel.DISTRICT: AgencyKind.DISTRICT_DESK,
    ProcedureLevel.COMMUNE: AgencyKind.COMMUNE_DESK,
}

_E = TypeVar("_E", bound=Enum)


class ReferenceDataError(ValueError):
    """A reference-data file (or the package data) is malformed; the message names the file and the entry."""

    def __init__(self, source: str, entry: str | None, message: str) -> None:
        self.source = source
        self.entry = entry
        where = f"{source}: {entry}" if entry else source
        super().__init__(f"{where}: {message}")


# --------------------------------------------------------------------------------------------------------
# The vietnamadminunits package
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """One administrative unit as the package describes it, ready to become an ``AdminUnit`` row."""

    scheme: Scheme
    level: UnitLevel
    code: str
    name: str
    short_name: str
    kind: str
    lat: float | None
    lon: float | None
    parent_code: str | None
    key: str  # the package's path key, e.g. "tinhcamau_thanhphocamau_phuong5" (legacy) or "phuongtanthanh"


@dataclass(frozen=True, slots=True)
class SuccessorRecord:
    """A legacy commune and one 2025 commune that took (part of) it."""

    legacy_code: str
    new_code: str
    is_main: bool


@dataclass(frozen=True, slots=True)
class PackageUnits:
    """Everything read from the package for one 2025 province."""

    units: tuple[UnitRecord, ...]
    successors: tuple[SuccessorRecord, ...]

    def by_scheme_level(self, scheme: Scheme, level: UnitLevel) -> list[UnitRecord]:
        """Return the units of one scheme and level, in package (GSO) order."""
        return [u for u in self.units if u.scheme is scheme and u.level is level]


def package_data_dir() -> Path:
    """Locate the ``data`` folder bundled with ``vietnamadminunits`` without importing the package."""
    spec = importlib.util.find_spec("vietnamadminunits")
    if spec is None or not spec.submodule_search_locations:
        raise ReferenceDataError("vietnamadminunits", None, "the package is not installed (a dependency)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _kind_of(name: str, short: str, fallback: str) -> str:
    """Derive a unit's kind: its full name minus the short name ("Tỉnh Cà Mau" - "Cà Mau" = "Tỉnh")."""
    if short and name.endswith(short) and name != short:
        return name[: -len(short)].strip()
    return fallback


def read_package_units(province_code: str = PROVINCE_CODE_2025, data_dir: Path | None = None) -> PackageUnits:
    """Read the 2025 province, its communes, the merged legacy provinces and the old → new mapping.

    The mapping comes from the package's ``converter_2025.json`` (the data behind its
    ``convert_address``): ``DICT_PROVINCE`` lists the legacy provinces merged into each new one;
    ``DICT_PROVINCE_WARD_NO_DIVIDED`` maps a new commune to the legacy communes it absorbed whole; and
    ``DICT_PROVINCE_WARD_DIVIDED`` maps a split legacy commune to its new communes, flagging with
    ``isDefaultNewWard`` the one an address naming only the old commune goes to (our ``is_main``).
    """
    folder = data_dir or package_data_dir()
    source = "vietnamadminunits"
    try:
        converter = json.loads((folder / "converter_2025.json").read_text(encoding="utf-8"))
        with sqlite3.connect(f"file:{folder / 'dataset.db'}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            new_rows = conn.execute(
                "SELECT province, provinceShort, provinceCode, provinceLat, provinceLon, provinceKey,"
                " ward, wardShort, wardType, wardCode, wardLat, wardLon, wardKey"
                " FROM admin_units WHERE provinceCode = ? ORDER BY wardCode",
                (province_code,),
            ).fetchall()
            if not new_rows:
                raise ReferenceDataError(source, f"province {province_code}", "no such 2025 province")
            province_key = new_rows[0]["provinceKey"]
            legacy_keys = converter["DICT_PROVINCE"].get(province_key)
            if not legacy_keys:
                raise ReferenceDataError(source, province_key, "no legacy provinces listed in the converter")
            legacy_rows = conn.execute(
                "SELECT province, provinceShort, provinceCode, provinceLat, provinceLon, provinceKey,"
                " district, districtShort, districtType, districtCode, districtLat, districtLon, districtKey,"
                " ward, wardShort, wardType, wardCode, wardLat, wardLon, wardKey"
                " FROM admin_units_legacy WHERE provinceKey IN (SELECT value FROM json_each(?))"
                " ORDER BY provinceCode, districtCode, wardCode",
                (json.dumps(legacy_keys),),
            ).fetchall()
    except (OSError, sqlite3.Error, json.JSONDecodeError, KeyError) as exc:
        raise ReferenceDataError(source, str(folder), f"cannot read the package data: {exc}") from exc

    units: list[UnitRecord] = []
    first = new_rows[0]
    units.append(_province_record(Scheme.V2025, first))
    new_code_by_key: dict[str, str] = {}
    for row in new_rows:
        new_code_by_key[row["wardKey"]] = row["wardCode"]
        units.append(
            UnitRecord(
                Scheme.V2025, UnitLevel.COMMUNE, row["wardCode"], row["ward"], row["wardShort"],
                row["wardType"] or _kind_of(row["ward"], row["wardShort"], "Xã"),
                row["wardLat"], row["wardLon"], first["provinceCode"], row["wardKey"],
            )
        )

    seen_provinces: set[str] = set()
    seen_districts: set[str] = set()
    legacy_code_by_key: dict[str, str] = {}
    for row in legacy_rows:
        if row["provinceCode"] not in seen_provinces:
            seen_provinces.add(row["provinceCode"])
            units.append(_province_record(Scheme.LEGACY, row))
        if row["districtCode"] not in seen_districts:
            seen_districts.add(row["districtCode"])
            units.append(
                UnitRecord(
                    Scheme.LEGACY, UnitLevel.DISTRICT, row["districtCode"], row["district"],
                    row["districtShort"],
                    row["districtType"] or _kind_of(row["district"], row["districtShort"], "Huyện"),
                    row["districtLat"], row["districtLon"], row["provinceCode"],
                    f"{row['provinceKey']}_{row['districtKey']}",
                )
            )
        key = f"{row['provinceKey']}_{row['districtKey']}_{row['wardKey']}"
        legacy_code_by_key[key] = row["wardCode"]
        units.append(
            UnitRecord(
                Scheme.LEGACY, UnitLevel.COMMUNE, row["wardCode"], row["ward"], row["wardShort"],
                row["wardType"] or _kind_of(row["ward"], row["wardShort"], "Xã"),
                row["wardLat"], row["wardLon"], row["districtCode"], key,
            )
        )

    successors = _read_successors(converter, province_key, legacy_code_by_key, new_code_by_key)
    units = [replace(u, name=_tidy_name(u.name, u.kind)) for u in units]
    _check_unique_codes(units)
    return PackageUnits(tuple(units), successors)


def _tidy_name(name: str, kind: str) -> str:
    """Write the kind as the package's type column does ("Thị Trấn Năm Căn" -> "Thị trấn Năm Căn")."""
    if name.lower().startswith(kind.lower() + " ") and not name.startswith(kind):
        return kind + name[len(kind) :]
    return name


def _province_record(scheme: Scheme, row: sqlite3.Row) -> UnitRecord:
    return UnitRecord(
        scheme, UnitLevel.PROVINCE, row["provinceCode"], row["province"], row["provinceShort"],
        _kind_of(row["province"], row["provinceShort"], "Tỉnh"), row["provinceLat"], row["provinceLon"], None,
        row["provinceKey"],
    )


def _read_successors(
    converter: Mapping[str, Any],
    province_key: str,
    legacy_code_by_key: Mapping[str, str],
    new_code_by_key: Mapping[str, str],
) -> tuple[SuccessorRecord, ...]:
    """Old → new commune pairs; the main successor of a split commune is the package's default one."""
    source = "vietnamadminunits converter_2025.json"
    pairs: dict[tuple[str, str], bool] = {}

    def code(mapping: Mapping[str, str], key: str, what: str) -> str:
        try:
            return mapping[key]
        except KeyError:
            raise ReferenceDataError(source, key, f"unknown {what} commune") from None

    whole: Mapping[str, list[str]] = converter["DICT_PROVINCE_WARD_NO_DIVIDED"].get(province_key, {})
    for new_key, old_keys in whole.items():
        for old_key in old_keys:
            pairs[code(legacy_code_by_key, old_key, "legacy"), code(new_code_by_key, new_key, "2025")] = True
    split: Mapping[str, list[dict[str, Any]]] = converter["DICT_PROVINCE_WARD_DIVIDED"].get(province_key, {})
    for old_key, targets in split.items():
        old = code(legacy_code_by_key, old_key, "legacy")
        for target in targets:
            pair = (old, code(new_code_by_key, target["newWardKey"], "2025"))
            pairs[pair] = pairs.get(pair, False) or bool(target["isDefaultNewWard"])
    # Every legacy commune needs exactly one main successor, or an old address cannot be resolved.
    mains: dict[str, int] = defaultdict(int)
    for (old, _new), is_main in pairs.items():
        mains[old] += is_main
    for old in legacy_code_by_key.values():
        if mains.get(old, 0) != 1:
            raise ReferenceDataError(source, old, f"legacy commune has {mains.get(old, 0)} main successors")
    return tuple(SuccessorRecord(old, new, main) for (old, new), main in sorted(pairs.items()))


def _check_unique_codes(units: Sequence[UnitRecord]) -> None:
    """Refuse repeated codes: agencies and offices name their unit by scheme + code alone."""
    seen: set[tuple[Scheme, str]] = set()
    for unit in units:
        if (unit.scheme, unit.code) in seen:
            raise ReferenceDataError("vietnamadminunits", unit.code, f"code repeated in scheme {unit.scheme}")
        seen.add((unit.scheme, unit.code))


# --------------------------------------------------------------------------------------------------------
# Validation of the JSON files
# --------------------------------------------------------------------------------------------------------


class _Entry:
    """One JSON object being validated; knows where it came from so errors can say so."""

    def __init__(self, source: str, label: str, obj: object) -> None:
        self.source = source
        self.label = label
        if not isinstance(obj, dict):
            raise ReferenceDataError(source, label, f"expected an object, got {type(obj).__name__}")
        self.obj: dict[str, Any] = obj

    def fail(self, message: str) -> ReferenceDataError:
        """Build an error pointing at this entry."""
        return ReferenceDataError(self.source, self.label, message)

    def _get(self, key: str) -> Any:
        if key not in self.obj:
            raise self.fail(f"missing field '{key}'")
        return self.obj[key]

    def text(self, key: str, *, max_len: int | None = None) -> str:
        """Read a non-empty string field."""
        value = self._get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"field '{key}' must be a non-empty string, got {value!r}")
        if max_len is not None and len(value) > max_len:
            raise self.fail(f"field '{key}' is longer than {max_len} characters")
        return value

    def opt_text(self, key: str, *, max_len: int | None = None) -> str | None:
        """Read a string field that may be null or absent."""
        if self.obj.get(key) is None:
            return None
        return self.text(key, max_len=max_len)

    def integer(self, key: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        """Read an integer field (booleans refused: JSON true would otherwise pass as 1)."""
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"field '{key}' must be an integer, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            raise self.fail(f"field '{key}' = {value} is out of range")
        return value

    def number(self, key: str, lo: float, hi: float) -> float:
        """Read a number in a range (coordinates)."""
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise self.fail(f"field '{key}' must be a number between {lo} and {hi}, got {value!r}")
        return float(value)

    def flag(self, key: str) -> bool:
        """Read a true/false field."""
        value = self._get(key)
        if not isinstance(value, bool):
            raise self.fail(f"field '{key}' must be true or false, got {value!r}")
        return value

    def choice(self, key: str, enum_cls: type[_E]) -> _E:
        """Read a field holding one of an enum's values."""
        value = self._get(key)
        for member in enum_cls:
            if member.value == value:
                return member
        allowed = ", ".join(str(m.value) for m in enum_cls)
        raise self.fail(f"field '{key}' = {value!r} is not one of: {allowed}")

    def items(self, key: str, *, non_empty: bool = False) -> list[Any]:
        """Read a list field."""
        value = self._get(key)
        if not isinstance(value, list) or (non_empty and not value):
            raise self.fail(f"field '{key}' must be a{' non-empty' if non_empty else ''} list")
        return value

    def child(self, key: str) -> _Entry:
        """Read a nested object, validated with the same context."""
        return _Entry(self.source, f"{self.label}.{key}", self._get(key))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReferenceDataError(str(path), None, "file not found") from None
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(str(path), f"line {exc.lineno} column {exc.colno}", exc.msg) from None
    if not isinstance(data, dict):
        raise ReferenceDataError(str(path), None, "the top level must be an object")
    return data


def _entries(path: Path, data: Mapping[str, Any], key: str) -> Iterator[_Entry]:
    """Yield the objects of the list ``data[key]``, labelled with index and code for error messages."""
    items = data.get(key)
    if not isinstance(items, list) or not items:
        raise ReferenceDataError(str(path), None, f"'{key}' must be a non-empty list")
    for i, item in enumerate(items):
        code = item.get("code") if isinstance(item, dict) else None
        yield _Entry(path.name, f"{key}[{i}]" + (f" (code {code!r})" if code is not None else ""), item)


def _unique(entry: _Entry, seen: set[Any], key: Any, what: str) -> None:
    if key in seen:
        raise entry.fail(f"duplicate {what} {key!r}")
    seen.add(key)


# --------------------------------------------------------------------------------------------------------
# Generic upsert by natural key
# --------------------------------------------------------------------------------------------------------


def _upsert(
    session: Session,
    model: type[Any],
    key_cols: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> dict[tuple[Any, ...], int]:
    """Insert new rows and update changed ones (matched on ``key_cols``); return natural key → id for all.

    One SELECT, at most one bulk INSERT and one bulk UPDATE by primary key: fast on both backends, and an
    unchanged row is not written at all, so re-runs are cheap and ids never change.
    """
    if not rows:
        return {}
    value_cols = [c for c in rows[0] if c not in key_cols]
    cols = [getattr(model, c) for c in (*key_cols, *value_cols)]
    existing: dict[tuple[Any, ...], tuple[int, tuple[Any, ...]]] = {}
    for row in session.execute(select(model.id, *cols)):
        existing[tuple(row[1 : 1 + len(key_cols)])] = (row[0], tuple(row[1 + len(key_cols) :]))
    to_insert: list[dict[str, Any]] = []
    to_update: list[dict[str, Any]] = []
    for data in rows:
        key = tuple(data[c] for c in key_cols)
        found = existing.get(key)
        if found is None:
            to_insert.append(data)
        elif found[1] != tuple(data[c] for c in value_cols):
            to_update.append({"id": found[0], **{c: data[c] for c in value_cols}})
    if to_insert:
        session.execute(insert(model), to_insert)
    if to_update:
        session.execute(update(model), to_update)
    if to_insert or to_update:
        log.debug("%s: %d inserted, %d updated", model.__tablename__, len(to_insert), len(to_update))
    ids = {k: v[0] for k, v in existing.items()}
    if to_insert:
        ids |= _ids_of(session, model, key_cols, [tuple(d[c] for c in key_cols) for d in to_insert])
    return ids


def _ids_of(
    session: Session, model: type[Any], key_cols: Sequence[str], keys: Sequence[tuple[Any, ...]]
) -> dict[tuple[Any, ...], int]:
    """Read back the ids of freshly inserted rows (portable: no RETURNING needed for bulk inserts)."""
    cols = [getattr(model, c) for c in key_cols]
    key_expr = tuple_(*cols) if len(cols) > 1 else cols[0]
    wanted: Sequence[Any] = keys if len(cols) > 1 else [k[0] for k in keys]
    found: dict[tuple[Any, ...], int] = {}
    for chunk in _chunks(wanted, 500):
        for row in session.execute(select(model.id, *cols).where(key_expr.in_(chunk))):
            found[tuple(row[1:])] = row[0]
    return found


def _sync_links(
    session: Session, model: type[Any], cols: tuple[str, str], rows: Iterable[dict[str, Any]],
    *, scope_col: str, scope_ids: Iterable[int],
) -> int:
    """Make a link table hold exactly ``rows`` for the given scope: insert missing, update, delete stale."""
    wanted = {(r[cols[0]], r[cols[1]]): r for r in rows}
    scope = set(scope_ids)
    c0, c1 = getattr(model, cols[0]), getattr(model, cols[1])
    extra = [c for c in model.__table__.columns.keys() if c not in cols]  # noqa: SIM118 - a ColumnCollection
    existing = {
        (r[0], r[1]): tuple(r[2:])
        for r in session.execute(select(c0, c1, *(getattr(model, c) for c in extra)))
        if r[0 if scope_col == cols[0] else 1] in scope
    }
    stale = [k for k in existing if k not in wanted]
    for chunk in _chunks(stale, 500):
        session.execute(delete(model).where(tuple_(c0, c1).in_(chunk)))
    new = [r for k, r in wanted.items() if k not in existing]
    if new:
        session.execute(insert(model), new)
    changed = [r for k, r in wanted.items() if k in existing and existing[k] != tuple(r[c] for c in extra)]
    if changed:
        session.execute(update(model), changed)
    return len(wanted)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------------------------------------
# The loaders, one per kind of reference data
# --------------------------------------------------------------------------------------------------------

UnitIds = dict[tuple[Scheme, str], int]
UnitRef = tuple[Scheme, str]


@dataclass(frozen=True, slots=True)
class ParsedFiles:
    """The JSON files, validated and turned into rows; unit references still as (scheme, code)."""

    agencies: list[dict[str, Any]]
    procedures: list[dict[str, Any]]
    checklists: dict[str, list[dict[str, Any]]]
    post_offices: list[dict[str, Any]]
    areas: dict[str, list[str]]
    rates: list[dict[str, Any]]
    surcharges: list[dict[str, Any]]
    reductions: list[dict[str, Any]]


def _unit_ref(entry: _Entry, known: set[UnitRef], *, scheme: Scheme | None = None) -> UnitRef:
    ref = entry.child("unit")
    ref_scheme = ref.choice("scheme", Scheme)
    if scheme is not None and ref_scheme is not scheme:
        raise ref.fail(f"scheme must be '{scheme.value}'")
    code = ref.text("code")
    if (ref_scheme, code) not in known:
        raise ref.fail(f"no administrative unit {code!r} in scheme '{ref_scheme.value}'")
    return ref_scheme, code


def _parse_agencies(path: Path, known: set[UnitRef]) -> list[dict[str, Any]]:
    data = _read_json(path)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for e in _entries(path, data, "agencies"):
        code = e.text("code", max_len=40)
        _unique(e, seen, code, "agency code")
        rows.append({
            "code": code, "name": e.text("name", max_len=200), "kind": e.choice("kind", AgencyKind),
            "address": e.text("address", max_len=300), "phone": e.opt_text("phone", max_len=20),
            "admin_unit_id": _unit_ref(e, known), "lat": e.number("lat", -90, 90),
            "lon": e.number("lon", -180, 180), "active": e.flag("active"),
        })
    return rows


def _parse_procedures(path: Path) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    data = _read_json(path)
    rows: list[dict[str, Any]] = []
    checklists: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for e in _entries(path, data, "procedures"):
        code = e.text("code", max_len=40)
        _unique(e, seen, code, "procedure code")
        name = e.text("name", max_len=400)
        level = e.choice("level", ProcedureLevel)
        kind = e.choice("agency_kind", AgencyKind)
        if LEVEL_AGENCY_KIND[level] is not kind:
            raise e.fail(f"agency_kind '{kind.value}' does not handle level '{level.value}'")
        by_post = e.flag("by_post")
        reason = e.opt_text("in_person_reason")
        if not by_post and reason is None:
            raise e.fail("a procedure not available by post needs an in_person_reason")
        docs: list[dict[str, Any]] = []
        for i, raw in enumerate(e.items("documents", non_empty=True)):
            d = _Entry(path.name, f"{e.label}.documents[{i}]", raw)
            docs.append({
                "position": i + 1, "name": d.text("name", max_len=400),
                "form": d.choice("form", DocumentForm), "quantity": d.integer("quantity", minimum=1),
                "required": d.flag("required"),
            })
        checklists[code] = docs
        rows.append({
            "code": code, "name": name, "field": e.text("field", max_len=120), "level": level,
            "agency_kind": kind, "by_post": by_post, "in_person_reason": reason,
            "processing_days": e.integer("processing_days"), "gov_fee_vnd": e.integer("gov_fee_vnd"),
            "fee_note": e.opt_text("fee_note"), "search_key": fold(name)[:400],
        })
    return rows, checklists


def _parse_post_offices(
    path: Path, known: set[UnitRef], communes_2025: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Offices and their areas; every 2025 commune must be served by exactly one office (routing needs it)."""
    data = _read_json(path)
    rows: list[dict[str, Any]] = []
    areas: dict[str, list[str]] = {}
    served_by: dict[str, str] = {}
    for e in _entries(path, data, "post_offices"):
        code = e.text("code", max_len=20)
        _unique(e, set(areas), code, "post office code")
        area: list[str] = []
        for commune in e.items("serves"):
            if not isinstance(commune, str) or (Scheme.V2025, commune) not in known:
                raise e.fail(f"'serves' names {commune!r}, which is not a 2025 commune code")
            if commune in served_by:
                raise e.fail(f"commune {commune} is already served by post office {served_by[commune]!r}")
            served_by[commune] = code
            area.append(commune)
        areas[code] = area
        rows.append({
            "code": code, "name": e.text("name", max_len=200), "address": e.text("address", max_len=300),
            "phone": e.opt_text("phone", max_len=20),
            "admin_unit_id": _unit_ref(e, known, scheme=Scheme.V2025),
            "lat": e.number("lat", -90, 90), "lon": e.number("lon", -180, 180),
            "active": e.flag("active") if "active" in e.obj else True,
        })
    unserved = [c for c in communes_2025 if c not in served_by]
    if unserved:
        missing = ", ".join(unserved)
        raise ReferenceDataError(path.name, None, f"2025 communes served by no post office: {missing}")
    return rows, areas


def _parse_tariff(
    path: Path,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    data = _read_json(path)
    rates: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for e in _entries(path, data, "rates"):
        zone, weight = e.choice("zone", Zone), e.integer("max_weight_g", minimum=1)
        _unique(e, seen, (zone.value, weight), "zone and weight tier")
        rates.append({"zone": zone, "max_weight_g": weight, "price_vnd": e.integer("price_vnd")})
    for zone in Zone:
        tiers = sorted((r["max_weight_g"], r["price_vnd"]) for r in rates if r["zone"] is zone)
        if not tiers:
            raise ReferenceDataError(path.name, "rates", f"no rates for zone '{zone.value}'")
        if any(a[1] > b[1] for a, b in itertools.pairwise(tiers)):
            raise ReferenceDataError(path.name, "rates", f"zone '{zone.value}': a heavier tier costs less")
    surcharges: list[dict[str, Any]] = []
    seen = set()
    for e in _entries(path, data, "surcharges"):
        code = e.text("code", max_len=40)
        _unique(e, seen, code, "surcharge code")
        surcharges.append(
            {"code": code, "name": e.text("name", max_len=200), "amount_vnd": e.integer("amount_vnd")}
        )
    reductions: list[dict[str, Any]] = []
    seen = set()
    for e in _entries(path, data, "reductions"):
        code = e.text("code", max_len=40)
        _unique(e, seen, code, "reduction code")
        reductions.append({
            "code": code, "name": e.text("name", max_len=300), "percent": e.integer("percent", maximum=100),
            "legal_basis": e.opt_text("legal_basis", max_len=300),
        })
    return rates, surcharges, reductions


def parse_reference_files(data_dir: Path, package: PackageUnits) -> ParsedFiles:
    """Read and validate the four JSON files against the package's units, writing nothing."""
    known = {(u.scheme, u.code) for u in package.units}
    communes = [u.code for u in package.by_scheme_level(Scheme.V2025, UnitLevel.COMMUNE)]
    agencies = _parse_agencies(data_dir / "agencies.json", known)
    procedures, checklists = _parse_procedures(data_dir / "procedures.json")
    offices, areas = _parse_post_offices(data_dir / "post_offices.json", known, communes)
    rates, surcharges, reductions = _parse_tariff(data_dir / "tariff.json")
    return ParsedFiles(agencies, procedures, checklists, offices, areas, rates, surcharges, reductions)


def _load_units(session: Session, package: PackageUnits) -> tuple[UnitIds, dict[str, int]]:
    """Units level by level (parents first, so children can point at them), then the successor links."""
    ids: UnitIds = {}
    total = 0
    for level in (UnitLevel.PROVINCE, UnitLevel.DISTRICT, UnitLevel.COMMUNE):
        rows = [
            {
                "scheme": u.scheme, "level": u.level, "code": u.code, "name": u.name,
                "short_name": u.short_name, "kind": u.kind, "search_key": fold(u.name)[:120],
                "parent_id": ids[u.scheme, u.parent_code] if u.parent_code else None,
                "lat": u.lat, "lon": u.lon,
            }
            for u in package.units
            if u.level is level
        ]
        level_ids = _upsert(session, AdminUnit, ("scheme", "level", "code"), rows)
        for (scheme, _level, code), unit_id in level_ids.items():
            ids[scheme, code] = unit_id
        total += len(rows)
    links = [
        {"legacy_unit_id": ids[Scheme.LEGACY, s.legacy_code], "unit_id": ids[Scheme.V2025, s.new_code],
         "is_main": s.is_main}
        for s in package.successors
    ]
    n_links = _sync_links(
        session, AdminUnitSuccessor, ("legacy_unit_id", "unit_id"), links,
        scope_col="legacy_unit_id", scope_ids=[link["legacy_unit_id"] for link in links],
    )
    return ids, {"admin_units": total, "admin_unit_successors": n_links}


def _sync_checklists(session: Session, wanted: Mapping[int, list[dict[str, Any]]]) -> int:
    """Replace a procedure's checklist only when it differs, so an unchanged catalogue writes nothing."""
    fields = ("position", "name", "form", "quantity", "required")
    current: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    stmt = select(ProcedureDocument.procedure_id, *(getattr(ProcedureDocument, f) for f in fields)).order_by(
        ProcedureDocument.procedure_id, ProcedureDocument.position
    )
    for row in session.execute(stmt):
        current[row[0]].append(tuple(row[1:]))
    changed = [
        pid
        for pid, docs in wanted.items()
        if current.get(pid, []) != [tuple(d[f] for f in fields) for d in docs]
    ]
    stale = [pid for pid in changed if pid in current]
    for chunk in _chunks(stale, 500):
        session.execute(delete(ProcedureDocument).where(ProcedureDocument.procedure_id.in_(chunk)))
    new = [{"procedure_id": pid, **d} for pid in changed for d in wanted[pid]]
    if new:
        session.execute(insert(ProcedureDocument), new)
    return sum(len(docs) for docs in wanted.values())


def _write(session: Session, package: PackageUnits, parsed: ParsedFiles) -> dict[str, int]:
    unit_ids, counts = _load_units(session, package)
    agencies = [{**r, "admin_unit_id": unit_ids[r["admin_unit_id"]]} for r in parsed.agencies]
    _upsert(session, Agency, ("code",), agencies)
    counts["agencies"] = len(parsed.agencies)

    proc_ids = _upsert(session, Procedure, ("code",), parsed.procedures)
    counts["procedures"] = len(parsed.procedures)
    counts["procedure_documents"] = _sync_checklists(
        session, {proc_ids[(code,)]: docs for code, docs in parsed.checklists.items()}
    )

    office_ids = _upsert(
        session, PostOffice, ("code",),
        [{**r, "admin_unit_id": unit_ids[r["admin_unit_id"]]} for r in parsed.post_offices],
    )
    counts["post_offices"] = len(parsed.post_offices)
    links = [
        {"post_office_id": office_ids[(code,)], "admin_unit_id": unit_ids[Scheme.V2025, commune]}
        for code, area in parsed.areas.items()
        for commune in area
    ]
    # Scoped by commune, so a commune moved to another office leaves its old one.
    counts["post_office_areas"] = _sync_links(
        session, PostOfficeArea, ("post_office_id", "admin_unit_id"), links,
        scope_col="admin_unit_id", scope_ids=[link["admin_unit_id"] for link in links],
    )

    _upsert(session, TariffRate, ("zone", "max_weight_g"), parsed.rates)
    _upsert(session, TariffSurcharge, ("code",), parsed.surcharges)
    _upsert(session, FeeReduction, ("code",), parsed.reductions)
    counts |= {
        "tariff_rates": len(parsed.rates),
        "tariff_surcharges": len(parsed.surcharges),
        "fee_reductions": len(parsed.reductions),
    }
    return counts


def load_reference_data(session: Session, data_dir: Path | None = None) -> dict[str, int]:
    """Upsert all reference data into ``session``'s transaction; return the number of rows per table.

    Idempotent: a second run changes nothing and keeps every id. Flushes, never commits (the caller's unit of
    work does). Every file is validated before anything is written, so ``ReferenceDataError`` (naming the
    file and the entry) leaves the session untouched.
    """
    folder = data_dir or DEFAULT_DATA_DIR
    package = read_package_units()
    parsed = parse_reference_files(folder, package)
    with session.no_autoflush:
        counts = _write(session, package, parsed)
    session.flush()
    # Bulk statements bypass the identity map: expire what the session held so it reloads current rows.
    session.expire_all()
    log.info("reference data loaded: %s", ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


__all__ = [
    "DEFAULT_DATA_DIR",
    "PROVINCE_CODE_2025",
    "PackageUnits",
    "ParsedFiles",
    "ReferenceDataError",
    "SuccessorRecord",
    "UnitRecord",
    "load_reference_data",
    "package_data_dir",
    "parse_reference_files",
    "read_package_units",
]
