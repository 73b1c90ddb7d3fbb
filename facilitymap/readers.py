"""Readers: one per file format, each a pure function from a Source to a ReadResult.

``read_source`` checks the file against its descriptor (bytes, sha256), parses it with the format reader named by
``facilitymap.reader`` (a lookup in ``READERS``: other modules may register more, e.g. ``READERS["claims"]``),
then applies the mapping and the row checks of ``rows.py``. A file that cannot be read raises ``SourceError``
naming the file, the line where known, and the problem.

Keys of the descriptor's ``facilitymap`` block that readers use (all data, no Python needed for a new source):

- ``reader``: ``csv`` (also TSV: resource ``format: "tsv"``), ``geojson``, ``osm``, ``geoparquet``;
  the resource's ``encoding`` and Frictionless ``dialect`` (delimiter, quoteChar, doubleQuote, escapeChar,
  skipInitialSpace; a header row is required) say how to decode and split a CSV;
- ``fields``: a field of the map's vocabulary (a package role such as ``name``, ``lat``, ``county``, any
  ``name_<language tag>``, or a field the map spec declares under ``fields:``; ``region`` is another name of the
  role ``prefecture``) → source column, property path (``names.cn``, ``pos.0``) or OSM tag;
  or ``{"from": column, "format": strptime format, "item": key to take from each object of a list}``;
  with ``lat`` and ``lon`` mapped the point comes from them, otherwise from the file's geometry;
- ``kind``: a constant, or ``{"field": column, "values": {source value: our kind}}`` (other values: rejected);
- ``filter``: ``{"field": column, "equals": value}`` or ``{"field", "in": [...]}``: rows that do not pass are not
  data rows of the source (counted in one note);
- ``required``: our fields that must not be empty (default ``["record_id"]``);
- ``row_ids``: true when the file has no id column: a record's id is its row number;
- ``extent``: ``[west, south, east, north]`` where the data should lie (used to detect swapped coordinates);
- ``position_check``: ``{"lat": path, "lon": path, "tolerance_m": m}``, a second position that must agree with the
  geometry;
- ``missing_values``: cell values that mean "not given" (default ``fields.MISSING_VALUES``).
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Callable
from xml.parsers import expat

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape

from . import limits
from .errors import SourceError
from .registry import Source, check_resource_file
from .rows import RawRow, ReadResult, Table, build_records, check_columns

__all__ = ["read_source", "ReadResult", "READERS", "PARSERS", "parse_source", "mapping_problems"]


# --- text decoding ----------------------------------------------------------------------------------------------

def decode(path: Path, raw: bytes, encoding: str | None) -> str:
    """Bytes to text in the declared encoding; a byte that does not fit names its line and column."""
    enc = (encoding or "utf-8").lower()
    try:
        if enc in ("utf-8", "utf8"):
            return raw.decode("utf-8-sig")
        return raw.decode(enc)
    except LookupError:
        raise SourceError(path, None, f"unknown encoding {encoding!r} in the descriptor") from None
    except UnicodeDecodeError as e:
        data, start = e.object, e.start  # utf-8-sig reports offsets after the BOM, in e.object
        line = data.count(b"\n", 0, start) + 1
        col = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise SourceError(path, line, f"not valid {encoding}: byte 0x{data[start]:02x} at column {col} "
                                      f"({e.reason}); is the file in another encoding?") from None


def _lookup_flat(row: dict, col: str):
    return row[col]


def lookup_path(obj, path: str):
    """A property by exact key, else by dotted path (``names.cn``, ``pos.0``); KeyError when absent."""
    if isinstance(obj, dict) and path in obj:
        return obj[path]
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(path)
    return cur


# --- CSV / TSV --------------------------------------------------------------------------------------------------

def parse_csv(source: Source, path: Path) -> Table:
    """CSV or TSV in the resource's encoding and Frictionless ``dialect``; row = line where the row starts."""
    res = source.resource
    text = decode(path, path.read_bytes(), res.get("encoding"))
    dialect = res.get("dialect") or {}
    default_delim = "\t" if res.get("format") == "tsv" else ","
    if dialect.get("header", True) is not True:
        raise SourceError(source.descriptor_path, None, "dialect.header false is not supported: "
                                                        "the file needs a header row naming its columns")
    kw = dict(delimiter=dialect.get("delimiter", default_delim), quotechar=dialect.get("quoteChar", '"'),
              doublequote=dialect.get("doubleQuote", True), escapechar=dialect.get("escapeChar"),
              skipinitialspace=dialect.get("skipInitialSpace", False), strict=True)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), **kw)
    except TypeError as e:
        raise SourceError(source.descriptor_path, None, f"dialect is not usable: {e}") from None
    rows: list[RawRow] = []
    header = None
    prev = 0
    max_rows = limits.current().rows
    try:
        for values in reader:
            start = prev + 1
            prev = reader.line_num
            if not values or values == [""]:
                continue  # a blank line is not a row
            if header is None:
                too_wide = limits.exceeded("header_columns", len(values))
                if too_wide:
                    raise SourceError(path, start, f"the header has {len(values):,} columns: {too_wide}")
                header = [h.strip() for h in values]
                dup = _duplicates(header)
                if dup:
                    raise SourceError(path, start, f"column(s) {dup} appear more than once in the header")
                continue
            if len(values) != len(header):
                raise SourceError(path, start, f"CSV is broken: the row has {len(values)} fields, the header "
                                               f"has {len(header)} (delimiter {kw['delimiter']!r})")
            rows.append(RawRow(start, dict(zip(header, values))))
            if len(rows) > max_rows:
                raise SourceError(path, start, f"too many rows: {limits.exceeded('rows', len(rows))}")
    except csv.Error as e:
        raise SourceError(path, reader.line_num or None, f"CSV is broken: {e}") from None
    if header is None:
        raise SourceError(path, None, "file is empty (no header row)")
    cols = set(header)
    return Table(path, rows, _lookup_flat, cols.__contains__)


def _duplicates(header: list[str]) -> list[str]:
    """Column names that appear more than once (counted once each: linear, a 100k-column header is quick)."""
    from collections import Counter

    return sorted(h for h, n in Counter(header).items() if n > 1)


# --- GeoJSON ----------------------------------------------------------------------------------------------------

def parse_geojson(source: Source, path: Path) -> Table:
    """A FeatureCollection; row = feature number from 1; properties looked up by dotted path."""
    text = decode(path, path.read_bytes(), source.resource.get("encoding"))
    _check_json_depth(path, text)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(path, e.lineno, f"JSON is broken: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise SourceError(path, None, "JSON is nested too deeply to read") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise SourceError(path, 1, "not a GeoJSON FeatureCollection (needs \"type\": \"FeatureCollection\" "
                                   "and a \"features\" list)")
    too_many = limits.exceeded("rows", len(doc["features"]))
    if too_many:
        raise SourceError(path, None, f"too many features: {too_many}")
    rows = []
    for i, f in enumerate(doc["features"], start=1):
        if not isinstance(f, dict) or f.get("type") != "Feature":
            rows.append(RawRow(i, {}, problem="not a GeoJSON Feature"))
            continue
        props = f.get("properties") or {}
        if not isinstance(props, dict):
            rows.append(RawRow(i, {}, problem="properties is not an object"))
            continue
        geom, problem = None, None
        if f.get("geometry") is not None:
            try:
                geom = shape(f["geometry"])
            except Exception as e:  # shapely raises several types for bad GeoJSON geometry
                problem = f"geometry is not valid GeoJSON: {e}"
        rows.append(RawRow(i, props, geom, problem=problem))

    def has_column(col):
        for r in rows:
            try:
                lookup_path(r.original, col)
                return True
            except KeyError:
                pass
        return False

    return Table(path, rows, lookup_path, has_column)


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_json_depth(path: Path, text: str) -> None:
    """Stop before parsing when arrays/objects nest deeper than the ``json_depth`` limit (a 100k-deep file would
    otherwise end in a RecursionError inside the parser). Strings are skipped, so brackets in text do not count."""
    cap = limits.current().json_depth
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > cap:
                line = text.count("\n", 0, m.start()) + 1
                raise SourceError(path, line, f"JSON nesting deeper than {cap}: "
                                              f"{limits.exceeded('json_depth', depth)}")
        elif c in "]}":
            depth -= 1


# --- OSM XML ----------------------------------------------------------------------------------------------------

def parse_osm(source: Source, path: Path) -> Table:
    """OSM XML: tagged nodes (points), closed ways (polygons) and multipolygon relations; row = element's line.

    Untagged elements are parts of others' geometry, not rows. Parsed with expat (no DTD, no entities).
    """
    text = decode(path, path.read_bytes(), source.resource.get("encoding"))
    nodes: dict[str, tuple[float, float]] = {}
    elements: list[dict] = []  # tagged-or-not ways/relations and tagged nodes, in file order
    stack: list[dict] = []
    root = []
    max_rows = limits.current().rows
    p = expat.ParserCreate(encoding="UTF-8")

    def no_entities(*_a):
        raise SourceError(path, p.CurrentLineNumber, "XML entity declarations are not allowed")

    p.EntityDeclHandler = no_entities
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def start(name, attrs):
        line = p.CurrentLineNumber
        if not root:
            root.append(name)
            if name != "osm":
                raise SourceError(path, line, f"not OSM XML: the root element is <{name}>, not <osm>")
            return
        if name in ("node", "way", "relation") and not stack:
            if len(elements) >= max_rows:
                raise SourceError(path, line, f"too many elements: {limits.exceeded('rows', len(elements) + 1)}")
            el = {"type": name, "id": attrs.get("id"), "line": line, "tags": {}, "nds": [], "members": [],
                  "lat": attrs.get("lat"), "lon": attrs.get("lon")}
            stack.append(el)
            elements.append(el)
        elif stack and name == "tag":
            stack[-1]["tags"][attrs.get("k", "")] = attrs.get("v", "")
        elif stack and name == "nd":
            stack[-1]["nds"].append(attrs.get("ref"))
        elif stack and name == "member":
            stack[-1]["members"].append((attrs.get("type"), attrs.get("ref"), attrs.get("role", "")))

    def end(name):
        if stack and name == stack[-1]["type"]:
            stack.pop()

    p.StartElementHandler = start
    p.EndElementHandler = end
    try:
        p.Parse(text.encode("utf-8"), True)
    except expat.ExpatError as e:
        raise SourceError(path, e.lineno, f"XML is broken: {expat.ErrorString(e.code)} (column {e.offset + 1})") from None
    for el in elements:
        if el["type"] == "node":
            try:
                xy = (float(el["lon"]), float(el["lat"]))
                nodes[el["id"]] = xy if all(map(math.isfinite, xy)) else None  # NaN/inf: a way using it is rejected
            except (TypeError, ValueError):
                pass  # judged below if the node is a row; a way using it names it
    ways = {el["id"]: el for el in elements if el["type"] == "way"}

    rows = []
    for el in elements:
        if not el["tags"]:
            continue
        rid = f"{el['type']}/{el['id']}"
        geom, problem = None, None
        try:
            if el["type"] == "node":
                geom = Point(_coord(el["lon"], "lon"), _coord(el["lat"], "lat"))
            elif el["type"] == "way":
                geom = _way_polygon(el, nodes)
            else:
                geom = _relation_polygon(el, ways, nodes)
        except (ValueError, shapely.errors.GEOSException) as e:
            problem = str(e)
        rows.append(RawRow(el["line"], dict(el["tags"]), geom, record_id=rid, problem=problem))
    tag_keys = set()
    for r in rows:
        tag_keys.update(r.original)
    return Table(path, rows, _lookup_flat, tag_keys.__contains__)


def _coord(v, what):
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"node {what} {v!r} is not a number") from None


def _way_coords(way, nodes):
    coords = []
    for ref in way["nds"]:
        if ref not in nodes:
            raise ValueError(f"node {ref} of way/{way['id']} is not in the file")
        if nodes[ref] is None:
            raise ValueError(f"node {ref} of way/{way['id']} has coordinates that are not finite numbers")
        coords.append(nodes[ref])
    return coords


def _way_polygon(way, nodes):
    coords = _way_coords(way, nodes)
    if len(coords) < 4 or coords[0] != coords[-1]:
        raise ValueError(f"way/{way['id']} is not closed, so it is not an area")
    return Polygon(coords)


def _relation_polygon(rel, ways, nodes):
    if rel["tags"].get("type") not in ("multipolygon", "boundary"):
        raise ValueError(f"relation type {rel['tags'].get('type')!r} is not a multipolygon")
    outer, inner = [], []
    for typ, ref, role in rel["members"]:
        if typ != "way":
            continue
        if ref not in ways:
            raise ValueError(f"member way/{ref} of relation/{rel['id']} is not in the file")
        line = shapely.LineString(_way_coords(ways[ref], nodes))
        (inner if role == "inner" else outer).append(line)
    if not outer:
        raise ValueError(f"relation/{rel['id']} has no outer ways")
    outer_polys = list(shapely.polygonize(outer).geoms)
    if not outer_polys:
        raise ValueError(f"the outer ways of relation/{rel['id']} do not form a closed ring")
    geom = shapely.union_all(outer_polys)
    if inner:
        holes = list(shapely.polygonize(inner).geoms)
        if holes:
            geom = geom.difference(shapely.union_all(holes))
    if isinstance(geom, Polygon) and len(outer_polys) > 1:
        geom = MultiPolygon([geom])
    return geom


# --- GeoParquet -------------------------------------------------------------------------------------------------

def parse_geoparquet(source: Source, path: Path) -> Table:
    """GeoParquet through geopandas; row = row number from 1; other geometry columns kept as WKT."""
    import geopandas as gpd
    import pyarrow.parquet as pq

    try:
        n = pq.ParquetFile(path).metadata.num_rows
    except Exception as e:  # pyarrow raises several types for a bad file
        raise SourceError(path, None, f"not readable as GeoParquet: {e}") from None
    too_many = limits.exceeded("rows", n)
    if too_many:
        raise SourceError(path, None, f"too many rows: {too_many}")
    try:
        gdf = gpd.read_parquet(path)
    except Exception as e:  # pyarrow/geopandas raise many types for a bad file
        raise SourceError(path, None, f"not readable as GeoParquet: {e}") from None
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        try:
            gdf = gdf.to_crs(4326)
        except Exception as e:  # pyproj raises several types for a CRS it cannot transform
            raise SourceError(path, None, f"its CRS ({gdf.crs.name}) cannot be transformed to EPSG:4326: "
                                          f"{type(e).__name__}: {e}") from None
    geoms = list(gdf.geometry.values)
    df = gdf.drop(columns=[gdf.geometry.name])
    columns = {}
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, gpd.array.GeometryDtype):
            s = gpd.GeoSeries(s).to_wkt()
        columns[col] = [None if isinstance(v, float) and math.isnan(v) else v for v in s.tolist()]
    names = list(columns)
    rows = [RawRow(i, dict(zip(names, values)), g)
            for i, (values, g) in enumerate(zip(zip(*columns.values()), geoms), start=1)]
    return Table(path, rows, _lookup_flat, set(names).__contains__)


# --- dispatch ---------------------------------------------------------------------------------------------------

PARSERS: dict[str, Callable[[Source, Path], Table]] = {
    "csv": parse_csv,
    "geojson": parse_geojson,
    "osm": parse_osm,
    "geoparquet": parse_geoparquet,
}


def check_size(source: Source) -> None:
    """Stop before a byte is read (even to hash it) when the resource's file is over the ``file_bytes`` limit."""
    res = source.resource
    if isinstance(res, dict) and isinstance(res.get("path"), str):
        path = source.folder / res["path"]
        problem = limits.check_file_size(path)
        if problem:
            raise SourceError(path, None, problem)


def parse_source(source: Source) -> Table:
    """Check the file against the descriptor, then parse it with the format's parser."""
    if source.reader not in PARSERS:
        raise SourceError(source.descriptor_path, None, f"no format parser for reader {source.reader!r}")
    check_size(source)
    path = check_resource_file(source)
    return PARSERS[source.reader](source, path)


def read_tabular(source: Source, vocabulary: dict | None = None) -> ReadResult:
    """The reader of every tabular/geographic format: parse, check mapped columns exist, build records."""
    table = parse_source(source)
    check_columns(table, source.fm, source.descriptor_path)
    return build_records(source.slug, source.fm, table, vocabulary)


# reader(source, vocabulary) -> ReadResult
READERS: dict[str, Callable[..., object]] = {name: read_tabular for name in PARSERS}


def read_source(source: Source, vocabulary: dict | None = None):
    """Read one source into records, rejected rows and notes (``rows == len(records) + len(rejected)``).

    `vocabulary`: ``fields.vocabulary(spec)`` of the map being built: the types of the mapped fields. Without it
    (no map in view) a field that is not a package role is read as a string.
    """
    reader = READERS.get(source.reader)
    if reader is None:
        raise SourceError(source.descriptor_path, None,
                          f"no reader {source.reader!r} (known: {', '.join(sorted(READERS))})")
    return reader(source, vocabulary)


def mapping_problems(source: Source) -> list[str]:
    """Columns named in the descriptor that the file does not have (or why the file cannot be read)."""
    try:
        if source.reader == "geoparquet":  # the schema is enough: no need to decode 20,000 geometries
            check_size(source)
            path = check_resource_file(source)
            try:
                import pyarrow.parquet as pq

                names = set(pq.read_schema(path).names)
            except Exception as e:  # pyarrow raises several types for a bad file
                raise SourceError(path, None, f"not readable as GeoParquet: {e}") from None
            table = Table(path, [], _lookup_flat, names.__contains__)
        else:
            table = parse_source(source)
        check_columns(table, source.fm, source.descriptor_path)
    except SourceError as e:
        return [str(e)]
    return []
