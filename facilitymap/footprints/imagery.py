"""Imagery for a build: join the scene sources with the sites (in memory or on Dask), read the web images of local
rasters, and shape what the page needs.

The page stays small: each scene the site panels can show is stored once (`items`, `footprints`: simplified,
rounded geometry), keyed by scene id, and each site carries only ids (its month histogram, best scenes, rasters).
A scene id is assumed unique across the scene sources of one map (STAC ids of different collections and raster
file stems do not collide in practice); the first source's scene wins when they do.
"""
from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as pads
import shapely

from .coverage import scene_viewer_link, sort_detail, summarise

DETAIL_JSON_MAX_ROWS = 200_000  # more (site, scene) pairs than this go to coverage.parquet, not coverage.json
FOOTPRINT_DECIMALS = 5  # about 1 m
FOOTPRINT_TOLERANCE = 0.002  # simplification, as a share of the footprint's larger side
_LAT, _LON = 2.5, 1.5  # a place no link is made for: stands in for the site in viewer templates


# -- the join --------------------------------------------------------------------------------------------------

def join_scene_sources(sites: gpd.GeoDataFrame, sources: list, cloud_threshold: float, reference_months: dict,
                       scheduler: str | None = None, extra_ids: set[str] = frozenset()
                       ) -> tuple[pd.DataFrame, dict, dict, dict]:
    """(detail, summary, stats per source slug, {scene id: footprint} of the scenes the summary names and of
    `extra_ids`).

    Without `scheduler` every source is read into memory (footprints.stac.read_scenes) and joined at once; with
    it, each source's GeoParquet is joined on the Dask cluster at that address (footprints.distributed) and only
    the footprints the page needs are read back.
    """
    if scheduler is None:
        from .coverage import coverage
        from .stac import read_scenes

        frames, stats = [], {}
        for s in sources:
            frames.append(read_scenes(s.folder))
            stats[s.slug] = {"rows": len(frames[-1]), "records": len(frames[-1]), "rejected": []}
        scenes = pd.concat(frames, ignore_index=True)
        summary, detail = coverage(sites, scenes, cloud_threshold, reference_months)
        wanted = referenced_ids(summary) | set(extra_ids)
        keep = scenes[scenes["id"].isin(wanted)].drop_duplicates("id")
        geoms = dict(zip(keep["id"], keep.geometry))
        return detail, summary, stats, geoms

    import pyarrow.parquet as pq

    from .distributed import match_scenes_dask

    parts, stats = [], {}
    for s in sources:
        n = pq.ParquetFile(s.path).metadata.num_rows
        stats[s.slug] = {"rows": n, "records": n, "rejected": []}
        parts.append(match_scenes_dask(sites, s.path, scheduler))
    detail = sort_detail(pd.concat(parts, ignore_index=True))
    summary = summarise(sites, detail, cloud_threshold, reference_months)
    geoms = read_footprints([s.path for s in sources], referenced_ids(summary) | set(extra_ids))
    return detail, summary, stats, geoms


def read_footprints(paths: list[Path], ids: set[str]) -> dict:
    """{scene id: shapely geometry} for the given ids, read from GeoParquet files (id and geometry columns only)."""
    out: dict = {}
    if not ids:
        return out
    for path in paths:
        ds = pads.dataset(str(path), format="parquet")
        t = ds.to_table(columns=["id", "geometry"], filter=pc.field("id").isin(sorted(ids)))
        for i, wkb in zip(t.column("id").to_pylist(), t.column("geometry").to_pylist()):
            if i not in out and wkb is not None:
                out[i] = shapely.from_wkb(wkb)
    return out


# -- local rasters ---------------------------------------------------------------------------------------------

def read_rasters(sources: list) -> dict:
    """{raster id: {source, datetime, bounds, image (a data: URI of the web PNG)}} for the scene sources that
    carry web images (written by `facilitymap footprints raster`). The PNGs were checked against their sha256
    by validation before the build."""
    out: dict = {}
    for s in sources:
        path = s.path
        names = set(pads.dataset(str(path), format="parquet").schema.names)
        if not {"image", "image_bounds"} <= names:
            continue
        t = pd.read_parquet(path, columns=["id", "datetime", "image", "image_bounds"])
        for row in t.itertuples(index=False):
            if not isinstance(row.image, str) or not row.image or row.id in out:
                continue
            png = (Path(s.folder) / row.image).read_bytes()
            bounds = json.loads(row.image_bounds) if isinstance(row.image_bounds, str) else row.image_bounds
            when = pd.Timestamp(row.datetime) if not pd.isna(row.datetime) else None
            out[str(row.id)] = {
                "source": s.slug,
                "datetime": None if when is None else when.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
                "bounds": [[float(v) for v in corner] for corner in bounds],
                "image": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            }
    return out


def rasters_by_site(detail: pd.DataFrame | None, rasters: dict) -> dict[str, list[str]]:
    """{site_id: [raster ids covering the site, by date then id]}; the detail table is already in that order."""
    if detail is None or not rasters:
        return {}
    hit = detail[detail["id"].isin(list(rasters))]
    out: dict[str, list[str]] = {}
    for sid, rid in zip(hit["site_id"].tolist(), hit["id"].tolist()):
        ids = out.setdefault(str(sid), [])
        if rid not in ids:
            ids.append(str(rid))
    return out


# -- the page --------------------------------------------------------------------------------------------------

def referenced_ids(summary: dict) -> set[str]:
    """Every scene id a site summary names: first, last, best per year and per month, nearest to the reference month."""
    ids: set[str] = set()
    for s in summary.values():
        for k in ("first", "last"):
            if s.get(k):
                ids.add(s[k]["id"])
        for y in s.get("years", {}).values():
            if y.get("best"):
                ids.add(y["best"]["id"])
        for m in s.get("months", {}).values():
            if m.get("best"):
                ids.add(m["best"])
        near = s.get("nearest_to_reference")
        if near and near.get("scene"):
            ids.add(near["scene"]["id"])
    return ids


def slim_summary(summary: dict) -> dict:
    """A site's coverage summary for the page: every scene dict replaced by its id, and each month as
    [scenes, best_cloud, best id] (the page looks scenes up once in payload["scenes"]["items"])."""
    out = copy.deepcopy(summary)
    for k in ("first", "last"):
        if out.get(k):
            out[k] = out[k]["id"]
    for y in out.get("years", {}).values():
        if y.get("best"):
            y["best"] = y["best"]["id"]
    near = out.get("nearest_to_reference")
    if near and near.get("scene"):
        near["scene"] = near["scene"]["id"]
    out["months"] = {m: [v["scenes"], v.get("best_cloud"), v.get("best")] for m, v in out.get("months", {}).items()}
    return out


def slim_sites(fc: dict) -> dict:
    """The sites FeatureCollection for the page: sites.geojson's, with slim scene summaries."""
    feats = []
    for f in fc["features"]:
        im = (f["properties"].get("imagery") or {})
        if not im.get("scenes"):
            feats.append(f)
            continue
        props = dict(f["properties"])
        props["imagery"] = dict(im, scenes=slim_summary(im["scenes"]))
        feats.append(dict(f, properties=props))
    return dict(fc, features=feats)


_DAY = "1901-02-03"  # a day no scene has: stands in for the scene's day in viewer templates


def viewer_template(scene: dict) -> str | None:
    """The public-viewer link of a scene as a template: "{lat}", "{lon}" (the site, 6 decimals, as
    coverage.scene_viewer_link writes them) and "{day}" (the scene's YYYY-MM-DD), so that a few templates serve
    every scene at every site."""
    url = scene_viewer_link(_LON, _LAT, dict(scene, datetime=f"{_DAY}T00:00:00Z"))
    if url is None:
        return None
    return (url.replace(f"lat={_LAT:.6f}", "lat={lat}").replace(f"lng={_LON:.6f}", "lng={lon}")
            .replace(_DAY, "{day}"))


def footprint_json(geom) -> dict | None:
    """A footprint for the page: simplified by a small share of its size, coordinates rounded (GeoJSON)."""
    if geom is None or geom.is_empty:
        return None
    x0, y0, x1, y1 = geom.bounds
    tol = FOOTPRINT_TOLERANCE * max(x1 - x0, y1 - y0)
    g = shapely.set_precision(shapely.simplify(geom, tol, preserve_topology=True), 10 ** -FOOTPRINT_DECIMALS)
    if g.is_empty:
        g = geom
    mapping = shapely.geometry.mapping(g)
    return json.loads(json.dumps(mapping, allow_nan=False))  # tuples -> lists


def page_scenes(fc: dict, detail: pd.DataFrame, geoms: dict, rasters: dict) -> dict:
    """payload["scenes"] for the scenes the site summaries name, and the local rasters:

    - "items": {id: {collection, datetime, cloud_cover, platform, tile, url, viewer}}, where `viewer` is an index
      into "viewers" (templates, see `viewer_template`) and `url` is either the URL or an index into "urls"
      (templates with "{id}", for the many STAC self links that end in the item id);
    - "footprints": {id: GeoJSON geometry, simplified and rounded};
    - "rasters": {id: {source, datetime, bounds, image (data: URI)}}.
    """
    wanted = set()
    for f in fc["features"]:
        sc = (f["properties"].get("imagery") or {}).get("scenes")
        if sc:
            wanted |= referenced_ids({"": sc})
    wanted |= set(rasters)
    rows = detail[detail["id"].isin(sorted(wanted))].drop_duplicates("id")
    recs = {}
    for r in rows.itertuples(index=False):
        when = None if pd.isna(r.datetime) else r.datetime.strftime("%Y-%m-%dT%H:%M:%SZ")
        recs[str(r.id)] = {"collection": _s(r.collection), "datetime": when,
                           "cloud_cover": None if pd.isna(r.cloud_cover) else round(float(r.cloud_cover), 2),
                           "platform": _s(r.platform), "tile": _s(r.tile), "url": _s(r.url)}
    viewers = sorted({v for v in (viewer_template(rec) for rec in recs.values()) if v})
    urls = sorted({_url_template(i, rec["url"]) for i, rec in recs.items() if _url_template(i, rec["url"])})
    v_index, u_index = {v: k for k, v in enumerate(viewers)}, {u: k for k, u in enumerate(urls)}
    items = {}
    for i, rec in recs.items():
        v, u = viewer_template(rec), _url_template(i, rec["url"])
        items[i] = dict(rec, viewer=v_index.get(v), url=u_index[u] if u else rec["url"])
    footprints = {}
    for i in sorted(items):
        fj = footprint_json(geoms.get(i))
        if fj is not None:
            footprints[i] = fj
    return {"items": items, "footprints": footprints, "viewers": viewers, "urls": urls,
            "rasters": {k: rasters[k] for k in sorted(rasters)}}


def _url_template(scene_id: str, url: str | None) -> str | None:
    """"https://.../items/{id}" when the URL ends with "/<scene id>", else None (the URL is kept whole)."""
    if url and scene_id and url.endswith("/" + scene_id) and "{" not in url:
        return url[: -len(scene_id)] + "{id}"
    return None


def _s(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or pd.isna(v) else str(v)


def write_detail_parquet(detail: pd.DataFrame, path: Path) -> None:
    """The (site, scene) detail table as Parquet (no index, zstd), for harvests too large for JSON."""
    detail.to_parquet(path, index=False, compression="zstd")


# -- "search imagery here" links, rebuilt in the page ------------------------------------------------------------

_LINK_LON, _LINK_LAT, _LINK_MONTH = 11.111111, 22.222222, "1901-02"  # stand-ins no site link contains
_LINK_DATE = re.compile(r"[12][0-9]{3}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?")  # dates map.js rebuilds alike


def link_templates() -> dict:
    """coverage.imagery_links as templates, so the page rebuilds every site's links from its lon/lat and date:
    {"plain": [[label, url]], "dated": [[label, url]]}, where a url holds "{lat}", "{lon}" (6 decimals, as
    imagery_links writes them) and, when dated, "{from}", "{to}" (the URL-quoted ends of the day or month)."""
    from .coverage import _day_range, _q, imagery_links

    t0, t1 = (_q(t) for t in _day_range(_LINK_MONTH))

    def tpl(url: str) -> str:
        return (url.replace(f"{_LINK_LAT:.6f}", "{lat}").replace(f"{_LINK_LON:.6f}", "{lon}")
                .replace(t0, "{from}").replace(t1, "{to}"))

    return {"plain": [[ln["label"], tpl(ln["url"])] for ln in imagery_links(_LINK_LON, _LINK_LAT, None)],
            "dated": [[ln["label"], tpl(ln["url"])] for ln in imagery_links(_LINK_LON, _LINK_LAT, _LINK_MONTH)]}


def fill_links(templates: dict, lon, lat, date: str | None) -> list[dict]:
    """The links `link_templates` stand for at one place and date; the page's map.js does the same."""
    from .coverage import _day_range, _q

    out = []
    for label, url in templates["dated" if date else "plain"]:
        url = url.replace("{lat}", f"{float(lat):.6f}").replace("{lon}", f"{float(lon):.6f}")
        if date:
            t0, t1 = _day_range(date)
            url = url.replace("{from}", _q(t0)).replace("{to}", _q(t1))
        out.append({"label": label, "url": url})
    return out


def slim_links(props: dict, templates: dict) -> dict | None:
    """{"t": date or None} when a site's imagery links are exactly the templates filled at its lon/lat and that
    date (the page rebuilds them), else None (the page keeps the links whole)."""
    im = props.get("imagery") or {}
    links = im.get("links")
    if not isinstance(links, list) or props.get("lon") is None or props.get("lat") is None:
        return None
    if any(str(props[k]).startswith("-0") and float(props[k]) == 0 for k in ("lon", "lat")):
        return None  # -0.000000 in Python, 0.000000 in JavaScript
    dates = []
    for d in (im.get("reference_month"), None):
        if d not in dates and (d is None or (isinstance(d, str) and _LINK_DATE.fullmatch(d))):
            dates.append(d)
    for d in dates:
        try:
            if fill_links(templates, props["lon"], props["lat"], d) == links:
                return {"t": d}
        except (ValueError, TypeError, IndexError):
            continue
    return None
