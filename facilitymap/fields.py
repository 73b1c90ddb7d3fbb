"""The field vocabulary: the package roles every facility map has, and the fields a map spec declares.

The package knows only the roles (``ROLES``: record id, names, coordinates, kind, county, region, description) and
``name_<language tag>`` names. Every other field (a rating, a status, a capacity ...) is declared by the map spec
under ``fields:`` with a label, a Frictionless type and an optional range; ``vocabulary(spec)`` gives roles plus
declarations, and a descriptor's ``fields`` may map only onto names of the vocabulary of the map being built.

A type says how a source value becomes ours (``convert``). Values that do not fit are not guessed at: the
caller leaves them out of ``attrs`` (the original row keeps them) and writes a note.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import dates

# Values that mean "not given" in the shipped sources (a descriptor may replace this list: "missing_values").
MISSING_VALUES = ("", "N/A", "#N/A", "n/a", "NA")

#: Field types, by their Frictionless Table Schema names (``text`` is ours: long free text, shown as a paragraph).
# Dates of any precision, ranges and yearly series are converted by dates.py.
DATE_TYPES = ("date", "day", "yearmonth", "quarter", "halfyear", "year", "daterange", "series")
TYPES = ("string", "text", "integer", "number", "boolean", "array") + DATE_TYPES
RANGE_TYPES = ("integer", "number", "year")
#: Keys of one declaration under a spec's ``fields:``.
DECLARATION_KEYS = ("label", "type", "min", "max", "description")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str = "string"  # one of TYPES
    min: float | None = None
    max: float | None = None
    description: str | None = None


#: The roles: field names the package itself knows and uses (identity, names, position, place).
ROLES: dict[str, Field] = {f.name: f for f in [
    Field("record_id", "Record id in the source"),
    Field("name", "Name"),
    Field("lat", "Latitude", "number", -90, 90),
    Field("lon", "Longitude", "number", -180, 180),
    Field("kind", "Kind of site"),
    Field("county", "County"),
    Field("prefecture", "Region"),
    Field("description", "Description by the publisher", "text"),
]}
#: Other names a descriptor may use for a role: ``region`` is stored as ``prefecture`` (the records' column).
ALIASES = {"region": "prefecture"}

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_NAME_LANG = re.compile(r"name_([a-z]{2,3}(?:_[a-z0-9]{2,8})*)")

# Fields that are record columns of their own; every other mapped field goes into ``attrs``.
NAME_FIELDS = ("name", "name_en", "name_zh", "name_ug", "county", "prefecture")


def canonical(name: str) -> str:
    """The stored name of a field name (an alias becomes its role)."""
    return ALIASES.get(name, name)


def valid_name(name) -> bool:
    """A field name: lower case letters, digits and ``_``, starting with a letter."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def role(name: str) -> Field | None:
    """The role of that name (``name_<tag>`` for any language tag included), or None."""
    name = canonical(name)
    if name in ROLES:
        return ROLES[name]
    m = _NAME_LANG.fullmatch(name)
    return Field(name, f"Name ({m.group(1).replace('_', '-')})") if m else None


def vocabulary(spec: dict | None) -> dict[str, Field]:
    """Roles plus the fields the map spec declares (a declaration of a role changes its label only)."""
    out = dict(ROLES)
    for name, d in ((spec or {}).get("fields") or {}).items():
        base = role(name)
        if base is not None:
            out[name] = Field(name, d["label"], base.type, base.min, base.max, d.get("description", base.description))
        else:
            out[name] = Field(name, d["label"], d.get("type", "string"), d.get("min"), d.get("max"),
                              d.get("description"))
    return out


def lookup(vocab: dict[str, Field] | None, name: str) -> Field | None:
    """The field a descriptor's name maps onto: in the vocabulary, or a role; None when the map does not know it.

    Without a vocabulary (no map given, e.g. ``facilitymap sources``) a name that is not a role is read as a string.
    """
    name = canonical(name)
    if vocab is not None and name in vocab:
        return vocab[name]
    r = role(name)
    if r is not None or vocab is not None:
        return r
    return Field(name, name)


def declaration_problems(fields) -> list[str]:
    """Problems of a spec's ``fields:`` block, each ``fields: <name>: problem``."""
    if fields is None:
        return []
    if not isinstance(fields, dict):
        return ["fields: is not a mapping of field name to {label, type, ...}"]
    out = []
    for name, d in fields.items():
        def bad(msg, name=name):
            out.append(f"fields: {name}: {msg}")

        if not valid_name(name):
            bad("is not a field name (lower case letters, digits and _, starting with a letter)")
            continue
        if name in ALIASES:
            bad(f"is another name of {ALIASES[name]!r}: declare {ALIASES[name]!r}")
            continue
        if not isinstance(d, dict):
            bad("needs {label: ..., type: ...}")
            continue
        unknown = sorted(set(d) - set(DECLARATION_KEYS))
        if unknown:
            bad(f"unknown key(s) {', '.join(map(str, unknown))} (known: {', '.join(DECLARATION_KEYS)})")
        if not isinstance(d.get("label"), str) or not d["label"].strip():
            bad("needs a label (text)")
        if "description" in d and not isinstance(d["description"], str):
            bad("description is not text")
        base = role(name)
        if base is not None:
            if "type" in d and d["type"] != base.type:
                bad(f"is a role of type {base.type}; a map may change its label, not its type")
            if "min" in d or "max" in d:
                bad("is a role; a map may change its label, not its range")
            continue
        typ = d.get("type", "string")
        if typ not in TYPES:
            bad(f"type {typ!r} is not one of {', '.join(TYPES)}")
            continue
        for k in ("min", "max"):
            if k in d:
                v = d[k]
                if typ not in RANGE_TYPES:
                    bad(f"{k}: a range needs type {', '.join(RANGE_TYPES)}, not {typ}")
                elif isinstance(v, bool) or not isinstance(v, (int, float)):
                    bad(f"{k}: {v!r} is not a number")
        lo, hi = d.get("min"), d.get("max")
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)) and lo > hi:
            bad(f"min {lo} is greater than max {hi}")
    return out


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
    if t in DATE_TYPES:  # see dates.py
        try:
            out = dates.convert(t, value, fmt, item)
        except dates.DateError as e:
            raise FieldValueError(str(e)) from None
        if t == "year" and out is not None and not _in_range(int(out), field):
            raise FieldValueError(f"{value!r} is outside {_fmt(field.min)}..{_fmt(field.max)}")
        return out
    if t in ("string", "text"):
        out = value if isinstance(value, str) else _plain(value)
    elif t == "integer":
        out = _to_int(value)
    elif t == "number":
        out = _to_float(value)
    elif t == "boolean":
        out = _to_bool(value)
    elif t == "array":
        out = _to_list(value, item)
    else:  # pragma: no cover - guarded by declaration_problems
        raise FieldValueError(f"unknown type {t}")
    if t in RANGE_TYPES and out is not None and not _in_range(out, field):
        raise FieldValueError(f"{value!r} is outside {_fmt(field.min)}..{_fmt(field.max)}")
    return out


def _in_range(value, field: Field) -> bool:
    return not (field.min is not None and value < field.min or field.max is not None and value > field.max)


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


