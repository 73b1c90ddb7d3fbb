"""Dates as data, with their precision: a day, a month, a quarter, a half-year, a year, a range of these, and a
yearly series of numbers.

A source says "3rdQt2018" or "19-Jun" or "2018-2019"; we keep exactly what it says and no more. A value is never
padded into an invented day: "June 2019" stays a month, shown as "June 2019", exported as ``2019-06``.

One canonical text per value, ISO 8601 with reduced precision, is what records carry (``attrs``), what CSV
exports write and what ``parse_iso`` reads back:

=========  ==============  ====================  =====================================
precision  canonical text  display               interval (GeoJSON)
=========  ==============  ====================  =====================================
day        ``2018-07-05``  ``5 July 2018``       2018-07-05 .. 2018-07-05
month      ``2018-07``     ``July 2018``         2018-07-01 .. 2018-07-31
quarter    ``2018-Q3``     ``Q3 2018``           2018-07-01 .. 2018-09-30
halfyear   ``2018-H2``     ``H2 2018``           2018-07-01 .. 2018-12-31
year       ``2018``        ``2018``              2018-01-01 .. 2018-12-31
range      ``2018/2019``   ``2018–2019``         start of the first .. end of the last
=========  ==============  ====================  =====================================

``YYYY-MM``, ``YYYY-MM-DD`` and ``YYYY`` are ISO 8601; ``YYYY-Qn`` and ``YYYY-Hn`` are our documented extension
(ISO 8601-2 would write them ``2018-35`` and ``2018-26``, which no reader recognises); a range is an ISO 8601
interval ``start/end`` of two such values. A yearly series is ``{"2017": 0, "2018": 15, "2020": None}`` (JSON
keys are text; ``None`` = the source has the column but gives no value) and ``2017=0;2018=15;2020=`` in CSV.

Field types (``TYPES``; ``fields.convert`` calls ``convert`` for them): ``date`` (alias ``day``): a day;
``yearmonth``: a month; ``quarter``; ``halfyear``; ``year``; each accepts finer values and coarsens them (a day in
a ``year`` field becomes its year) but rejects coarser ones (a ``yearmonth`` field given "2019" is an error: the
month is not known). ``daterange``: any of these or a range of them, at its own precision (a column such as
"when security features changed" holding "2019", "2ndHf2019" and "2018-2019"). ``series``: a yearly series built
from several columns (``{"series": {"2017": column, ...}}`` in a descriptor's ``fields``).
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime

PRECISIONS = ("day", "month", "quarter", "halfyear", "year")  # finest first
_RANK = {p: i for i, p in enumerate(PRECISIONS)}
MONTH_NAMES = [calendar.month_name[i] for i in range(1, 13)]  # English, whatever the process locale
_MON = {m[:3].lower(): i for i, m in enumerate(MONTH_NAMES, start=1)}
_MON.update({m.lower(): i for i, m in enumerate(MONTH_NAMES, start=1)})
_ORD = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4}
NO_DATE = ("n.d.", "nd", "n.d", "undated", "unknown")  # "no date": None, not an error


class DateError(ValueError):
    """A text that is not a date in any format we read (the message says what was expected)."""


@dataclass(frozen=True)
class Moment:
    """One date at its precision: ``year`` plus ``part`` (month 1-12, quarter 1-4, half 1-2; 0 for a year)
    and ``day`` (0 unless the precision is ``day``)."""

    precision: str
    year: int
    part: int = 0
    day: int = 0

    @property
    def start(self) -> date:
        if self.precision == "day":
            return date(self.year, self.part, self.day)
        return date(self.year, self._first_month(), 1)

    @property
    def end(self) -> date:
        if self.precision == "day":
            return self.start
        last_month = {"month": self.part, "quarter": 3 * self.part, "halfyear": 6 * self.part,
                      "year": 12}[self.precision]
        return date(self.year, last_month, calendar.monthrange(self.year, last_month)[1])

    def _first_month(self) -> int:
        return {"month": self.part, "quarter": 3 * self.part - 2, "halfyear": 6 * self.part - 5,
                "year": 1}[self.precision]

    @property
    def iso(self) -> str:
        p = self.precision
        if p == "day":
            return f"{self.year:04d}-{self.part:02d}-{self.day:02d}"
        if p == "month":
            return f"{self.year:04d}-{self.part:02d}"
        if p == "quarter":
            return f"{self.year:04d}-Q{self.part}"
        if p == "halfyear":
            return f"{self.year:04d}-H{self.part}"
        return f"{self.year:04d}"

    @property
    def text(self) -> str:
        p = self.precision
        if p == "day":
            return f"{self.day} {MONTH_NAMES[self.part - 1]} {self.year}"
        if p == "month":
            return f"{MONTH_NAMES[self.part - 1]} {self.year}"
        if p == "quarter":
            return f"Q{self.part} {self.year}"
        if p == "halfyear":
            return f"H{self.part} {self.year}"
        return str(self.year)

    def coarsen(self, precision: str) -> "Moment":
        """The same moment at a coarser (or equal) precision; DateError when ``precision`` is finer."""
        if _RANK[precision] < _RANK[self.precision]:
            raise DateError(f"{self.text!r} is a {self.precision}, not a {precision}: the {precision} is not known")
        if precision == self.precision:
            return self
        month = self.start.month
        part = {"month": month, "quarter": (month - 1) // 3 + 1, "halfyear": (month - 1) // 6 + 1,
                "year": 0}[precision]
        return Moment(precision, self.year, part)


@dataclass(frozen=True)
class Span:
    """A range of two moments (``2018-2019``, ``2018-06/2019-H1``): from the start of the first to the end of
    the last."""

    first: Moment
    last: Moment

    @property
    def precision(self) -> str:
        a, b = self.first.precision, self.last.precision
        return a if a == b else f"{a}/{b}"

    @property
    def start(self) -> date:
        return self.first.start

    @property
    def end(self) -> date:
        return self.last.end

    @property
    def iso(self) -> str:
        return f"{self.first.iso}/{self.last.iso}"

    @property
    def text(self) -> str:
        return f"{self.first.text}\u2013{self.last.text}"


DateValue = Moment | Span


# --- reading ------------------------------------------------------------------------------------------------------

def _moment(year: int, precision: str, part: int = 0, day: int = 0, raw: str = "") -> Moment:
    limits = {"day": 12, "month": 12, "quarter": 4, "halfyear": 2, "year": 0}
    if not 1 <= year <= 9999 or (precision != "year" and not 1 <= part <= limits[precision]):
        raise DateError(f"{raw!r} is not a valid {precision}")
    m = Moment(precision, year, part, day)
    if precision == "day":
        try:
            date(year, part, day)
        except ValueError:
            raise DateError(f"{raw!r} is not a valid day") from None
    return m


def _year2(yy: str) -> int:
    """A two-digit year is 20YY (every two-digit year in the shipped sources is of this century)."""
    return 2000 + int(yy)


_PATTERNS: list[tuple[re.Pattern, object]] = [
    (re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?"),
     lambda m, s: _moment(int(m[1]), "day", int(m[2]), int(m[3]), s)),
    (re.compile(r"(\d{4})-(\d{2})"), lambda m, s: _moment(int(m[1]), "month", int(m[2]), raw=s)),
    (re.compile(r"(\d{4})"), lambda m, s: _moment(int(m[1]), "year", raw=s)),
    (re.compile(r"(\d{4})-?Q([1-4])|Q([1-4])[ -]?(\d{4})", re.I),
     lambda m, s: _moment(int(m[1] or m[4]), "quarter", int(m[2] or m[3]), raw=s)),
    (re.compile(r"(\d{4})-?H([12])|H([12])[ -]?(\d{4})", re.I),
     lambda m, s: _moment(int(m[1] or m[4]), "halfyear", int(m[2] or m[3]), raw=s)),
    (re.compile(r"(1st|2nd|3rd|4th) ?q(?:ua)?r?t(?:er)? ?(\d{4})", re.I),  # 3rdQt2018
     lambda m, s: _moment(int(m[2]), "quarter", _ORD[m[1].lower()], raw=s)),
    (re.compile(r"(1st|2nd) ?h(?:al)?f ?(\d{4})", re.I),  # 2ndHf2019, 2ndhf2017
     lambda m, s: _moment(int(m[2]), "halfyear", _ORD[m[1].lower()], raw=s)),
    (re.compile(r"mid[- ]?(\d{4})", re.I),  # "Mid-2018": the year is all it says for sure
     lambda m, s: _moment(int(m[1]), "year", raw=s)),
    (re.compile(r"(\d{2})-([A-Za-z]{3})"),  # 19-Jun = June 2019 (YY-Mon; "19 June" needs a declared format)
     lambda m, s: _moment(_year2(m[1]), "month", _month(m[2], s), raw=s)),
    (re.compile(r"([A-Za-z]{3})-(\d{2})"),  # Mar-19 = March 2019 (a spreadsheet's Mon-YY)
     lambda m, s: _moment(_year2(m[2]), "month", _month(m[1], s), raw=s)),
    (re.compile(r"([A-Za-z]+)\.? (\d{4})"), lambda m, s: _moment(int(m[2]), "month", _month(m[1], s), raw=s)),
    (re.compile(r"(\d{1,2}) ([A-Za-z]+)\.? (\d{4})"),
     lambda m, s: _moment(int(m[3]), "day", _month(m[2], s), int(m[1]), s)),
]


def _month(name: str, raw: str) -> int:
    try:
        return _MON[name.lower()]
    except KeyError:
        raise DateError(f"{raw!r}: {name!r} is not an English month name") from None


def _parse_moment(s: str) -> Moment:
    for rx, make in _PATTERNS:
        m = rx.fullmatch(s)
        if m:
            return make(m, s)
    if "," in s or re.search(r"\d{2}:\d{2}", s):  # RFC 2822: "Sat, 01 Jun 2019 00:00:00 +0000"
        try:
            d = parsedate_to_datetime(s)
            return Moment("day", d.year, d.month, d.day)
        except (TypeError, ValueError, IndexError):
            pass
    raise DateError(f"{s!r} is not a date (expected e.g. 2018-07-05, 2018-07, 2018-Q3, 3rdQt2018, 2018-H2, "
                    f"2ndHf2019, 2018, 19-Jun, 2018-2019 or 2018/2019)")


def _strptime(s: str, fmt: str) -> Moment:
    """A date read with a declared strptime format; its precision is the finest directive in the format."""
    try:
        d = datetime.strptime(s, fmt)
    except ValueError:
        raise DateError(f"{s!r} does not match the date format {fmt!r}") from None
    if re.search(r"%[dj]", fmt):
        return Moment("day", d.year, d.month, d.day)
    if re.search(r"%[mbB]", fmt):
        return Moment("month", d.year, d.month)
    return Moment("year", d.year)


def parse(value, fmt: str | None = None) -> DateValue | None:
    """Read a date or range from a source value; None for "no date" (``n.d.``, empty); DateError otherwise.

    ``fmt`` is a strptime format declared by the descriptor (``{"from": col, "format": "%y-%b"}``) for formats
    that are ambiguous or not recognised; month names are read in English whatever the process locale only
    without ``fmt``.
    """
    if value is None:
        return None
    if isinstance(value, (Moment, Span)):
        return value
    if isinstance(value, bool):
        raise DateError(f"{value!r} is not a date")
    if isinstance(value, datetime):
        return Moment("day", value.year, value.month, value.day)
    if isinstance(value, date):
        return Moment("day", value.year, value.month, value.day)
    if isinstance(value, (int, float)):
        if float(value).is_integer() and 1000 <= value <= 9999:
            return Moment("year", int(value))
        raise DateError(f"{value!r} is not a year")
    s = " ".join(str(value).split())
    if not s or s.lower() in NO_DATE:
        return None
    if fmt:
        if "/" in s and "/" not in fmt:
            a, b = s.split("/", 1)
            return _span(_strptime(a.strip(), fmt), _strptime(b.strip(), fmt), s)
        return _strptime(s, fmt)
    m = re.fullmatch(r"(\d{4}) ?[-\u2013] ?(\d{4})", s)  # 2018-2019 (but 2019-06 is a month)
    if m:
        return _span(_moment(int(m[1]), "year", raw=s), _moment(int(m[2]), "year", raw=s), s)
    for sep in ("/", "\u2013", " - ", " to "):
        if sep in s:
            a, b = s.split(sep, 1)
            return _span(_parse_moment(a.strip()), _parse_moment(b.strip()), s)
    return _parse_moment(s)


def _span(a: Moment, b: Moment, raw: str) -> DateValue:
    if a.start > b.end:
        raise DateError(f"{raw!r}: the range ends before it starts")
    return a if a == b else Span(a, b)


def parse_iso(text: str | None) -> DateValue | None:
    """Read back a canonical text (``2018``, ``2018-06``, ``2018-Q3``, ``2018-H2``, ``2018-06-05``,
    ``2018/2019``); same as ``parse`` but rejects everything else."""
    if text is None:
        return None
    if not re.fullmatch(r"\d{4}(?:-(?:\d{2}(?:-\d{2})?|Q[1-4]|H[12]))?(?:/\d{4}(?:-(?:\d{2}(?:-\d{2})?|Q[1-4]|H[12]))?)?",
                        text):
        raise DateError(f"{text!r} is not a canonical date (2018, 2018-06, 2018-Q3, 2018-H2, 2018-06-05, 2018/2019)")
    return parse(text)


# --- showing and exporting ---------------------------------------------------------------------------------------

def _value(v) -> DateValue | None:
    return parse_iso(v) if isinstance(v, str) else v


def display(value) -> str:
    """Text for a reader at the value's own precision: "5 July 2018", "June 2019", "Q3 2018", "2018–2019"."""
    v = _value(value)
    return "" if v is None else v.text


def to_csv(value) -> str:
    """The canonical ISO text (a series: ``2017=0;2018=15;2020=``)."""
    if isinstance(value, dict):
        return ";".join(f"{y}={'' if n is None else _num(n)}" for y, n in sorted(value.items()))
    v = _value(value)
    return "" if v is None else v.iso


def _num(n):
    if isinstance(n, bool):
        return "true" if n else "false"
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def interval(value) -> dict | None:
    """The GeoJSON form: ``{"start": "2018-07-01", "end": "2018-09-30", "precision": "quarter",
    "text": "2018-Q3"}`` (start and end are the first and last day the value covers)."""
    v = _value(value)
    if v is None:
        return None
    return {"start": v.start.isoformat(), "end": v.end.isoformat(), "precision": v.precision, "text": v.iso}


# --- comparing ---------------------------------------------------------------------------------------------------

def years(value) -> range:
    """The calendar years a value touches (``2018-2019`` -> 2018, 2019; ``2018-Q3`` -> 2018)."""
    v = _value(value)
    if v is None:
        return range(0)
    return range(v.start.year, v.end.year + 1)


def overlaps(value, start: date, end: date) -> bool:
    """True when the value's interval and [start, end] share at least one day."""
    v = _value(value)
    return v is not None and v.start <= end and start <= v.end


def overlaps_year(value, year: int) -> bool:
    """True when the value could fall in ``year`` (any day of the value is in it)."""
    return overlaps(value, date(year, 1, 1), date(year, 12, 31))


def within_year(value, year: int) -> bool:
    """True when the whole value lies inside ``year`` (a quarter of 2018 does; the range 2018-2019 does not)."""
    v = _value(value)
    return v is not None and v.start.year == year == v.end.year


def sort_key(value) -> tuple:
    """Order by start, then by end (a month sorts before the quarter that starts with it... and after the day)."""
    v = _value(value)
    return (date.max, date.max) if v is None else (v.start, v.end)


# --- field types -------------------------------------------------------------------------------------------------

def _typed(precision: str):
    def conv(value, fmt=None, item=None):
        v = parse(value, fmt)
        if v is None:
            return None
        if isinstance(v, Span):
            raise DateError(f"{value!r} is a range; a {precision} field takes one {precision}")
        return v.coarsen(precision).iso
    return conv


def _range(value, fmt=None, item=None):
    v = parse(value, fmt)
    return None if v is None else v.iso


_ITEM = {"integer": int, "number": float, "boolean": bool, None: None}


def _series(value, fmt=None, item=None):
    """``{year: raw value}`` (from ``series_values``) -> ``{"2017": 0, ...}``; None when every year is empty."""
    if not isinstance(value, dict):
        raise DateError(f"{value!r} is not a yearly series (map it with {{\"series\": {{\"2017\": column, ...}}}})")
    out = {}
    for y, raw in sorted(value.items(), key=lambda kv: str(kv[0])):
        ys = str(y)
        if not re.fullmatch(r"\d{4}", ys):
            raise DateError(f"series key {y!r} is not a year")
        out[ys] = None if raw is None else _series_item(raw, item, ys)
    return out if any(v is not None for v in out.values()) else None


def _series_item(raw, item, year):
    if item not in _ITEM:
        raise DateError(f"series item type {item!r} is not one of integer, number, boolean")
    if isinstance(raw, str):
        raw = raw.strip()
    if item == "boolean" or isinstance(raw, bool):
        s = str(raw).lower()
        if s in ("1", "true", "yes"):
            return True
        if s in ("0", "false", "no"):
            return False
        raise DateError(f"{year}: {raw!r} is not yes/no (1/0)")
    try:
        f = float(raw)
    except (TypeError, ValueError):
        raise DateError(f"{year}: {raw!r} is not a number") from None
    if f != f or f in (float("inf"), float("-inf")):
        raise DateError(f"{year}: {raw!r} is not a finite number")
    if item == "integer" or (item is None and f.is_integer()):
        if not f.is_integer():
            raise DateError(f"{year}: {raw!r} is not a whole number")
        return int(f)
    return f


TYPES = {
    "date": _typed("day"), "day": _typed("day"), "yearmonth": _typed("month"), "quarter": _typed("quarter"),
    "halfyear": _typed("halfyear"), "year": _typed("year"), "daterange": _range, "series": _series,
}


def convert(type_name: str, value, fmt: str | None = None, item: str | None = None):
    """A source value as the canonical value of a date field type (``TYPES``); None when there is no date."""
    return TYPES[type_name](value, fmt, item)


def series_columns(spec) -> dict[str, str] | None:
    """``{"series": {"2017": column, ...}}`` in a descriptor's ``fields`` -> the year -> column map, else None."""
    if isinstance(spec, dict) and isinstance(spec.get("series"), dict):
        return {str(y): c for y, c in spec["series"].items()}
    return None


def series_values(columns: dict[str, str], get, is_missing) -> dict[str, object]:
    """One row's raw series: ``get(column)`` per year, None where the cell is missing."""
    out = {}
    for y, col in columns.items():
        v = get(col)
        out[y] = None if is_missing(v) else v
    return out


def for_csv(type_name: str, value) -> str:
    """A value of a date field type as a CSV cell (the canonical text; a series as ``2017=0;2018=15``)."""
    return to_csv(value) if type_name in TYPES else value


def for_geojson(type_name: str, value):
    """A value of a date field type as a GeoJSON property: an interval object; a series as it is."""
    if type_name not in TYPES or value is None:
        return value
    return value if type_name == "series" else interval(value)
