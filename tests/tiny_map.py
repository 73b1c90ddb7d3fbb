"""Small source folders and map specs written by tests (CSV, GeoJSON, OSM), to build real maps end to end."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

POINT_FIELDS = {"record_id": "id", "name": "name", "lat": "lat", "lon": "lon"}
FORMATS = {"csv": "csv", "geojson": "geojson", "osm": "osm"}


def write_source(sources: Path, slug: str, raw: bytes, *, reader: str = "csv", fields: dict | None = None,
                 filename: str | None = None, layer: str = "sites", fm: dict | None = None,
                 encoding: str = "utf-8") -> Path:
    """``sources/<slug>/`` with one data file and a descriptor whose bytes and sha256 match it."""
    folder = sources / slug
    folder.mkdir(parents=True, exist_ok=True)
    fmt = FORMATS[reader]
    filename = filename or f"data.{fmt}"
    (folder / filename).write_bytes(raw)
    block = {"layer": layer, "reader": reader, "resource": "data", "publisher": "Test publisher",
             "citation": "Test data made in the test", "retrieved": "2024-01-01",
             "upstream": "https://example.org/data", "kind": "detention",
             "fields": POINT_FIELDS if fields is None else fields}
    block.update(fm or {})
    desc = {"name": slug, "title": f"Test source {slug}", "description": "made in a test",
            "licenses": [{"name": "CC0-1.0", "title": "Public domain dedication",
                          "path": "https://creativecommons.org/publicdomain/zero/1.0/"}],
            "sources": [{"title": "Test", "path": "https://example.org/"}],
            "contributors": [{"title": "Test publisher", "role": "publisher"}],
            "resources": [{"name": "data", "path": filename, "format": fmt, "mediatype": "text/plain",
                           "encoding": encoding, "bytes": len(raw),
                           "hash": "sha256:" + hashlib.sha256(raw).hexdigest()}],
            "facilitymap": block}
    (folder / "datapackage.json").write_text(json.dumps(desc, indent=2), encoding="utf-8")
    return folder


def write_spec(maps: Path, name: str, sources: list[str], extra: str = "") -> Path:
    maps.mkdir(parents=True, exist_ok=True)
    path = maps / f"{name}.yaml"
    path.write_text(f"title: Test map {name}\nsources: [{', '.join(sources)}]\n{extra}", encoding="utf-8")
    return path


def csv_bytes(header: list[str], rows: list[list], encoding: str = "utf-8") -> bytes:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)
