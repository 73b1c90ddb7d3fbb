"""Data exports of a built map: GeoJSON, CSV and JSON files written byte-for-byte reproducibly.

Every writer takes plain data (GeoDataFrames, dicts) and a path. JSON keys are sorted, floats are rounded where
they are coordinates, and nothing carries a timestamp, so the same inputs give identical bytes.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping

COORD_DECIMALS = 7

def jsonable(value: Any) -> Any:
    """Turn numpy/pandas/shapely values into plain JSON values (NaN and NaT become None)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, shapely.Geometry):
        return geometry_json(value)
    if value is pd.NaT or value is pd.NA:
        return None
    return value


def geometry_json(geom: shapely.Geometry | None) -> dict | None:
    """GeoJSON geometry with coordinates rounded to COORD_DECIMALS (about 1 cm)."""
    if geom is None or geom.is_empty:
        return None
    return mapping(shapely.set_precision(geom, 10 ** -COORD_DECIMALS, mode="pointwise"))


def dumps(obj: Any, indent: int | None = 1) -> str:
    """Deterministic JSON text: sorted keys, UTF-8 characters kept, newline at the end."""
    text = json.dumps(jsonable(obj), ensure_ascii=False, sort_keys=True, indent=indent,
                      separators=(",", ": ") if indent is not None else (",", ":"), allow_nan=False)
    return text + "\n"


def write_json(obj: Any, path: Path, indent: int | None = 1) -> Path:
    path.write_text(dumps(obj, indent), encoding="utf-8", newline="\n")
    return path


def features(gdf: pd.DataFrame, id_field: str | None = None) -> list[dict]:
    """GeoJSON features from a GeoDataFrame, all non-geometry columns as properties."""
    cols = [c for c in gdf.columns if c != "geometry"]
    out = []
    for row in gdf.itertuples(index=False):
        rec = row._asdict()
        geom = rec.pop("geometry", None)
        props = {c: _cell(rec[c]) for c in cols}
        feat = {"type": "Feature", "properties": props, "geometry": geometry_json(geom)}
        if id_field:
            feat["id"] = props[id_field]
        out.append(feat)
    return out


def feature_collection(gdf: pd.DataFrame, id_field: str | None = None) -> dict:
    return {"type": "FeatureCollection", "features": features(gdf, id_field)}


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict, tuple, np.ndarray)):
        return jsonable(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return jsonable(value)


def value_source(props: dict, field: str) -> str | None:
    """Slug of the source whose value the site shows for ``field`` (the first, by priority, that agrees)."""
    value = props.get(field)
    for entry in (props.get("attributes") or {}).get(field, []):
        if entry.get("value") == value:
            return entry.get("source")
    return None


def with_intervals(fc: dict, types: dict[str, str]) -> dict:
    """sites.geojson's copy of the sites: every value of a date-typed field (``types``: field -> type; see
    dates.TYPES) in ``attributes`` also carries ``interval``, its first and last day and precision
    (``dates.for_geojson``: {"start", "end", "precision", "text"}); series stay objects and get none. The values
    themselves stay canonical text (``2018-Q3``), as in the CSVs. Features without such values are shared as they are."""
    from . import dates

    dated = {f for f, t in types.items() if t in dates.TYPES and t != "series"}
    feats = []
    for f in fc.get("features") or []:
        attrs = (f.get("properties") or {}).get("attributes") or {}
        hit = {k: v for k, v in attrs.items() if k in dated and isinstance(v, list)}
        if not hit:
            feats.append(f)
            continue
        new = dict(attrs)
        for k, values in hit.items():
            out = []
            for a in values:
                iv = None
                if isinstance(a, dict) and a.get("value") is not None:
                    try:
                        iv = dates.for_geojson(types[k], a["value"])
                    except dates.DateError:
                        iv = None
                out.append(dict(a, interval=iv) if iv is not None else a)
            new[k] = out
        feats.append(dict(f, properties=dict(f["properties"], attributes=new)))
    return dict(fc, features=feats)


def sites_csv_rows(feats: Iterable[dict], sourced: Iterable[str]) -> list[dict]:
    """One flat row per site: reconciled values with their sources, member records, tiles, claims.

    `sourced`: the fields whose value goes out beside the slug of the source that gives it (``<field>_source``):
    the site fields of the map (`pipeline.MapData.site_value_fields`)."""
    sourced = list(sourced)
    rows = []
    for f in feats:
        p = f["properties"]
        row = {
            "site_id": p["site_id"],
            "kind": p.get("kind"),
            "name": p.get("name"),
            "name_en": p.get("name_en"),
            "name_zh": p.get("name_zh"),
            "name_ug": p.get("name_ug"),
            "lon": p.get("lon"),
            "lat": p.get("lat"),
        }
        for field in sourced:
            row[field] = p.get(field)
            row[f"{field}_source"] = value_source(p, field)
        records = p.get("records") or []
        row["sources"] = ";".join(sorted({r["source"] for r in records}))
        row["records"] = ";".join(f"{r['source']}:{r['record_id']}" for r in records)
        row["n_records"] = len(records)
        row["has_outline"] = bool(f.get("geometry") and f["geometry"]["type"] != "Point")
        row["near_outlines"] = ";".join(f"{n['source']}:{n['record_id']} (held by {n['site_id']})"
                                        for n in p.get("near_outlines") or [])
        row["disagreements"] = ";".join(d.get("field", "") for d in p.get("disagreements") or [])
        imagery = p.get("imagery") or {}
        row["s2_tiles"] = ";".join(imagery.get("s2_tiles") or [])
        row["claims"] = ";".join(p.get("claims") or [])
        rows.append(row)
    return rows


def sites_csv_fields(sourced: Iterable[str]) -> list[str]:
    """The columns of sites.csv in order, for the map's sourced fields (given to the writer, so a map with no site
    still gets its header)."""
    return list(dict.fromkeys(
        ["site_id", "kind", "name", "name_en", "name_zh", "name_ug", "lon", "lat"]
        + [c for f in sourced for c in (f, f"{f}_source")]
        + ["sources", "records", "n_records", "has_outline", "near_outlines", "disagreements", "s2_tiles", "claims"]))
RECORDS_CSV_FIELDS = ["source", "record_id", "row", "site_id", "kind", "name", "lon", "lat", "geometry_type",
                      "attrs", "original"]


def records_csv_rows(records: pd.DataFrame) -> list[dict]:
    """One row per source record with its site, its mapped attributes and the original row (as JSON)."""
    rows = []
    if len(records) == 0:  # no record at all (e.g. every row rejected): the frame may lack columns
        return rows
    for r in records.sort_values(["source", "row"]).itertuples(index=False):
        geom = r.geometry
        pt = geom if geom is None or geom.geom_type == "Point" else geom.representative_point()
        rows.append({
            "source": r.source,
            "record_id": r.record_id,
            "row": int(r.row),
            "site_id": r.site_id,
            "kind": _cell(r.kind),
            "name": _cell(r.name),
            "lon": None if pt is None else round(pt.x, 6),
            "lat": None if pt is None else round(pt.y, 6),
            "geometry_type": None if geom is None else geom.geom_type,
            "attrs": json.dumps(jsonable(r.attrs or {}), ensure_ascii=False, sort_keys=True),
            "original": json.dumps(jsonable(r.original or {}), ensure_ascii=False, sort_keys=True),
        })
    return rows


def write_csv(rows: list[dict], path: Path, fieldnames: list[str] | None = None, raw: bool = False) -> Path:
    """CSV in UTF-8 with a byte-order mark and a header, CRLF line ends (RFC 4180), values that are None left empty.

    CRLF, because Python's csv writer quotes a cell only for the characters of its line terminator: with "\\n"
    alone a carriage return inside a value went out unquoted and split the row for every reader.

    The byte-order mark makes Excel read the file as UTF-8 (without it Excel uses the system code page and garbles
    every name in a non-Latin script); Python's ``utf-8-sig``, pandas and LibreOffice skip it. Text cells that a
    spreadsheet would run as a formula are neutralised (``neutralise``) unless ``raw`` is true (for pipelines
    that want the values exactly as the sources give them: ``facilitymap build --csv-raw``).
    """
    if fieldnames is None:
        fieldnames = list(rows[0].keys()) if rows else []
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\r\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k), raw) for k in fieldnames})
    path.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")
    return path


# OWASP, "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection): a cell that begins with one of
# these characters is run as a formula by Excel, LibreOffice or Google Sheets (tab and CR too: some strip them).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise(text: str) -> str:
    """A text cell made safe to open in a spreadsheet: when it starts with ``= + - @``, a tab or a carriage return,
    a single quote is put in front (OWASP's advice; spreadsheets then show it as text, and the quote marks a value
    that was changed). Text that is a plain number ("-12.5") cannot be a formula and is kept as it is. The
    GeoJSON exports keep every value raw."""
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _csv_value(value: Any, raw: bool = False) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value  # numbers stay numbers: a negative longitude is -80.5, not text
    if not isinstance(value, str):
        value = str(value)
    return value if raw else neutralise(value)
