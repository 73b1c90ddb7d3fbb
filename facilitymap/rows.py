"""Row checks shared by all readers, and the step that turns a parsed table into records.

Rules (each rejected row gets its row number and a reason; repairs get a note; nothing is dropped silently):

- no record id (unless ``row_ids`` makes the row number the id), or an id already kept earlier in the file →
  rejected (the first kept row keeps the id);
- latitude or longitude not a number → rejected;
- outside ±90 / ±180 → rejected; if swapping the two gives a valid point (inside the source's ``extent`` when
  one is declared) the reason says "latitude and longitude swapped";
- inside ±90 / ±180 but outside the declared ``extent``: when the swapped point is inside it, rejected as swapped
  (e.g. lat 80.2, lon 41.1 for a source whose extent is lon 73-97, lat 34-50); otherwise kept, with a note;
- empty name → rejected when ``name`` is in the descriptor's ``required`` list;
- a polygon with more vertices than the ``polygon_vertices`` limit (``limits.py``) → rejected;
- a polygon that is not valid (e.g. self-intersecting) → repaired with shapely ``make_valid``, with a note;
  a polygon with nothing left → rejected;
- a value that does not fit its field's type (e.g. "?" as a tier) → left out of ``attrs`` with a note; the
  original row keeps it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from . import dates
from . import limits
from .errors import SourceError
from .fields import MISSING_VALUES, NAME_FIELDS, Field, FieldValueError, _to_float, canonical, convert, is_missing
from .fields import lookup as field_for

# Bidi control characters (embeddings and overrides, isolates, marks, the Arabic letter mark): a value holding one
# can reorder the text shown around it. The page isolates every value (<bdi>); the report names each one found.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def bidi_note(field_name: str, value) -> str | None:
    """A note naming the bidi control characters in a value (a string or a list of strings), or None."""
    found = sorted({c for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)
                    for c in BIDI_CONTROLS.findall(v)})
    if not found:
        return None
    return (f"{field_name}: contains bidi control character(s) {', '.join(f'U+{ord(c):04X}' for c in found)}; "
            "the page shows the value isolated, the exports keep it as it is")


RECORD_COLUMNS = ["source", "record_id", "row", "kind", "name", "name_en", "name_zh", "name_ug", "county",
                  "prefecture", "attrs", "original", "geometry"]


@dataclass
class RawRow:
    """One data row as a format reader found it: where it is, what it says, its geometry if the format has one."""

    row: int
    original: dict
    geometry: BaseGeometry | None = None
    record_id: str | None = None  # set by readers whose ids are not a column (OSM)
    problem: str | None = None  # a reason to reject found while parsing (e.g. an open way)


@dataclass
class Table:
    """A parsed file: its rows, and how to look a column (or dotted property path) up in a row."""

    path: Path
    rows: list[RawRow]
    lookup: Callable[[dict, str], Any]  # raises KeyError when the row lacks the column
    has_column: Callable[[str], bool]
    notes: list[dict] = field(default_factory=list)


@dataclass
class ReadResult:
    records: gpd.GeoDataFrame
    rejected: list[dict]
    notes: list[dict]
    rows: int


def spec_column(spec) -> tuple[str, str | None, str | None]:
    """A ``fields`` entry is a column name or {"from": column, "format"?: strptime format, "item"?: key}."""
    if isinstance(spec, str):
        return spec, None, None
    if dates.series_columns(spec):
        return None, spec.get("format"), spec.get("item")
    return spec["from"], spec.get("format"), spec.get("item")


def mapped_columns(fm: dict) -> list[tuple[str, str]]:
    """(where in the descriptor, source column) for every column the descriptor names."""
    out = []
    for ours, spec in (fm.get("fields") or {}).items():
        series = dates.series_columns(spec)  # one field from several columns: {"series": {"2017": col, ...}}
        out += ([(f"fields.{ours}.series.{y}", c) for y, c in series.items()] if series
                else [(f"fields.{ours}", spec_column(spec)[0])])
    if isinstance(fm.get("kind"), dict):
        out.append(("kind.field", fm["kind"]["field"]))
    if fm.get("filter"):
        out.append(("filter.field", fm["filter"]["field"]))
    if fm.get("position_check"):
        out += [("position_check.lat", fm["position_check"]["lat"]),
                ("position_check.lon", fm["position_check"]["lon"])]
    return out


def check_columns(table: Table, fm: dict, descriptor_path: Path) -> None:
    """Stop when the descriptor names a column the file does not have."""
    for where, col in mapped_columns(fm):
        if not table.has_column(col):
            raise SourceError(table.path, 1 if table.rows else None,
                              f"column {col!r} named in {descriptor_path.parent.name}/datapackage.json "
                              f"facilitymap.{where} is not in the file")


def build_records(slug: str, fm: dict, table: Table, vocabulary: dict[str, Field] | None = None) -> ReadResult:
    """Apply the descriptor (filter, kind, field mapping) and the row checks to a parsed table.

    `vocabulary`: the fields of the map being built (``fields.vocabulary(spec)``), which give each mapped field its
    type; without one, fields that are not roles are read as strings. An alias (``region``) is stored as its role.
    """
    fields_spec = {canonical(k): v for k, v in (fm.get("fields") or {}).items()}
    types = {}
    for ours in fields_spec:
        f = field_for(vocabulary, ours)
        if f is None:
            raise SourceError(table.path, None, f"{slug}/datapackage.json facilitymap.fields.{ours}: not a field of "
                                                "this map (declare it under `fields:` in the map spec)")
        types[ours] = f
    required = set(fm.get("required") or ["record_id"])
    missing = tuple(fm.get("missing_values") or MISSING_VALUES)
    extent = fm.get("extent")
    flt = fm.get("filter")
    lookup = table.lookup

    def get(orig, col):
        try:
            return lookup(orig, col)
        except KeyError:
            return None

    kept, rejected, notes = [], [], list(table.notes)
    seen: dict[str, int] = {}
    seen_keys: dict[str, tuple[str, int]] = {}  # site_key(id) -> (id, row): ids that would collide as site ids
    filtered: list[str] = []
    n_rows = 0
    for raw in table.rows:
        if flt and not _passes(get(raw.original, flt["field"]), flt):
            filtered.append(raw.record_id or f"row {raw.row}")
            continue
        n_rows += 1
        rid = raw.record_id
        if rid is None and "record_id" in fields_spec:
            v = get(raw.original, spec_column(fields_spec["record_id"])[0])
            rid = None if is_missing(v, missing) else _id_str(v)
        if rid is None and fm.get("row_ids") and "record_id" not in fields_spec:
            rid = str(raw.row)  # the file has no id column: the row number is the id (it moves if rows do)

        def reject(reason):
            rejected.append({"row": raw.row, "record_id": rid, "reason": reason})

        if raw.problem:
            reject(raw.problem)
            continue
        if rid is None:
            reject("empty record id")
            continue
        # kind
        kind_spec = fm.get("kind")
        if isinstance(kind_spec, dict):
            kv = get(raw.original, kind_spec["field"])
            kind = kind_spec["values"].get(str(kv)) if kv is not None else None
            if kind is None:
                reject(f"kind: {kind_spec['field']} = {kv!r} is not one of {sorted(kind_spec['values'])}")
                continue
        else:
            kind = kind_spec
        # attributes
        attrs, row_notes = {}, [n for n in [bidi_note("record_id", rid)] if n]
        for ours, spec in fields_spec.items():
            if ours == "record_id":
                continue
            col, fmt, item = spec_column(spec)
            series = dates.series_columns(spec)
            v = (dates.series_values(series, lambda c: get(raw.original, c), lambda x: is_missing(x, missing))
                 if series else get(raw.original, col))
            if is_missing(v, missing):
                continue
            if ours in ("lat", "lon") and isinstance(v, str) and not v.isascii():
                attrs[ours] = v  # float() reads Arabic-Indic or full-width digits; _num refuses them below
                continue
            try:
                cv = convert(types[ours], v, fmt, item)
            except FieldValueError as e:
                if ours in ("lat", "lon"):
                    attrs[ours] = v  # judged below, with the geometry
                else:
                    row_notes.append(f"{ours}: {e}; left out (the original row keeps it)")
                continue
            if cv is not None and cv != []:
                attrs[ours] = cv
                note = bidi_note(ours, cv)
                if note:
                    row_notes.append(note)
        # geometry
        try:
            geom, geom_notes = _geometry(raw, attrs, fields_spec, extent)
        except _Reject as r:
            reject(str(r))
            continue
        row_notes += geom_notes
        pc = fm.get("position_check")
        if pc:
            try:
                row_notes += _position_check(raw.original, get, pc, geom)
            except _Reject as r:
                reject(str(r))
                continue
        if "name" in required and not attrs.get("name"):
            reject("empty name")
            continue
        for req in sorted(required - {"record_id", "name"}):
            if attrs.get(req) in (None, ""):
                reject(f"empty {req}")
                break
        else:
            if rid in seen:
                reject(f"duplicate record id {rid!r} (first kept at row {seen[rid]})")
                continue
            key = site_key(rid)
            if key in seen_keys:
                first_id, first_row = seen_keys[key]
                reject(f"record id {rid!r} gives the same site id as {first_id!r} (row {first_row}) once characters "
                       "other than letters, digits, '.', '_' and '-' are replaced")
                continue
            seen[rid] = raw.row
            seen_keys[key] = (rid, raw.row)
            for n in row_notes:
                notes.append({"row": raw.row, "record_id": rid, "note": n})
            rec = {"source": slug, "record_id": rid, "row": raw.row, "kind": kind}
            for nf in NAME_FIELDS:
                rec[nf] = attrs.get(nf)
            rec["attrs"] = attrs
            rec["original"] = raw.original
            rec["geometry"] = geom
            kept.append(rec)
    if filtered:
        shown = ", ".join(filtered[:5]) + (", ..." if len(filtered) > 5 else "")
        notes.append({"row": None, "record_id": None,
                      "note": f"filter {flt['field']} = {_filter_text(flt)}: {len(filtered)} element(s) of the "
                              f"file are not data rows of this source ({shown})"})
    records = records_frame(kept)
    rejected.sort(key=lambda r: r["row"])
    notes.sort(key=lambda n: (n["row"] is not None, n["row"] or 0))
    return ReadResult(records, rejected, notes, n_rows)


def records_frame(kept: list[dict]) -> gpd.GeoDataFrame:
    """Records as a GeoDataFrame (EPSG:4326); text columns stay ``object`` so a missing value is None, not NaN."""
    data = {}
    for col in RECORD_COLUMNS[:-1]:
        values = [r[col] for r in kept]
        data[col] = pd.Series(values, dtype="int64" if col == "row" else object)
    geoms = gpd.GeoSeries([r["geometry"] for r in kept], crs="EPSG:4326")
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")


class _Reject(Exception):
    pass


def _passes(value, flt) -> bool:
    if "equals" in flt:
        return value is not None and str(value) == str(flt["equals"])
    if "in" in flt:
        return value is not None and str(value) in [str(x) for x in flt["in"]]
    return value is not None


def _filter_text(flt) -> str:
    if "equals" in flt:
        return repr(flt["equals"])
    if "in" in flt:
        return f"one of {flt['in']}"
    return "present"


def site_key(record_id: str) -> str:
    """A record id as it appears in a site id (reconcile replaces other characters by '-'): two ids of one source
    with the same key would give one site id to two places, so the second is rejected."""
    return re.sub(r"[^0-9A-Za-z._-]+", "-", record_id)


def _id_str(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _num(v, what):
    """A finite number, or the row is rejected naming the coordinate (fields._to_float does the parsing)."""
    if isinstance(v, str) and not v.isascii():
        raise _Reject(f"{what} {v!r} is not a number written with the digits 0-9")
    try:
        return _to_float(v)
    except FieldValueError as e:
        raise _Reject(f"{what} {e}") from None


def _geometry(raw: RawRow, attrs: dict, fields_spec: dict, extent) -> tuple[BaseGeometry, list[str]]:
    if "lat" in fields_spec and "lon" in fields_spec:
        if "lat" not in attrs:
            raise _Reject("latitude is empty")
        if "lon" not in attrs:
            raise _Reject("longitude is empty")
        lat, lon = _num(attrs["lat"], "latitude"), _num(attrs["lon"], "longitude")
        attrs["lat"], attrs["lon"] = lat, lon
        return check_point(lon, lat, extent)
    geom = raw.geometry
    if geom is None or geom.is_empty:
        raise _Reject("no geometry")
    if isinstance(geom, Point):
        if geom.has_z:
            geom = Point(geom.x, geom.y)
        return check_point(geom.x, geom.y, extent)
    if isinstance(geom, (Polygon, MultiPolygon)):
        return check_polygon(geom, extent)
    raise _Reject(f"geometry type {geom.geom_type} is not a Point, Polygon or MultiPolygon")


def _in_range(lon, lat) -> bool:
    return -90 <= lat <= 90 and -180 <= lon <= 180


def _in_extent(lon, lat, extent) -> bool:
    return extent is None or (extent[0] <= lon <= extent[2] and extent[1] <= lat <= extent[3])


def check_point(lon: float, lat: float, extent=None) -> tuple[Point, list[str]]:
    """A valid point, or _Reject with the reason (out of range, or latitude and longitude swapped)."""
    for v, what in ((lat, "latitude"), (lon, "longitude")):
        if not math.isfinite(v):
            raise _Reject(f"{what} {v!r} is not a finite number")
    swapped_ok = _in_range(lat, lon) and _in_extent(lat, lon, extent)
    if not _in_range(lon, lat):
        if swapped_ok:
            raise _Reject(f"latitude and longitude swapped: latitude {lat} is outside ±90, the point fits "
                          f"with the two exchanged")
        raise _Reject(f"coordinates outside ±90/±180 (latitude {lat}, longitude {lon})")
    notes = []
    if not _in_extent(lon, lat, extent):
        if swapped_ok:
            raise _Reject(f"latitude and longitude swapped: ({lat}, {lon}) is outside the source's extent "
                          f"{extent}, and inside it with the two exchanged")
        notes.append(f"point (latitude {lat}, longitude {lon}) is outside the source's extent {extent}")
    return Point(lon, lat), notes


def check_polygon(geom, extent=None) -> tuple[BaseGeometry, list[str]]:
    """A valid (Multi)Polygon, repaired with make_valid when needed (with a note), or _Reject.

    A polygon with more vertices than the ``polygon_vertices`` limit is rejected before any check: repairing a
    self-intersecting one of 200,000 vertices exhausts memory."""
    n = int(shapely.get_num_coordinates(geom))
    too_many = limits.exceeded("polygon_vertices", n)
    if too_many:
        raise _Reject(f"polygon has too many vertices: {too_many}")
    minx, miny, maxx, maxy = geom.bounds
    if not (_in_range(minx, miny) and _in_range(maxx, maxy)):
        raise _Reject(f"polygon coordinates outside ±90/±180 (bounds {minx}, {miny}, {maxx}, {maxy})")
    notes = []
    if extent is not None and not (maxx >= extent[0] and minx <= extent[2] and maxy >= extent[1]
                                   and miny <= extent[3]):
        if _in_extent(miny, minx, extent) and _in_extent(maxy, maxx, extent):
            raise _Reject(f"latitude and longitude swapped: the polygon is outside the source's extent {extent} "
                          f"and inside it with the two exchanged")
        notes.append(f"polygon is outside the source's extent {extent}")
    if not geom.is_valid:
        why = shapely.is_valid_reason(geom)
        fixed = shapely.make_valid(geom)
        polys = _polygonal(fixed)
        if polys is None:
            raise _Reject(f"polygon is not valid ({why}) and nothing is left after repair")
        notes.append(f"polygon was not valid ({why}); repaired with make_valid")
        geom = polys
    return geom, notes


def _polygonal(geom):
    if isinstance(geom, (Polygon, MultiPolygon)):
        return None if geom.is_empty else geom
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, (Polygon, MultiPolygon)) and not g.is_empty]
    if not parts:
        return None
    out = shapely.union_all(parts)
    return out if isinstance(out, (Polygon, MultiPolygon)) else None


def _haversine_m(lon1, lat1, lon2, lat2) -> float:
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def _position_check(original, get, pc, geom) -> list[str]:
    """A second position in the row (e.g. a ``pos: [lat, lon]`` property) must agree with the geometry."""
    lat, lon = get(original, pc["lat"]), get(original, pc["lon"])
    if lat is None or lon is None:
        return [f"no {pc['lat']}/{pc['lon']} to check the geometry against"]
    lat, lon = _num(lat, pc["lat"]), _num(lon, pc["lon"])
    p = geom.representative_point() if not isinstance(geom, Point) else geom
    tol = float(pc.get("tolerance_m", 1.0))
    d = _haversine_m(lon, lat, p.x, p.y)
    if d <= tol:
        return []
    if _haversine_m(lat, lon, p.x, p.y) <= tol:
        raise _Reject(f"{pc['lat']}/{pc['lon']} has latitude and longitude swapped against the geometry")
    raise _Reject(f"{pc['lat']}/{pc['lon']} ({lat}, {lon}) and the geometry ({p.y}, {p.x}) disagree by {d:.0f} m")
