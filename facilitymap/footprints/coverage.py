"""Coverage: which scene footprints cover each site, and when; plus links to public imagery viewers.

The join is one vectorised STRtree query (sites' representative points against footprint polygons); the
per-site figures are computed with sorts and group-bys over the matched pairs, never a loop over scenes.

Orderings, so that results are deterministic:
- detail rows: site_id, then datetime, then scene id, then collection;
- "least cloudy": lowest cloud_cover (unknown cloud cover ranks after every known value), then the earliest
  datetime, then the smallest scene id;
- "nearest to ASPI's date": smallest absolute time difference to the middle of ASPI's "latest imagery" month
  (the exact midpoint of that month, UTC), then least cloudy, then earliest, then smallest id.
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
        src = next((c for c in [col, *ALIASES.get(col, [])] if c in out.columns), None)
        data[col] = out[src].to_numpy() if src else np.full(len(out), None, dtype=object)
    df = pd.DataFrame(data, index=range(len(out)))
    df["tile"] = df["tile"].astype(object).where(df["tile"].notna(), None)
    df.loc[df["tile"].notna(), "tile"] = df["tile"].dropna().astype(str).str.removeprefix("MGRS-")
    df["id"] = df["id"].astype(str)
    df["collection"] = df["collection"].astype(object).where(df["collection"].notna(), None)
    df["datetime"] = pd.to_datetime(df["datetime"], utc=True, errors="coerce").astype("datetime64[ns, UTC]")
    df["cloud_cover"] = pd.to_numeric(df["cloud_cover"], errors="coerce").astype("float64")
    return gpd.GeoDataFrame(df, geometry=out.geometry.to_numpy(), crs="EPSG:4326")


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
    sorted by site_id, datetime, id, collection."""
    points = site_points(sites)
    scenes = normalise_scenes(scenes)
    p, s = match_pairs(points, scenes.geometry.to_numpy())
    detail = pd.DataFrame(scenes.drop(columns="geometry").iloc[s].reset_index(drop=True))
    detail.insert(0, "site_id", points["site_id"].to_numpy()[p])
    return sort_detail(detail[DETAIL_COLUMNS])


def sort_detail(detail: pd.DataFrame) -> pd.DataFrame:
    """Detail rows in their canonical order (site_id, datetime with undated last, id, collection) and dtypes
    (text as Python str or None, datetime as UTC, cloud_cover as float)."""
    detail = detail[DETAIL_COLUMNS].copy()
    for col in DETAIL_COLUMNS:
        if col == "datetime":
            detail[col] = pd.to_datetime(detail[col], utc=True).astype("datetime64[ns, UTC]")
        elif col == "cloud_cover":
            detail[col] = detail[col].astype("float64")
        else:
            na = detail[col].isna().to_numpy()
            values = detail[col].astype("str").astype(object).to_numpy().copy()
            values[na] = None
            detail[col] = pd.Series(values, index=detail.index, dtype=object)
    t = detail["datetime"].to_numpy("datetime64[ns]").view("int64").copy()
    t[pd.isna(detail["datetime"]).to_numpy()] = _NAT
    order = np.lexsort((_codes(detail["collection"]), _codes(detail["id"]), t, _codes(detail["site_id"])))
    return detail.iloc[order].reset_index(drop=True)


def _codes(col: pd.Series) -> np.ndarray:
    """Integer codes that sort like the values (None/NaN first as "")."""
    values = col.astype(object).where(col.notna(), "").astype(str).to_numpy()
    return pd.factorize(values, sort=True)[0]


# -- the summary ---------------------------------------------------------------------------------------------

def coverage(sites: gpd.GeoDataFrame, scenes: gpd.GeoDataFrame, cloud_threshold: float = 20,
             aspi_dates: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """(summary {site_id: figures}, detail DataFrame) for the sites against the scene footprints.

    `aspi_dates` maps site_id to ASPI's "latest imagery" month "YYYY-MM"; by default it is read from the sites'
    `latest_imagery` column when there is one.
    """
    detail = match_scenes(sites, scenes)
    return summarise(sites, detail, cloud_threshold, aspi_dates), detail


def summarise(sites: gpd.GeoDataFrame, detail: pd.DataFrame, cloud_threshold: float = 20,
              aspi_dates: dict | None = None) -> dict:
    """Per-site figures from the detail table (see the module docstring for the orderings). JSON-ready:
    ISO dates, plain ints and floats, sorted keys within each level."""
    points = site_points(sites)
    lonlat = {sid: (g.x, g.y) if not g.is_empty else (None, None) for sid, g in zip(points["site_id"], points.geometry)}
    if aspi_dates is None:
        aspi_dates = ({str(k): v for k, v in zip(sites["site_id"], sites["latest_imagery"])}
                      if "latest_imagery" in sites.columns else {})
    aspi_dates = {k: v for k, v in aspi_dates.items() if isinstance(v, str) and v}

    summary: dict[str, dict] = {}
    for sid in sorted(lonlat):
        summary[sid] = {"scenes": 0, "undated": 0, "cloud_threshold": float(cloud_threshold),
                        "under_cloud_threshold": 0, "first": None, "last": None, "years": {}, "months": {},
                        "aspi_latest_imagery": aspi_dates.get(sid), "nearest_to_aspi": None}
    if len(detail) == 0:
        return summary

    d = detail.reset_index(drop=True)
    site = d["site_id"].astype(str).to_numpy()
    ts = d["datetime"]
    dated = ts.notna().to_numpy()
    t = ts.to_numpy("datetime64[ns]").view("int64").copy()
    t[~dated] = _NAT
    cc = d["cloud_cover"].to_numpy(dtype="float64")
    cc_key = np.where(np.isnan(cc), np.inf, cc)
    id_key = _codes(d["id"])
    site_key = _codes(d["site_id"])
    year = np.where(dated, ts.dt.year.fillna(0).to_numpy(dtype="int64"), 0)
    month = np.where(dated, year * 100 + ts.dt.month.fillna(0).to_numpy(dtype="int64"), 0)
    under = cc < cloud_threshold  # NaN compares False
    scene = _SceneDicts(d, lonlat)

    # totals per site
    frame = pd.DataFrame({"site": site, "dated": dated, "under": under, "year": year, "month": month, "cc": cc})
    for sid, n, nd, nu in zip(*_agg(frame.groupby("site", sort=True), ["dated", "under"])):
        summary[sid].update(scenes=n, undated=n - nd, under_cloud_threshold=nu)

    # first and last dated scene (detail is sorted by site, datetime, id)
    rows = np.flatnonzero(dated)
    if len(rows):
        s_dated = site[rows]
        first = rows[np.r_[True, s_dated[1:] != s_dated[:-1]]]
        last = rows[np.r_[s_dated[1:] != s_dated[:-1], True]]
        for i in first:
            summary[site[i]]["first"] = scene(i)
        for i in last:
            summary[site[i]]["last"] = scene(i)

    # per year: count, count under threshold, least-cloudy scene
    dy = frame[dated]
    g = dy.groupby(["site", "year"], sort=True)
    stats = g.agg(n=("under", "size"), u=("under", "sum"))
    best = _best(rows, site, site_key, year, cc_key, t, id_key)
    for (sid, y), n, u in zip(stats.index, stats["n"].to_numpy(), stats["u"].to_numpy()):
        summary[sid]["years"][str(int(y))] = {"scenes": int(n), "under_cloud_threshold": int(u),
                                              "best": scene(best[(sid, int(y))])}

    # per month: histogram (count, mean cloud cover) and the least-cloudy scene's id and cloud cover
    stats = dy.groupby(["site", "month"], sort=True).agg(n=("cc", "size"), mean=("cc", "mean"))
    best = _best(rows, site, site_key, month, cc_key, t, id_key)
    ids = d["id"].astype(str).to_numpy()
    for (sid, m), n, mean in zip(stats.index, stats["n"].to_numpy(), stats["mean"].to_numpy()):
        i = best[(sid, int(m))]
        summary[sid]["months"][f"{int(m) // 100:04d}-{int(m) % 100:02d}"] = {
            "scenes": int(n), "mean_cloud": None if np.isnan(mean) else round(float(mean), 1),
            "best": ids[i], "best_cloud": _num(cc[i])}

    # nearest to ASPI's latest-imagery month
    targets = {sid: month_middle(v) for sid, v in aspi_dates.items() if sid in summary}
    targets = {k: v for k, v in targets.items() if v is not None}
    if targets and len(rows):
        target_ns = np.array([int(targets[s].timestamp()) * 10**9 if s in targets else 0 for s in site[rows]],
                             dtype="int64")
        has = np.array([s in targets for s in site[rows]])
        r = rows[has]
        diff = np.abs(t[r] - target_ns[has])
        order = np.lexsort((id_key[r], t[r], cc_key[r], diff, site_key[r]))
        r, diff = r[order], diff[order]
        keep = np.r_[True, site[r][1:] != site[r][:-1]]
        for i, dd in zip(r[keep], diff[keep]):
            summary[site[i]]["nearest_to_aspi"] = {"target": _iso(targets[site[i]]), "days": round(float(dd) / 86400e9, 2),
                                                   "scene": scene(i)}
    return summary


def _agg(groups, cols):
    size = groups.size()
    sums = groups[cols].sum()
    return (list(size.index), [int(v) for v in size], [int(v) for v in sums[cols[0]]],
            [int(v) for v in sums[cols[1]]])


def _best(rows, site, site_key, period, cc_key, t, id_key) -> dict:
    """{(site_id, period): row} of the least-cloudy dated scene per site and period."""
    if len(rows) == 0:
        return {}
    order = rows[np.lexsort((id_key[rows], t[rows], cc_key[rows], period[rows], site_key[rows]))]
    sk, pk = site_key[order], period[order]
    keep = order[np.r_[True, (sk[1:] != sk[:-1]) | (pk[1:] != pk[:-1])]]
    return {(site[i], int(period[i])): int(i) for i in keep}


class _SceneDicts:
    """Scene dicts for detail rows: the fields, plus a viewer link at the site's place and the scene's date."""

    def __init__(self, d: pd.DataFrame, lonlat: dict):
        self.cols = {c: d[c].to_numpy() for c in DETAIL_COLUMNS}
        self.lonlat = lonlat

    def __call__(self, i: int) -> dict:
        c = self.cols
        when = c["datetime"][i]
        lon, lat = self.lonlat.get(str(c["site_id"][i]), (None, None))
        rec = {"id": str(c["id"][i]), "collection": _str(c["collection"][i]),
               "datetime": None if pd.isna(when) else _iso(when), "cloud_cover": _num(c["cloud_cover"][i]),
               "platform": _str(c["platform"][i]), "tile": _str(c["tile"][i]), "url": _str(c["url"][i])}
        rec["viewer"] = scene_viewer_link(lon, lat, rec) if lon is not None else None
        return rec


def _str(v):
    return None if v is None or pd.isna(v) else str(v)


def _num(v):
    return None if v is None or pd.isna(v) else round(float(v), 2)


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
