"""Coverage: which scene footprints cover each site, and when; plus links to public imagery viewers.

The join is one vectorised STRtree query (sites' representative points against footprint polygons); the
per-site figures are computed with integer sorts and run reductions over the matched pairs, never a loop
over scenes.

Orderings, so that results are deterministic:
- detail rows: site_id, then datetime, then scene id, then collection;
- "least cloudy": lowest cloud_cover (unknown cloud cover ranks after every known value), then the earliest
  datetime, then the smallest scene id;
- "nearest to the reference month": smallest absolute time difference to the middle of the site's reference
  month (a month the map names, e.g. the publisher's "latest imagery used"; the exact midpoint of that month,
  UTC), then least cloudy, then earliest, then smallest id.
Counts "under the cloud threshold" use cloud_cover < threshold; unknown cloud cover is never under it.
"""
from __future__ import annotations

import calendar
from datetime import datetime, timezone
from urllib.parse import quote

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .grid import site_points

SCENE_COLUMNS = ["id", "collection", "datetime", "cloud_cover", "platform", "tile", "url"]
DETAIL_COLUMNS = ["site_id"] + SCENE_COLUMNS
# STAC property names (as stac-geoparquet writes them) accepted for our scene columns when ours are absent
ALIASES = {"cloud_cover": ["eo:cloud_cover"], "tile": ["grid:code", "s2:mgrs_tile", "mgrs:tile"]}
# Landsat items name their footprint by WRS-2 path and row; the tile is "<path><row>" as read_scenes writes it
WRS = ("landsat:wrs_path", "landsat:wrs_row")

_NAT = np.iinfo("int64").max  # sorts undated scenes last


# -- the join ------------------------------------------------------------------------------------------------

def normalise_scenes(scenes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Scenes with every SCENE_COLUMNS column (missing ones empty), datetime as UTC, cloud_cover as float,
    geometry in EPSG:4326."""
    out = scenes
    if out.crs is not None and not out.crs.equals("EPSG:4326"):
        out = out.to_crs("EPSG:4326")
    data = {}
    for col in SCENE_COLUMNS:
        srcs = [c for c in [col, *ALIASES.get(col, [])] if c in out.columns]
        src = srcs[0] if srcs else None
        values = out[src].reset_index(drop=True) if src else pd.Series(np.nan, index=range(len(out)))
        for other in srcs[1:]:  # one file can mix items that name a field differently: take the first present
            values = values.where(values.notna(), out[other].reset_index(drop=True))
        if col == "url" and src is None and "links" in out.columns:
            values = pd.Series([_self_href(v) for v in out["links"]], dtype="str")
        if col == "datetime":
            values = pd.to_datetime(values, utc=True, errors="coerce").astype("datetime64[ns, UTC]")
        elif col == "cloud_cover":
            values = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            values = _text(values)
        data[col] = values
    data["tile"] = data["tile"].str.removeprefix("MGRS-")
    if all(c in out.columns for c in WRS):
        wrs = _text(out[WRS[0]].reset_index(drop=True)) + _text(out[WRS[1]].reset_index(drop=True))
        data["tile"] = data["tile"].where(data["tile"].notna(), wrs)
    return gpd.GeoDataFrame(data, geometry=out.geometry.to_numpy(), crs="EPSG:4326")


def _self_href(links) -> str | None:
    """The href of a STAC item's "self" link (stac-geoparquet keeps the item's links as a list of structs)."""
    if links is None or isinstance(links, float):
        return None
    return next((ln.get("href") for ln in links if isinstance(ln, dict) and ln.get("rel") == "self"), None)


def _text(values: pd.Series) -> pd.Series:
    """pandas "str" dtype (missing as NaN); a no-op for columns that already are."""
    return values if values.dtype == "str" else values.astype("str")


def match_pairs(points: gpd.GeoDataFrame, footprints) -> tuple[np.ndarray, np.ndarray]:
    """(site index, footprint index) of every footprint that contains or touches a site point.

    The tree is built on the few points and queried with the many footprints (one bulk C call), which is
    faster than building a tree of a million polygons.
    """
    pts = points.geometry.to_numpy()
    ok = ~(shapely.is_empty(pts) | shapely.is_missing(pts))
    idx = np.flatnonzero(ok)
    if len(idx) == 0 or len(footprints) == 0:
        return np.empty(0, dtype="int64"), np.empty(0, dtype="int64")
    tree = shapely.STRtree(pts[idx])
    f_idx, p_idx = tree.query(np.asarray(footprints), predicate="intersects")
    return idx[p_idx].astype("int64"), f_idx.astype("int64")


def match_scenes(sites: gpd.GeoDataFrame, scenes: gpd.GeoDataFrame) -> pd.DataFrame:
    """The detail table: one row per (site, scene covering the site's representative point), DETAIL_COLUMNS,
    in canonical order (site_id, datetime with undated last, id, collection)."""
    points = site_points(sites)
    scenes = normalise_scenes(scenes)
    p, s = match_pairs(points, scenes.geometry.to_numpy())
    # Order the pairs by one int64 key (site rank, scene rank): the scene rank (datetime, id, collection) is
    # computed once over the scenes, so the millions of pairs need a single integer sort, not a lexsort.
    n = max(len(scenes), 1)
    scene_order = np.lexsort((_codes(scenes["collection"]), _codes(scenes["id"]), _time_key(scenes["datetime"])))
    scene_rank = np.empty(len(scenes), dtype="int64")
    scene_rank[scene_order] = np.arange(len(scenes))
    site_codes, site_names = _text(points["site_id"]).factorize(sort=True)
    key = site_codes[p].astype("int64") * n + scene_rank[s]
    key.sort()
    s = scene_order[key % n]
    detail = pd.DataFrame(scenes.drop(columns="geometry")).take(s).reset_index(drop=True)
    detail.insert(0, "site_id", pd.Series(site_names, dtype="str").take(key // n).reset_index(drop=True))
    return _canonical(detail)


def sort_detail(detail: pd.DataFrame) -> pd.DataFrame:
    """Detail rows in canonical order and dtypes (as `match_scenes` returns them), from rows in any order."""
    detail = _canonical(detail).reset_index(drop=True)
    if len(detail) == 0:
        return detail
    # rank the distinct scenes (id, collection) by (datetime, id, collection), then sort rows by one int key
    id_codes, coll_codes = _codes(detail["id"]), _codes(detail["collection"])
    scene_codes, _ = pd.factorize(id_codes.astype("int64") * (coll_codes.max() + 1) + coll_codes)
    # codes number scenes in order of first appearance, so a scene's first row is where the running max grows
    first = np.flatnonzero(np.diff(np.r_[-1, np.maximum.accumulate(scene_codes)]) > 0)
    t = _time_key(detail["datetime"])
    scene_order = np.lexsort((coll_codes[first], id_codes[first], t[first]))
    rank = np.empty(len(first), dtype="int64")
    rank[scene_order] = np.arange(len(first))
    key = _codes(detail["site_id"]).astype("int64") * len(first) + rank[scene_codes]
    return detail.take(np.argsort(key, kind="stable")).reset_index(drop=True)


def _canonical(detail: pd.DataFrame) -> pd.DataFrame:
    """DETAIL_COLUMNS with fixed dtypes: text as pandas "str" (missing = NaN), datetime UTC, cloud_cover float."""
    out = {}
    for col in DETAIL_COLUMNS:
        if col == "datetime":
            out[col] = pd.to_datetime(detail[col], utc=True).astype("datetime64[ns, UTC]")
        elif col == "cloud_cover":
            out[col] = detail[col].astype("float64")
        else:
            out[col] = _text(detail[col])
    return pd.DataFrame(out, index=detail.index)


def _codes(col: pd.Series) -> np.ndarray:
    """Integer codes that sort like the values (missing sorts first, as "")."""
    codes, _ = _text(col).fillna("").factorize(sort=True)
    return codes


def _time_key(col: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch; undated as the largest int64 so it sorts last."""
    t = pd.to_datetime(col, utc=True).astype("datetime64[ns, UTC]")
    key = t.to_numpy("datetime64[ns]").view("int64").copy()
    key[t.isna().to_numpy()] = _NAT
    return key


# -- the summary ---------------------------------------------------------------------------------------------

def coverage(sites: gpd.GeoDataFrame, scenes: gpd.GeoDataFrame, cloud_threshold: float = 20,
             reference_months: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """(summary {site_id: figures}, detail DataFrame) for the sites against the scene footprints.

    `reference_months` maps site_id to the site's reference month "YYYY-MM" (the "nearest" scene is picked
    against it); by default it is read from the sites' `reference_month` column when there is one.
    """
    detail = match_scenes(sites, scenes)
    return summarise(sites, detail, cloud_threshold, reference_months), detail


def summarise(sites: gpd.GeoDataFrame, detail: pd.DataFrame, cloud_threshold: float = 20,
              reference_months: dict | None = None) -> dict:
    """Per-site figures from a detail table in canonical order (as `match_scenes` / `sort_detail` return it).

    Every site is a key (sorted). JSON-ready: ISO dates, plain ints, floats and None. Because detail rows are
    sorted by site, then datetime, then id, each (site, year) and (site, month) group is a contiguous run, and
    the first row of a run at the run's lowest cloud cover is the earliest, then smallest-id, such scene. A
    detail table in another order is sorted first.
    """
    points = site_points(sites)
    lonlat = {sid: (g.x, g.y) if not g.is_empty else (None, None) for sid, g in zip(points["site_id"], points.geometry)}
    if reference_months is None:
        reference_months = ({str(k): v for k, v in zip(sites["site_id"], sites["reference_month"])}
                            if "reference_month" in sites.columns else {})
    reference_months = {k: v for k, v in reference_months.items() if isinstance(v, str) and v}

    summary: dict[str, dict] = {}
    for sid in sorted(lonlat):
        summary[sid] = {"scenes": 0, "undated": 0, "cloud_threshold": float(cloud_threshold),
                        "under_cloud_threshold": 0, "first": None, "last": None, "years": {}, "months": {},
                        "reference_month": reference_months.get(sid), "nearest_to_reference": None}
    if len(detail) == 0:
        return summary

    d = detail.reset_index(drop=True)
    codes, names = _text(d["site_id"]).factorize(sort=False)  # sorted rows: codes ascend
    names = [str(x) for x in names]
    t = _time_key(d["datetime"])
    step = np.diff(codes)
    if names != sorted(names) or (step < 0).any() or ((np.diff(t) < 0) & (step == 0)).any():
        return summarise(sites, sort_detail(d), cloud_threshold, reference_months)  # not in canonical order
    dated = t != _NAT
    cc = d["cloud_cover"].to_numpy(dtype="float64")
    known = ~np.isnan(cc)
    under = cc < cloud_threshold  # NaN compares False
    when = d["datetime"]
    year = when.dt.year.fillna(0).to_numpy(dtype="int64")
    month = year * 100 + when.dt.month.fillna(0).to_numpy(dtype="int64")
    scene = _SceneDicts(d, t, lonlat)

    # totals per site
    k = len(names)
    total = np.bincount(codes, minlength=k)
    n_dated = np.bincount(codes, weights=dated, minlength=k).astype("int64")
    n_under = np.bincount(codes, weights=under, minlength=k).astype("int64")
    for c, sid in enumerate(names):
        summary[sid].update(scenes=int(total[c]), undated=int(total[c] - n_dated[c]),
                            under_cloud_threshold=int(n_under[c]))

    rows = np.flatnonzero(dated)
    if len(rows) == 0:
        return summary
    # first and last dated scene per site
    starts = _run_starts(codes[rows])
    ends = np.r_[starts[1:], len(rows)] - 1
    firsts, lasts = scene.many(rows[starts]), scene.many(rows[ends])
    for i, a, b in zip(rows[starts], firsts, lasts):
        summary[names[codes[i]]].update(first=a, last=b)

    # per year: count, count under threshold, least-cloudy scene
    starts, counts, best = _runs(rows, codes, year, cc)
    n_u = np.add.reduceat(under[rows], starts)
    first = rows[starts]
    for c, y, n, u, sc in zip(codes[first].tolist(), year[first].tolist(), counts.tolist(), n_u.tolist(),
                              scene.many(best)):
        summary[names[c]]["years"][str(y)] = {"scenes": n, "under_cloud_threshold": int(u), "best": sc}

    # per month: histogram (count, mean of the known cloud covers) and the least-cloudy scene's id and cloud cover
    starts, counts, best = _runs(rows, codes, month, cc)
    n_known = np.add.reduceat(known[rows], starts)
    sums = np.add.reduceat(np.where(known, cc, 0.0)[rows], starts)
    first = rows[starts]
    for c, m, n, nk, sm, bid, bc in zip(codes[first].tolist(), month[first].tolist(), counts.tolist(),
                                        n_known.tolist(), sums.tolist(), d["id"].take(best).tolist(),
                                        cc[best].tolist()):
        summary[names[c]]["months"][f"{m // 100:04d}-{m % 100:02d}"] = {
            "scenes": n, "mean_cloud": round(sm / nk, 1) if nk else None, "best": str(bid),
            "best_cloud": None if bc != bc else round(bc, 2)}

    # nearest to the middle of the reference month: time difference, then least cloudy, then row order
    target = np.full(k, _NAT, dtype="int64")
    labels = {}
    for c, sid in enumerate(names):
        mid = month_middle(reference_months.get(sid))
        if mid is not None:
            target[c] = int(mid.timestamp()) * 10**9
            labels[c] = _iso(mid)
    r = rows[target[codes[rows]] != _NAT]
    if len(r):
        diff = np.abs(t[r] - target[codes[r]])
        cc_key = np.where(known, cc, np.inf)[r]
        # per site: the rows at the smallest time difference, of those the least cloudy, of those the first
        # (rows are in datetime-then-id order); O(n) with run reductions instead of a sort
        starts = _run_starts(codes[r])
        run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(r)]))
        cand = np.flatnonzero(diff == np.minimum.reduceat(diff, starts)[run])
        cstarts = _run_starts(run[cand])
        lowest = np.minimum.reduceat(cc_key[cand], cstarts)
        cand = cand[cc_key[cand] == lowest[np.repeat(np.arange(len(cstarts)), np.diff(np.r_[cstarts, len(cand)]))]]
        pick = cand[_run_starts(run[cand])]
        for i, dd, sc in zip(r[pick].tolist(), diff[pick].tolist(), scene.many(r[pick])):
            summary[names[codes[i]]]["nearest_to_reference"] = {
                "target": labels[codes[i]], "days": round(dd / 86400e9, 2), "scene": sc}
    return summary


def _run_starts(keys: np.ndarray) -> np.ndarray:
    """Positions where a sorted key array changes value (including 0)."""
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])


def _runs(rows: np.ndarray, codes: np.ndarray, period: np.ndarray, cc: np.ndarray):
    """(run starts in `rows`, run lengths, least-cloudy row of each run) for contiguous (site, period) runs.

    The least-cloudy row is the first row of the run whose cloud cover equals the run's minimum (unknown as
    +inf), so ties go to the earlier row, i.e. the earlier datetime, then the smaller id. O(n), no sort.
    """
    key = codes[rows].astype("int64") * 1_000_000 + period[rows]
    starts = _run_starts(key)
    counts = np.diff(np.r_[starts, len(rows)])
    cc_key = np.where(np.isnan(cc[rows]), np.inf, cc[rows])
    lowest = np.minimum.reduceat(cc_key, starts)
    run_id = np.repeat(np.arange(len(starts)), counts)
    hits = np.flatnonzero(cc_key == lowest[run_id])
    best = rows[hits[_run_starts(run_id[hits])]]
    return starts, counts, best


class _SceneDicts:
    """Scene dicts for detail rows: the fields, plus a viewer link at the site's place and the scene's date."""

    def __init__(self, d: pd.DataFrame, t: np.ndarray, lonlat: dict):
        self.d = d
        self.t = t
        self.lonlat = lonlat

    def many(self, rows: np.ndarray) -> list[dict]:
        rows = np.asarray(rows, dtype="int64")
        cols = {c: self.d[c].take(rows).tolist() for c in DETAIL_COLUMNS if c not in ("datetime",)}
        out = []
        for j, i in enumerate(rows):
            ti = self.t[i]
            lon, lat = self.lonlat.get(str(cols["site_id"][j]), (None, None))
            rec = {"id": str(cols["id"][j]), "collection": _str(cols["collection"][j]),
                   "datetime": None if ti == _NAT else _iso(pd.Timestamp(int(ti), unit="ns", tz="UTC")),
                   "cloud_cover": _num(cols["cloud_cover"][j]), "platform": _str(cols["platform"][j]),
                   "tile": _str(cols["tile"][j]), "url": _str(cols["url"][j])}
            rec["viewer"] = scene_viewer_link(lon, lat, rec) if lon is not None else None
            out.append(rec)
        return out


def _str(v):
    return None if v is None or pd.isna(v) else str(v)


def _num(v):
    return None if v is None or v != v else round(float(v), 2)


def _iso(ts) -> str:
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def month_middle(value: str | None) -> datetime | None:
    """The exact middle (UTC) of a "YYYY-MM" month, e.g. 2019-05 -> 2019-05-16T12:00:00Z; None if unparseable."""
    try:
        y, m = (int(x) for x in str(value).split("-")[:2])
        days = calendar.monthrange(y, m)[1]
    except (ValueError, TypeError, calendar.IllegalMonthError):
        return None
    start = datetime(y, m, 1, tzinfo=timezone.utc).timestamp()
    return datetime.fromtimestamp(start + days * 86400 / 2, tz=timezone.utc)


# -- links ---------------------------------------------------------------------------------------------------

COPERNICUS = "https://browser.dataspace.copernicus.eu/"
EO_BROWSER = "https://apps.sentinel-hub.com/eo-browser/"


def _day_range(date: str) -> tuple[str, str]:
    """fromTime/toTime covering a "YYYY-MM-DD" day or a "YYYY-MM" month (or the day of an ISO datetime)."""
    parts = date[:10].split("-")
    y, m = int(parts[0]), int(parts[1])
    if len(parts) >= 3 and parts[2]:
        d0 = d1 = int(parts[2])
    else:
        d0, d1 = 1, calendar.monthrange(y, m)[1]
    return f"{y:04d}-{m:02d}-{d0:02d}T00:00:00.000Z", f"{y:04d}-{m:02d}-{d1:02d}T23:59:59.999Z"


def _q(v: str) -> str:
    return quote(v, safe="")


def copernicus_browser_link(lon: float, lat: float, date: str | None = None, dataset: str = "S2_L2A_CDAS",
                            zoom: int = 15) -> str:
    """Copernicus Browser at a place (and a day or month when given) for a dataset (S2_L2A_CDAS, S2_L1C_CDAS)."""
    url = f"{COPERNICUS}?zoom={zoom}&lat={lat:.6f}&lng={lon:.6f}&themeId=DEFAULT-THEME&datasetId={dataset}"
    if date:
        t0, t1 = _day_range(date)
        url += f"&fromTime={_q(t0)}&toTime={_q(t1)}"
    return url


def eo_browser_link(lon: float, lat: float, date: str | None = None, dataset: str | None = None,
                    zoom: int = 15) -> str:
    """Sentinel Hub EO Browser at a place, optionally for a dataset (S2L2A, AWS_LOTL2) and day or month."""
    url = f"{EO_BROWSER}?zoom={zoom}&lat={lat:.6f}&lng={lon:.6f}&themeId=DEFAULT-THEME"
    if dataset:
        url += f"&datasetId={dataset}"
    if date:
        t0, t1 = _day_range(date)
        url += f"&fromTime={_q(t0)}&toTime={_q(t1)}"
    return url


def imagery_links(lon: float, lat: float, date: str | None = None) -> list[dict]:
    """"Search imagery here" links that need no harvest: [{label, url}], in a fixed order.

    `date` ("YYYY-MM" or "YYYY-MM-DD") narrows the viewers that take a time range (Copernicus Browser,
    EO Browser). EarthExplorer has no documented URL for a location, so it opens on its search page.
    """
    lon, lat = float(lon), float(lat)
    return [
        {"label": "Copernicus Browser (Sentinel-2 L2A)", "url": copernicus_browser_link(lon, lat, date)},
        {"label": "EO Browser (Sentinel Hub)", "url": eo_browser_link(lon, lat, date, "S2L2A" if date else None)},
        {"label": "Esri World Imagery Wayback",
         "url": f"https://livingatlas.arcgis.com/wayback/#mapCenter={lon:.6f}%2C{lat:.6f}%2C17"},
        {"label": "Google Earth Web", "url": f"https://earth.google.com/web/@{lat:.6f},{lon:.6f},0a,1500d,35y,0h,0t,0r"},
        {"label": "USGS EarthExplorer (enter the coordinates)", "url": "https://earthexplorer.usgs.gov/"},
    ]


def scene_viewer_link(lon: float, lat: float, scene: dict) -> str | None:
    """A public viewer opened at the site on the scene's day, when the viewer carries that collection:
    Sentinel-2 in Copernicus Browser, Landsat 8/9 Level-2 in EO Browser; otherwise None."""
    when = scene.get("datetime")
    if not when or lon is None or lat is None:
        return None
    coll = (scene.get("collection") or "").lower()
    platform = (scene.get("platform") or "").lower()
    day = str(when)[:10]
    if coll.startswith("sentinel-2") or platform.startswith("sentinel-2"):
        dataset = "S2_L1C_CDAS" if "l1c" in coll else "S2_L2A_CDAS"
        return copernicus_browser_link(lon, lat, day, dataset)
    if platform in ("landsat-8", "landsat-9") and ("l2" in coll or not coll):
        return eo_browser_link(lon, lat, day, "AWS_LOTL2")
    return None
