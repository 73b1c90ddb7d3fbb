"""Our field vocabulary: the names a descriptor's ``fields`` maps onto, with a label and a type each.

A type says how a source value becomes ours (``convert``). Values that do not fit are not guessed at: the
caller leaves them out of ``attrs`` (the original row keeps them) and writes a note.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from . import dates

# Values that mean "not given" in the shipped sources (a descriptor may replace this list: "missing_values").
MISSING_VALUES = ("", "N/A", "#N/A", "n/a", "NA")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str  # str | text | int | float | bool | month | list
    min: float | None = None
    max: float | None = None


def _f(name, label, type="str", min=None, max=None):
    return Field(name, label, type, min, max)


FIELDS: dict[str, Field] = {f.name: f for f in [
    # identity, names and place
    _f("record_id", "Record id in the source"),
    _f("name", "Name"),
    _f("name_en", "Name (English)"),
    _f("name_zh", "Name (Chinese, simplified)"),
    _f("name_zh_hant", "Name (Chinese, traditional)"),
    _f("name_ug", "Name (Uyghur)"),
    _f("alt_name", "Other name"),
    _f("lat", "Latitude", "float", -90, 90),
    _f("lon", "Longitude", "float", -180, 180),
    _f("kind", "Kind of site"),
    _f("county", "County"),
    _f("prefecture", "Prefecture"),
    # assessment
    _f("tier", "ASPI tier (1 lowest security, 4 prison)", "int", 1, 4),
    _f("status", "Status (BuzzFeed corroboration)"),
    _f("latest_imagery", "Latest satellite imagery used (YYYY-MM)", "month"),
    _f("damage_index", "ASPI damage index (0-4)", "int", 0, 4),
    _f("subtype", "Subtype of cultural site"),
    _f("description", "Description by the publisher", "text"),
    _f("remark", "Remark in the source", "text"),
    _f("topics", "Topics", "list"),
    _f("has_images", "Publisher has images", "bool"),
    _f("highlight", "Highlighted by the publisher", "bool"),
    # OSM
    _f("wikidata", "Wikidata item"),
    _f("amenity", "OSM amenity"),
    # ASPI v1 evidence columns
    _f("shawn_no", "Number in Shawn Zhang's list"),
    _f("etnam_code", "Code in ETNAM's list"),
    _f("distance_county_centre_km", "Distance to county centre (km)", "float", 0),
    _f("distance_industrial_park_km", "Distance to industrial park (km)", "float", 0),
    _f("distance_residential_km", "Distance to residential buildings (km)", "float", 0),
    _f("distance_preschool_km", "Distance to pre-school (km, max 1)", "float", 0),
    _f("watchtowers", "Watchtowers", "bool"),
    _f("interior_fencing", "Interior fencing", "bool"),
    _f("external_wall", "External wall", "bool"),
    _f("security_changed", "Security features added or removed", "bool"),
    _f("security_changes", "Security features changed"),
    _f("security_changed_when", "When security features changed"),
    _f("recreation_changed", "Recreational features added or removed", "bool"),
    _f("recreation_changes", "Recreational features changed"),
    _f("usage_prior_2017", "Use of the land before 2017"),
    _f("organised_visits", "Organised visits"),
    _f("other_footage", "Other footage"),
    _f("other_evidence", "Other evidence"),
    _f("eyewitness_accounts", "Eyewitness accounts", "text"),
    _f("decommissioning", "Signs of decommissioning", "bool"),
    _f("decommissioning_signs", "Decommissioning signs", "text"),
    _f("buildings_2017", "Number of buildings in 2017", "int", 0),
    _f("buildings_2018", "Number of buildings in 2018", "int", 0),
    _f("buildings_2019", "Number of buildings in 2019", "int", 0),
    _f("buildings_2020", "Number of buildings in 2020", "int", 0),
    _f("construction_2019", "Construction ongoing in 2019", "bool"),
    _f("construction_2020", "Construction ongoing in 2020", "bool"),
    _f("factories_within", "Factories within the compound", "int", 0),
    _f("factories_adjacent", "Factories adjacent to the compound", "int", 0),
    _f("desecuritisation", "Desecuritisation", "bool"),
    # grid
    _f("utm_epsg", "UTM zone EPSG code", "int"),
]}

# Fields that are record columns of their own; every other mapped field goes into ``attrs``.
NAME_FIELDS = ("name", "name_en", "name_zh", "name_ug", "county", "prefecture")

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


class FieldValueError(ValueError):
    """A value that does not fit its field's type or range (the message says why)."""


def is_missing(value, missing=MISSING_VALUES) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in missing
    if isinstance(value, (list, dict)):
        return len(value) == 0
    return isinstance(value, float) and value != value  # NaN


def convert(field: Field, value, fmt: str | None = None, item: str | None = None):
    """Turn a source value into the field's type; None when missing; FieldValueError when it does not fit."""
    if isinstance(value, str):
        value = value.strip()
    t = field.type
    if t in dates.TYPES:  # day, yearmonth, quarter, halfyear, year, daterange, series: see dates.py
        try:
            return dates.convert(t, value, fmt, item)
        except dates.DateError as e:
            raise FieldValueError(str(e)) from None
    if t in ("str", "text"):
        out = value if isinstance(value, str) else _plain(value)
    elif t == "int":
        out = _to_int(value)
    elif t == "float":
        out = _to_float(value)
    elif t == "bool":
        out = _to_bool(value)
    elif t == "month":
        out = to_month(value, fmt)
    elif t == "list":
        out = _to_list(value, item)
    else:  # pragma: no cover - guarded by the vocabulary
        raise FieldValueError(f"unknown type {t}")
    if t in ("int", "float") and out is not None:
        if field.min is not None and out < field.min or field.max is not None and out > field.max:
            raise FieldValueError(f"{value!r} is outside {_fmt(field.min)}..{_fmt(field.max)}")
    return out


def _fmt(x):
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


def _plain(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _to_int(value):
    if isinstance(value, bool):
        raise FieldValueError(f"{value!r} is not a whole number")
    if isinstance(value, int):
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise FieldValueError(f"{value!r} is not a whole number") from None
    if not f.is_integer():
        raise FieldValueError(f"{value!r} is not a whole number")
    return int(f)


def _to_float(value):
    if isinstance(value, bool):
        raise FieldValueError(f"{value!r} is not a number")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise FieldValueError(f"{value!r} is not a number") from None
    if f != f or f in (float("inf"), float("-inf")):
        raise FieldValueError(f"{value!r} is not a finite number")
    return f


def _to_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    s = str(value).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise FieldValueError(f"{value!r} is not yes/no (1/0)")


def _to_list(value, item):
    if not isinstance(value, list):
        value = [value]
    out = []
    for v in value:
        if isinstance(v, dict):
            if item is None or item not in v:
                raise FieldValueError(f"list item {v!r} has no key {item!r}")
            v = v[item]
        if not is_missing(v):
            out.append(_plain(v) if not isinstance(v, str) else v)
    return out


def to_month(value, fmt: str | None = None) -> str:
    """A month as ``YYYY-MM`` from RFC-2822 (``Sun, 01 Mar 2020 00:00:00 +0000``), ``YY-Mon`` (``20-Mar``, read
    as 2020: English month abbreviations, whatever the locale), ``YYYY-MM`` or ``YYYY-MM-DD``; or with an explicit
    strptime ``fmt`` (whose %b/%B follow the process locale)."""
    s = str(value).strip()
    if fmt:
        try:
            d = datetime.strptime(s, fmt)
        except ValueError:
            raise FieldValueError(f"{value!r} does not match the date format {fmt!r}") from None
        return f"{d.year:04d}-{d.month:02d}"
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-\d{2})?", s)
    if m and 1 <= int(m.group(2)) <= 12:
        return f"{m.group(1)}-{m.group(2)}"
    m = re.fullmatch(r"(\d{2})-([A-Za-z]{3})", s)
    if m and m.group(2).lower() in _MONTHS:
        return f"20{m.group(1)}-{_MONTHS[m.group(2).lower()]:02d}"
    if "," in s or re.search(r"\d{2}:\d{2}", s):
        try:
            d = parsedate_to_datetime(s)
            return f"{d.year:04d}-{d.month:02d}"
        except (TypeError, ValueError, IndexError):
            pass
    raise FieldValueError(f"{value!r} is not a month (YYYY-MM, YY-Mon or an RFC-2822 date)")
