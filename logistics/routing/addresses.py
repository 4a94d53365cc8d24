"""Vietnamese addresses: parse free text, match it against the gazetteer in both structures, never guess.

"Số 3 Lưu Tấn Tài, Phường 5, TP Cà Mau", "so 3 luu tan tai p5 tp ca mau" and "Số 3 Lưu Tấn Tài, phường Tân
Thành" all name the same place: the legacy Phường 5 of Thành phố Cà Mau, since 1 July 2025 part of Phường Tân
Thành. The matcher works on words folded without diacritics (people often type without them), expands the
usual abbreviations (P./Q./TP./TX./TT./H./X., P5, P.5, F5), finds every mention of a unit of either structure,
and scores each reading: a kind word ("phường", "xã") before the name, diacritics that agree, a district that
contains the commune, a name away from the street part. A reading wins only when it is clearly ahead; otherwise
the address is *ambiguous* and the candidates go to a dispatcher, and with no reading at all it is *unknown*.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from logistics.agencies.models import Scheme, UnitLevel
from logistics.routing.gazetteer import Gazetteer, UnitRef
from logistics.text import fold, strip_diacritics

RESOLVED = "resolved"
AMBIGUOUS = "ambiguous"
UNKNOWN = "unknown"

# A reading must score at least this, and be this far ahead of the next different 2025 commune, to be taken.
MIN_SCORE = 8
MIN_MARGIN = 3
MAX_CANDIDATES = 8

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SEGMENT = re.compile(r"[,;\n|]+|\s+-\s+")
_NUMBERED = re.compile(r"^(?:p|f|ph|phuong)0*(\d{1,2})$")
_DISTRICT_NUMBER = re.compile(r"^q0*(\d{1,2})$")

# Folded abbreviation -> (folded words, accented words).
_ABBREVIATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tp": (("thanh", "pho"), ("thành", "phố")),
    "tx": (("thi", "xa"), ("thị", "xã")),
    "tt": (("thi", "tran"), ("thị", "trấn")),
    "p": (("phuong",), ("phường",)),
    "ph": (("phuong",), ("phường",)),
    "q": (("quan",), ("quận",)),
    "h": (("huyen",), ("huyện",)),
    "x": (("xa",), ("xã",)),
}
KIND_WORDS = {("phuong",), ("xa",), ("thi", "tran"), ("thanh", "pho"), ("thi", "xa"), ("huyen",), ("tinh",),
              ("quan",)}
# A bare name right after one of these is a street, hamlet or landmark named after the unit, not the unit.
_STREETISH = {"duong", "d", "pho", "hem", "ngo", "so", "ap", "khom", "khu", "kp", "to", "cau", "cho", "kenh",
              "song", "rach", "vam", "lo", "nha", "bv", "truong"}


@dataclass(frozen=True, slots=True)
class Token:
    """One word of the address: folded for matching, accented for tie-breaks, where it came from."""

    folded: str
    accented: str
    segment: int
    start: int  # character offsets in the original text
    end: int
    expanded: bool  # produced by expanding an abbreviation


def tokenize(text: str) -> list[Token]:
    """Words of ``text`` with the abbreviations expanded and numbers normalised ("P.05" -> phường 5)."""
    text = unicodedata.normalize("NFC", text)
    seg_starts = [0] + [m.end() for m in _SEGMENT.finditer(text)]
    raw = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]
    out: list[Token] = []
    seg = 0
    for i, (word, start, end) in enumerate(raw):
        while seg + 1 < len(seg_starts) and start >= seg_starts[seg + 1]:
            seg += 1
        low = word.lower()
        f = strip_diacritics(low)
        nxt = strip_diacritics(raw[i + 1][0].lower()) if i + 1 < len(raw) else ""
        if (m := _NUMBERED.match(f)) and f not in {"p", "ph", "phuong"}:
            out.append(Token("phuong", "phường", seg, start, end, expanded=True))
            out.append(Token(str(int(m.group(1))), str(int(m.group(1))), seg, start, end, expanded=True))
        elif m := _DISTRICT_NUMBER.match(f):
            out.append(Token("quan", "quận", seg, start, end, expanded=True))
            out.append(Token(str(int(m.group(1))), str(int(m.group(1))), seg, start, end, expanded=True))
        elif f in _ABBREVIATIONS and (f not in {"p", "q", "h", "x"} or nxt):
            words, accented = _ABBREVIATIONS[f]
            out.extend(Token(w, a, seg, start, end, expanded=True) for w, a in zip(words, accented, strict=True))
        elif f.isascii() and f.isdigit():  # not "¹" or "²": str.isdigit accepts them, int() does not
            out.append(Token(str(int(f)), str(int(f)), seg, start, end, expanded=False))
        else:
            out.append(Token(f, low, seg, start, end, expanded=False))
    return out


@dataclass(frozen=True, slots=True)
class Mention:
    """A place in the text that names a unit."""

    unit_id: int
    start: int  # token index, inclusive
    end: int  # token index, exclusive
    prefixed: bool  # the unit's kind word precedes the name
    accent: int  # +1 diacritics agree, -1 they disagree, 0 none typed
    also_province: bool  # a bare name shared with a province ("Cà Mau"): may mean the province

    def overlaps(self, other: Mention) -> bool:
        """Whether the two mentions share a word."""
        return self.start < other.end and other.start < self.end


@dataclass
class _Variant:
    words: tuple[str, ...]
    accented: tuple[str, ...]  # the name part only
    name_offset: int  # where the name starts within ``words``
    unit_id: int
    prefixed: bool


def _accent_words(text: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _WORD.findall(unicodedata.normalize("NFC", text)))


def unit_bare_name(unit: UnitRef) -> str:
    """The unit's name without its kind: "Phường 5" -> "5", "Xã Tân Thành" -> "Tân Thành"."""
    if unit.kind and unit.name.startswith(unit.kind + " "):
        return unit.name[len(unit.kind) + 1:].strip()
    return re.sub(r"\s*\(.*?\)\s*", " ", unit.short_name).strip()


def _variants(gaz: Gazetteer) -> dict[str, list[_Variant]]:
    cached = gaz.memo.get("variants")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    index: dict[str, list[_Variant]] = defaultdict(list)
    for unit in gaz.units.values():
        bare = unit_bare_name(unit)
        name = tuple(fold(w) if not w.isdigit() else str(int(w)) for w in _accent_words(bare))
        accented = _accent_words(bare)
        kind = tuple(strip_diacritics(w) for w in _accent_words(unit.kind))
        if not name:
            continue
        full = (*kind, *name)
        index[full[0]].append(_Variant(full, accented, len(kind), unit.id, prefixed=True))
        if unit.level == UnitLevel.COMMUNE and kind == ("phuong",) and name[0].isdigit():
            continue  # "5" alone is no ward
        index[name[0]].append(_Variant(name, accented, 0, unit.id, prefixed=False))
    gaz.memo["variants"] = index
    gaz.memo["province_names"] = {fold(u.short_name) for u in gaz.units.values() if u.level == UnitLevel.PROVINCE}
    return index


def find_mentions(gaz: Gazetteer, tokens: list[Token]) -> list[Mention]:
    """Every unit named in the tokens (several readings of the same words are all kept)."""
    index = _variants(gaz)
    province_names: set[str] = gaz.memo["province_names"]
    words = [t.folded for t in tokens]
    found: list[Mention] = []
    streets: list[tuple[int, int]] = []
    for i, word in enumerate(words):
        for var in index.get(word, ()):
            n = len(var.words)
            if tuple(words[i:i + n]) != var.words:
                continue
            if not var.prefixed and _after_street_word(tokens, i):
                streets.append((i, i + n))
                continue
            typed = tokens[i + var.name_offset:i + n]
            accent = 0
            if any(not t.expanded and t.accented != t.folded for t in typed):
                accent = 1 if tuple(t.accented for t in typed) == var.accented else -1
            also_province = not var.prefixed and "".join(var.words) in province_names
            found.append(Mention(var.unit_id, i, i + n, var.prefixed, accent, also_province))
    # A bare name inside a street name ("Phan Ngọc Hiển") or inside a longer prefixed mention ("Huyện U Minh"
    # holds "U Minh") is not a mention of its own.
    # Likewise "Xã Khánh Bình" inside "Xã Khánh Bình Tây": the longest reading of the same words wins.
    def covered(m: Mention) -> bool:
        return any(p.start <= m.start and m.end <= p.end and p.end - p.start > m.end - m.start
                   and (p.prefixed or not m.prefixed) for p in found)

    return [
        m for m in found
        if not covered(m) and (m.prefixed or not any(a < m.end and m.start < b for a, b in streets))
    ]


def _after_street_word(tokens: list[Token], i: int) -> bool:
    """Whether the word at ``i`` follows a street/hamlet word or a house number in the same segment."""
    if i == 0 or tokens[i - 1].segment != tokens[i].segment:
        return False
    prev = tokens[i - 1]
    if prev.folded in _STREETISH and not prev.expanded:
        return True
    if prev.folded.isdigit() and not prev.expanded:
        before = tokens[i - 2].folded if i >= 2 and tokens[i - 2].segment == prev.segment else ""  # noqa: PLR2004
        return before not in {"phuong", "quan"}
    return False


@dataclass(frozen=True, slots=True)
class Candidate:
    """A 2025 commune the address may mean, with the reading that led there."""

    unit: UnitRef
    score: int
    via: UnitRef | None  # the legacy commune named, when the address used the old structure
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON for the dossier's routing record and the API."""
        return {
            "code": self.unit.code, "name": self.unit.name, "score": self.score,
            "via": {"code": self.via.code, "name": self.via.name} if self.via else None,
            "reasons": list(self.reasons),
        }


@dataclass
class ParsedAddress:
    """The parts of a free-text address."""

    street: str  # house number, street, hamlet: everything before the first administrative unit
    commune: str | None = None
    district: str | None = None
    province: str | None = None


@dataclass
class AddressMatch:
    """What an address resolves to: one 2025 commune, several candidates, or nothing."""

    text: str
    status: str
    parsed: ParsedAddress
    unit: UnitRef | None = None  # the 2025 commune (resolved only)
    legacy: UnitRef | None = None  # the legacy commune named, if the address used the old structure
    candidates: list[Candidate] = field(default_factory=list)
    explanation: str = ""
    split: list[str] = field(default_factory=list)  # other 2025 communes that took part of the legacy one

    @property
    def resolved(self) -> bool:
        """Whether one commune was found with confidence."""
        return self.status == RESOLVED

    def to_json(self) -> dict[str, Any]:
        """JSON kept in ``Dossier.routing['address']``."""
        return {
            "text": self.text,
            "status": self.status,
            "parsed": {"street": self.parsed.street, "commune": self.parsed.commune,
                       "district": self.parsed.district, "province": self.parsed.province},
            "unit": {"code": self.unit.code, "name": self.unit.name} if self.unit else None,
            "legacy": {"code": self.legacy.code, "name": self.legacy.name} if self.legacy else None,
            "candidates": [c.to_json() for c in self.candidates],
            "split": self.split,
            "explanation": self.explanation,
        }


Reading = tuple[int, Mention, list[str]]


def _commune_scores(  # noqa: C901, PLR0912, PLR0915 - one scoring table, read top to bottom
    gaz: Gazetteer, mentions: list[Mention], tokens: list[Token],
) -> dict[int, list[Reading]]:
    """Score each commune mention; returns 2025 unit id -> [(score, mention, reasons)]."""
    segments = len({t.segment for t in tokens})
    districts = [m for m in mentions if gaz.units[m.unit_id].level == UnitLevel.DISTRICT]
    provinces = [m for m in mentions if gaz.units[m.unit_id].level == UnitLevel.PROVINCE]
    by_new: dict[int, list[tuple[int, Mention, list[str]]]] = defaultdict(list)
    for m in mentions:
        unit = gaz.units[m.unit_id]
        if unit.level != UnitLevel.COMMUNE:
            continue
        reasons: list[str] = []
        score = 10 if m.prefixed else 4
        reasons.append("có chữ chỉ loại đơn vị" if m.prefixed else "chỉ có tên")
        if m.accent > 0:
            score += 2
            reasons.append("dấu khớp")
        elif m.accent < 0:
            score -= 3
            reasons.append("dấu không khớp")
        if not m.prefixed and segments > 1 and tokens[m.start].segment == 0:
            score -= 3
            reasons.append("nằm ở phần số nhà/đường")
        if unit.scheme == Scheme.LEGACY:
            others = [d for d in districts if not d.overlaps(m)]
            if any(d.prefixed for d in others):  # "TX Giá Rai, Bạc Liêu": the bare name is the province then
                others = [d for d in others if d.prefixed or not d.also_province]
            own = [d for d in others if d.unit_id == unit.parent_id]
            if own:
                score += 6 if any(d.prefixed for d in own) else 4
                reasons.append(f"thuộc {gaz.units[unit.parent_id].name}" if unit.parent_id else "đúng huyện")
            elif any(d.prefixed or not d.also_province for d in others):
                score -= 4
                reasons.append("không thuộc huyện được ghi")
            parent = gaz.units[unit.parent_id] if unit.parent_id else None
            if parent is not None and any(p.unit_id == parent.parent_id and not p.overlaps(m) for p in provinces):
                score += 1
            new = gaz.main_successor(unit.id)
            if new is None:
                continue
        else:
            new = unit
            former = gaz.former_districts(unit.id)
            strong = [d for d in districts if not d.overlaps(m) and (d.prefixed or not d.also_province)]
            if strong and not any(d.unit_id in former for d in strong):
                score -= 2
                reasons.append("không thuộc huyện cũ được ghi")
            elif any(d.unit_id in former and not d.overlaps(m) for d in districts):
                score += 2
                reasons.append("khớp huyện cũ được ghi")
            elif not strong:
                # Written in the new structure (no former district): the 2025 commune of that name, not a
                # legacy namesake that went elsewhere ("xã Nguyễn Việt Khái").
                score += MIN_MARGIN
                reasons.append("tên theo cấu trúc mới")
        by_new[new.id].append((score, m, reasons))
    return by_new


def _span(text: str, tokens: list[Token], m: Mention | None) -> str | None:
    if m is None:
        return None
    return text[tokens[m.start].start:tokens[m.end - 1].end]


def resolve_address(gaz: Gazetteer, text: str) -> AddressMatch:  # noqa: C901 - parse, rank, decide
    """Resolve a free-text address to a 2025 commune, or say why it cannot be done without a person."""
    tokens = tokenize(text)
    mentions = find_mentions(gaz, tokens)
    by_new = _commune_scores(gaz, mentions, tokens)
    ranked: list[tuple[int, int, Mention, list[str]]] = []
    for new_id, readings in by_new.items():
        readings.sort(key=lambda r: (-r[0], -r[1].prefixed))
        best_score, best_m, best_reasons = readings[0]
        distinct = [r for r in readings[1:] if not r[1].overlaps(best_m) and r[0] >= MIN_SCORE]
        if distinct:  # old and new names both written ("Phường Tân Thành (Phường 5 cũ)")
            best_score += 2
            best_reasons = [*best_reasons, "tên cũ và mới cùng chỉ một nơi"]
        ranked.append((best_score, new_id, best_m, best_reasons))
    ranked.sort(key=lambda r: (-r[0], gaz.units[r[1]].code))

    districts = [m for m in mentions if gaz.units[m.unit_id].level == UnitLevel.DISTRICT]
    provinces = [m for m in mentions if gaz.units[m.unit_id].level == UnitLevel.PROVINCE]
    first_admin = min((m.start for m in mentions if m.prefixed or gaz.units[m.unit_id].level != UnitLevel.COMMUNE
                       or by_new), default=len(tokens))
    chosen_m = ranked[0][2] if ranked else None
    if chosen_m is not None:
        first_admin = min(first_admin, chosen_m.start)
    street = text[:tokens[first_admin].start] if first_admin < len(tokens) else text
    district_m = min((d for d in districts if chosen_m is None or not d.overlaps(chosen_m)),
                     key=lambda d: (not d.prefixed, d.also_province, d.start), default=None)
    province_m = next((p for p in provinces if (chosen_m is None or not p.overlaps(chosen_m))
                       and (district_m is None or not p.overlaps(district_m))), None)
    parsed = ParsedAddress(street.strip(" ,;-"), _span(text, tokens, chosen_m), _span(text, tokens, district_m),
                           _span(text, tokens, province_m))

    candidates = [
        Candidate(gaz.units[new_id], score,
                  gaz.units[m.unit_id] if gaz.units[m.unit_id].scheme == Scheme.LEGACY else None, tuple(reasons))
        for score, new_id, m, reasons in ranked
    ]
    if not candidates and district_m is not None:
        # Only a former district: offer the communes that replaced it.
        seen: set[int] = set()
        for lid in sorted(gaz.children.get(district_m.unit_id, []), key=lambda i: gaz.units[i].code):
            new = gaz.main_successor(lid)
            if new is not None and new.id not in seen:
                seen.add(new.id)
                candidates.append(Candidate(new, 1, gaz.units[lid], ("thuộc huyện cũ được ghi",)))
    if not candidates:
        return AddressMatch(text, UNKNOWN, parsed, explanation=(
            "Không nhận ra xã/phường nào trong địa chỉ; cần điều phối viên xác định."))
    top = candidates[0]
    runner_up = candidates[1].score if len(candidates) > 1 else None
    if top.score >= MIN_SCORE and (runner_up is None or top.score - runner_up >= MIN_MARGIN):
        split = [u.name for u in gaz.all_successors(top.via.id)[1:]] if top.via else []
        why = f"Địa chỉ thuộc {top.unit.name}"
        if top.via is not None:
            parent = gaz.units[top.via.parent_id].name if top.via.parent_id else ""
            why += f" (trước 1/7/2025: {top.via.name}, {parent})"
            if split:
                why += f"; đơn vị cũ đã chia, phần chính nay là {top.unit.name} (phần khác: {', '.join(split)})"
        return AddressMatch(text, RESOLVED, parsed, unit=top.unit, legacy=top.via,
                            candidates=candidates[:MAX_CANDIDATES], explanation=why + ".", split=split)
    names = ", ".join(c.unit.name for c in candidates[:MAX_CANDIDATES])
    return AddressMatch(text, AMBIGUOUS, parsed, candidates=candidates[:MAX_CANDIDATES], explanation=(
        f"Địa chỉ có thể thuộc nhiều xã/phường ({names}); cần điều phối viên chọn."))
