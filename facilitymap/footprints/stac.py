"""Harvest scene footprints from a public STAC API into a source folder (GeoParquet + descriptor + README).

Why this shape: a region is harvested once and joined locally, so the harvest must survive a flaky API and an
interrupted run. The date range is split into monthly windows; each window is paged with pystac-client's own
paging; after every page the kept items and the next link are checkpointed into `<out>/.<slug>.partial/`, so a
rerun continues where the last one stopped. The source folder itself is only ever replaced whole: written in a
temp folder beside it, fsynced, then renamed into place.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import requests
from pystac.link import Link
from pystac_client import Client, ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from urllib3 import Retry

from ..errors import FacilitymapError
from ..registry import file_sha256

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
APIS = {
    "earth-search": (EARTH_SEARCH, ["sentinel-2-c1-l2a", "landsat-c2-l2"]),
    "planetary-computer": (PLANETARY_COMPUTER, ["sentinel-2-l2a", "landsat-c2-l2"]),
}
PUBLISHERS = {EARTH_SEARCH: "Element 84 (Earth Search)", PLANETARY_COMPUTER: "Microsoft Planetary Computer"}
STALE_TOKEN_STATUSES = (400, 404, 410, 422)  # a resumed next link the API rejects: restart that window
RETRY_STATUSES = (429, 500, 502, 503, 504)  # 429: Planetary Computer throttles
KEEP_PROPERTIES = ("datetime", "start_datetime", "end_datetime", "eo:cloud_cover", "platform", "grid:code",
                   "s2:mgrs_tile", "landsat:wrs_path", "landsat:wrs_row")
SENTINEL_LICENCE = {"name": "copernicus-sentinel-data", "title": "Copernicus Sentinel data, free and open licence",
                    "path": "https://sentinels.copernicus.eu/documents/247904/690755/Sentinel_Data_Legal_Notice"}
LANDSAT_LICENCE = {"name": "usgs-public-domain", "title": "USGS Landsat data, public domain",
                   "path": "https://www.usgs.gov/information-policies-and-instructions/copyrights-and-credits"}
RESOURCE = "scenes.parquet"
# Asked of APIs that implement the fields extension: a kept item is ~1 KB instead of 10-30 KB with its assets.
SEARCH_FIELDS = ["type", "stac_version", "id", "collection", "geometry", "bbox", "links",
                 *[f"properties.{k}" for k in KEEP_PROPERTIES], "-assets"]


class HarvestError(FacilitymapError):
    """A harvest that cannot finish; the previous source folder (if any) is untouched."""


class FetchError(HarvestError):
    """A request that kept failing: names the URL, the HTTP status (None: no usable response) and the attempts."""

    def __init__(self, url: str, status: int | None, attempts: int, detail: str):
        self.url, self.status, self.attempts, self.detail = url, status, attempts, detail
        what = f"HTTP {status}" if status is not None else "no valid response"
        super().__init__(f"{url}: {what} after {attempts} attempt{'s' if attempts != 1 else ''}: {detail[:300]}")


class RepeatedPageError(HarvestError):
    """The API handed back a page already seen (same next link or same items): paging would never end."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: the API repeats a page ({reason}); stopped instead of looping")


# -- HTTP -----------------------------------------------------------------------------------------------------
class _HarvestIO(StacApiIO):
    """StacApiIO with a urllib3 Retry adapter (statuses, timeouts, connection errors) plus a page-level retry for
    bodies that arrive truncated or as invalid JSON, which urllib3 cannot see."""

    def __init__(self, retries: int, backoff: float, timeout: float):
        retry = Retry(total=retries, connect=retries, read=retries, status=retries, other=0,
                      backoff_factor=backoff, backoff_jitter=0.0, status_forcelist=RETRY_STATUSES,
                      allowed_methods=None, raise_on_status=False, respect_retry_after_header=True)
        super().__init__(timeout=timeout, max_retries=retry)
        self.retries, self.backoff = retries, backoff
        self._last_attempts = 1
        self.session.hooks["response"].append(self._on_response)

    def _on_response(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        history = getattr(getattr(resp.raw, "retries", None), "history", ()) or ()
        self._last_attempts = len(history) + 1

    def read_json(self, source: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        url = source.href if isinstance(source, Link) else str(source)
        detail = ""
        for attempt in range(1, self.retries + 2):
            self._last_attempts = 1
            try:
                text = self.read_text(source, *args, **kwargs)
                page = json.loads(text)
                if not isinstance(page, dict):
                    raise ValueError("not a JSON object")
                return page
            except APIError as err:
                status = getattr(err, "status_code", None)
                cause = err.__context__
                if status is not None:
                    raise FetchError(url, status, self._last_attempts, str(err)) from None
                if not isinstance(cause, (requests.exceptions.ChunkedEncodingError,
                                          requests.exceptions.ContentDecodingError)):
                    # timeouts and connection errors: urllib3 already retried them all
                    raise FetchError(url, None, self.retries + 1, str(err)) from None
                detail = f"truncated body ({cause})"
            except ValueError as err:  # json.JSONDecodeError is a ValueError
                detail = f"invalid JSON ({err})"
            if attempt <= self.retries:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        raise FetchError(url, 200, self.retries + 1, detail)


# -- windows, checkpoint, items -------------------------------------------------------------------------------
def month_windows(start: str, end: str) -> list[str]:
    """STAC datetime intervals, one per calendar month, covering start..end (dates, both inclusive)."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if last < first:
        raise ValueError(f"end {end} is before start {start}")
    out, cur = [], first
    while cur <= last:
        nxt = (cur.replace(day=1) + timedelta(days=32)).replace(day=1)
        stop = min(nxt - timedelta(days=1), last)
        out.append(f"{cur.isoformat()}T00:00:00Z/{stop.isoformat()}T23:59:59.999999Z")
        cur = nxt
    return out


WORLD = (-180.0, -90.0, 180.0, 90.0)


def world_footprint(geometry: dict) -> tuple[dict, bool]:
    """The footprint cut to longitude ±180 / latitude ±90, and whether it had to be cut.

    Real catalogues give footprints a hair outside the world: Earth Search's Copernicus DEM tile at the antimeridian
    reaches longitude -180.0014 (the outer half of its edge pixels), which a source reader rejects as out of range."""
    import shapely
    from shapely.geometry import box, mapping, shape

    try:
        geom = shape(geometry)
    except Exception:  # shapely raises several types for bad GeoJSON: the reader judges it later
        return geometry, False
    x0, y0, x1, y1 = geom.bounds
    if x0 >= WORLD[0] and y0 >= WORLD[1] and x1 <= WORLD[2] and y1 <= WORLD[3]:
        return geometry, False
    cut = shapely.make_valid(geom).intersection(box(*WORLD))
    if cut.is_empty:
        return geometry, False
    return mapping(cut), True


def slim_item(item: dict) -> dict:
    """The part of a STAC item the map needs: footprint, time, cloud, platform, tile, link to the item."""
    props = item.get("properties") or {}
    kept = {k: props[k] for k in KEEP_PROPERTIES if props.get(k) is not None}
    if "eo:cloud_cover" in kept:
        kept["eo:cloud_cover"] = float(kept["eo:cloud_cover"])
    for k in ("landsat:wrs_path", "landsat:wrs_row"):
        if k in kept:
            kept[k] = str(kept[k])
    self_link = next((ln for ln in item.get("links", []) if ln.get("rel") == "self"), None)
    out = {"type": "Feature", "stac_version": item.get("stac_version", "1.0.0"), "stac_extensions": [],
           "id": item["id"], "collection": item.get("collection"), "geometry": item["geometry"],
           "properties": kept,
           "links": [{"rel": "self", "href": self_link["href"]}] if self_link else [], "assets": {}}
    if item.get("bbox"):
        out["bbox"] = [float(v) for v in item["bbox"]]
    return out


def _link_key(link: dict) -> str:
    return json.dumps({"href": link.get("href"), "method": link.get("method", "GET"), "body": link.get("body")},
                      sort_keys=True)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Checkpoint:
    """`.<slug>.partial/`: state.json (query, windows done, current window and its next link) + one JSON file
    of slim items per fetched page. Page file first, then state: a crash between the two only costs one page."""

    def __init__(self, folder: Path, query: dict):
        self.folder = folder
        self.pages_dir = folder / "pages"
        state_path = folder / "state.json"
        state = json.loads(state_path.read_text("utf-8")) if state_path.exists() else None
        if state is None or state.get("query") != query:
            if folder.exists():
                shutil.rmtree(folder)  # a checkpoint of another query: start over
            self.pages_dir.mkdir(parents=True)
            state = {"query": query, "done": [], "window": None, "next": None, "links": [], "pages": 0,
                     "items": 0, "duplicates": 0}
            self.resumed = False
        else:
            self.resumed = True
        self.state = state

    def items(self) -> Iterator[dict]:
        for n in range(1, self.state["pages"] + 1):
            yield from json.loads((self.pages_dir / f"{n:06d}.json").read_text("utf-8"))

    def add_page(self, window: str, items: list[dict], next_link: dict | None, duplicates: int,
                 no_geometry: int = 0, clipped: int = 0) -> None:
        st = self.state
        n = st["pages"] + 1
        if st["window"] != window:  # first page of this window: remember where it started, for a rewind
            st["window_start"] = {k: st.get(k, 0) for k in ("pages", "items", "duplicates", "no_geometry",
                                                            "clipped")}
        _write_atomic(self.pages_dir / f"{n:06d}.json", json.dumps(items, sort_keys=True).encode("utf-8"))
        st["pages"], st["items"], st["duplicates"] = n, st["items"] + len(items), st["duplicates"] + duplicates
        st["no_geometry"] = st.get("no_geometry", 0) + no_geometry
        if clipped:
            st["clipped"] = st.get("clipped", 0) + clipped
        if next_link is None:
            st["done"].append(window)
            st["window"], st["next"], st["links"] = None, None, []
        else:
            st["window"], st["next"] = window, next_link
            st["links"].append(_link_key(next_link))
        self.save()

    def rewind_window(self) -> None:
        """Forget the pages of the unfinished window, so it is fetched again from its first page."""
        st = self.state
        st.update(st.pop("window_start"))
        st["window"], st["next"], st["links"] = None, None, []
        self.save()

    def save(self) -> None:
        _write_atomic(self.folder / "state.json", json.dumps(self.state, sort_keys=True, indent=1).encode())


# -- the harvest ----------------------------------------------------------------------------------------------
def resolve_api(api: str) -> tuple[str, list[str]]:
    """An alias (earth-search, planetary-computer) or a URL -> (URL, default collections)."""
    if api in APIS:
        return APIS[api][0], list(APIS[api][1])
    for url, colls in APIS.values():
        if api.rstrip("/") == url:
            return url, list(colls)
    if not re.match(r"^https?://", api, re.IGNORECASE):
        raise ValueError(f"--api must be one of {', '.join(APIS)} or an http(s) URL, not {api!r}")
    return api.rstrip("/"), list(APIS["earth-search"][1])


def default_slug(api_url: str) -> str:
    for alias, (url, _) in APIS.items():
        if url == api_url:
            return f"stac-{alias}"
    host = urlparse(api_url).hostname or "api"
    return "stac-" + re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-")


def harvest(out_dir: Path, bbox: tuple[float, float, float, float], collections: list[str] | None = None,
            start: str = "2016-01-01", end: str | None = None, api: str = EARTH_SEARCH, limit: int = 100,
            max_items: int | None = None, retries: int = 5, backoff: float = 1.0, timeout: float = 30,
            progress: bool = True, slug: str | None = None, method: str = "POST") -> Path:
    """Harvest items over bbox and start..end into `out_dir/<slug>/`; return that folder.

    Resumes from `out_dir/.<slug>.partial/` when it holds a checkpoint of the same query. Raises FetchError
    (a request that kept failing) or RepeatedPageError; in both cases the checkpoint stays for a rerun and any
    previous `out_dir/<slug>/` is left as it was."""
    from tqdm import tqdm

    api_url, default_collections = resolve_api(api)
    collections = list(collections or default_collections)
    end = end or date.today().isoformat()
    slug = slug or default_slug(api_url)
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", slug):
        raise ValueError(f"slug must be lower-case letters, digits, '.', '_' or '-': {slug!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bbox = tuple(float(v) for v in bbox)  # type: ignore[assignment]
    if len(bbox) != 4 or limit < 1:
        raise ValueError(f"bbox must be (west, south, east, north) and limit >= 1, not {bbox}, {limit}")
    query = {"api": api_url, "bbox": list(bbox), "collections": collections, "datetime": f"{start}/{end}",
             "limit": limit, "max_items": max_items, "method": method}
    windows = month_windows(start, end)
    ckpt = _Checkpoint(out_dir / f".{slug}.partial", query)
    io = _HarvestIO(retries=retries, backoff=backoff, timeout=timeout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pystac-client warns on missing counts/conformance; we report ourselves
        client = Client.open(api_url, stac_io=io, timeout=timeout)
        fields = SEARCH_FIELDS if client.conforms_to(ConformanceClasses.FIELDS) else None
        total = None
        if progress:
            try:
                total = client.search(bbox=bbox, collections=collections, datetime=f"{windows[0].split('/')[0]}/"
                                      f"{windows[-1].split('/')[1]}", limit=1, method=method).matched()
            except HarvestError:
                total = None
        if total is not None and max_items is not None:
            total = min(total, max_items)
        seen = {(it["collection"], it["id"]) for it in ckpt.items()}
        bar = tqdm(total=total, initial=ckpt.state["items"], unit="item", disable=not progress,
                   desc=f"STAC {urlparse(api_url).hostname}")
        try:
            for window in windows:
                if window in ckpt.state["done"]:
                    continue
                if max_items is not None and ckpt.state["items"] >= max_items:
                    break
                search = client.search(bbox=bbox, collections=collections, datetime=window, limit=limit,
                                       method=method, fields=fields)
                _harvest_window(search, io, ckpt, window, seen, max_items, bar)
        finally:
            bar.close()
    table = _items_table(ckpt)
    stats = {"items": table.num_rows, "pages": ckpt.state["pages"], "duplicates": ckpt.state["duplicates"],
             "no_geometry": ckpt.state.get("no_geometry", 0), "clipped": ckpt.state.get("clipped", 0),
             "windows": len(windows), "fields": fields is not None}
    folder = _write_source(out_dir, slug, table, query, stats)
    shutil.rmtree(ckpt.folder)
    _fsync_dir(out_dir)
    return folder


def _harvest_window(search: Any, io: _HarvestIO, ckpt: _Checkpoint, window: str, seen: set,
                    max_items: int | None, bar: Any) -> None:
    """Page through one window's search, checkpointing after every page; resume from the checkpoint's next link."""
    st = ckpt.state
    if st["window"] == window and st["next"]:
        link = st["next"]  # resume mid-window from the checkpointed next link
        params = ({**search.get_parameters(), **(link.get("body") or {})} if link.get("merge")
                  else link.get("body"))
        pages = io.get_pages(link["href"], link.get("method", "GET"), params)
        url = link["href"]
        links_seen = set(st["links"])
        try:
            first = next(pages, None)
        except FetchError as err:
            if err.status not in STALE_TOKEN_STATUSES:
                raise
            # the API no longer knows the checkpointed token (expired paging state): redo this window
            ckpt.rewind_window()
            seen.clear()
            seen.update((it["collection"], it["id"]) for it in ckpt.items())
            bar.n = st["items"]
            bar.refresh()
            first, pages, url, links_seen = None, search.pages_as_dicts(), search.url, set()
        pages = itertools.chain([first] if first is not None else [], pages)
    else:
        pages = search.pages_as_dicts()
        url = search.url
        links_seen = set()
    page_ids: set[frozenset] = set()
    for page in pages:
        feats = page.get("features") or []
        if any(not isinstance(f, dict) or not f.get("id") for f in feats):
            raise HarvestError(f"{url}: the API returned an item without an id")
        ids = frozenset((f.get("collection"), f["id"]) for f in feats)
        if ids in page_ids:
            raise RepeatedPageError(url, f"the same {len(ids)} items again in window {window}")
        page_ids.add(ids)
        nxt = next((ln for ln in page.get("links", []) if ln.get("rel") == "next"), None)
        if nxt is not None and _link_key(nxt) in links_seen:
            raise RepeatedPageError(nxt["href"], f"next link already followed in window {window}")
        kept, dup, nogeom, clipped = [], 0, 0, 0
        for f in feats:
            key = (f.get("collection"), f["id"])
            if key in seen:
                dup += 1
                continue
            if not f.get("geometry"):  # STAC allows null geometry; such an item has no footprint to map
                nogeom += 1
                continue
            seen.add(key)
            slim = slim_item(f)
            slim["geometry"], was_cut = world_footprint(slim["geometry"])
            clipped += was_cut
            kept.append(slim)
        if max_items is not None:
            kept = kept[: max(0, max_items - st["items"])]
            if st["items"] + len(kept) >= max_items:
                nxt = None
        ckpt.add_page(window, kept, nxt, dup, nogeom, clipped)
        bar.update(len(kept))
        if nxt is None:
            return
        links_seen.add(_link_key(nxt))
        url = nxt["href"]
    if st["window"] == window:  # pages ran out (an empty page) with a next link pending: the window is done
        st["done"].append(window)
        st["window"], st["next"], st["links"] = None, None, []
        ckpt.save()
    elif window not in st["done"]:  # the window had no items at all
        st["done"].append(window)
        ckpt.save()


# -- the source folder ----------------------------------------------------------------------------------------
ARROW_CHUNK = 20_000  # items converted to Arrow at a time


def _items_table(ckpt: _Checkpoint):
    """All checkpointed items as one stac-geoparquet Arrow table sorted by datetime, collection, id.

    Converted a chunk at a time so memory holds Arrow columns (a few hundred bytes an item), not every item as a
    Python dict (a few KB each); chunks whose columns differ (a property absent or all null) are unified."""
    import pyarrow as pa
    import stac_geoparquet.arrow as sga

    tables, batch = [], []
    for item in ckpt.items():
        batch.append(item)
        if len(batch) >= ARROW_CHUNK:
            tables.append(sga.parse_stac_items_to_arrow(batch).read_all())
            batch = []
    if batch or not tables:  # an empty harvest is still a valid (empty) layer: keep the columns, no rows
        tables.append(sga.parse_stac_items_to_arrow(batch or [_EMPTY_TEMPLATE]).read_all().slice(0, len(batch)))
    table = pa.concat_tables(tables, promote_options="permissive")
    return table.sort_by([("datetime", "ascending"), ("collection", "ascending"), ("id", "ascending")])


_EMPTY_TEMPLATE = {"type": "Feature", "stac_version": "1.0.0", "stac_extensions": [], "id": "", "collection": "",
                   "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}, "bbox": [0.0, 0.0, 0.0, 0.0],
                   "properties": {"datetime": "2000-01-01T00:00:00Z", "eo:cloud_cover": 0.0, "platform": ""},
                   "links": [{"rel": "self", "href": ""}], "assets": {}}


def _licences(collections: list[str]) -> list[dict]:
    out = []
    if any("sentinel" in c for c in collections):
        out.append(SENTINEL_LICENCE)
    if any("landsat" in c for c in collections):
        out.append(LANDSAT_LICENCE)
    return out or [{"name": "no-licence-stated", "title": "No licence stated: check the API's collection pages"}]


def _write_source(out_dir: Path, slug: str, table: Any, query: dict, stats: dict) -> Path:
    target = out_dir / slug
    tmp = old = None
    try:  # from the mkdtemp on: an error, Ctrl-C or SIGTERM (cli.py raises it) removes the temp folder
        tmp = Path(tempfile.mkdtemp(prefix=f".{slug}.", suffix=".tmp", dir=out_dir))
        import stac_geoparquet.arrow as sga

        sga.to_parquet(table, tmp / RESOURCE)
        with open(tmp / RESOURCE, "rb") as fh:
            os.fsync(fh.fileno())
        descriptor = _descriptor(slug, query, stats, tmp / RESOURCE)
        _write_atomic(tmp / "datapackage.json",
                      (json.dumps(descriptor, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())
        _write_atomic(tmp / "README.md", _readme(descriptor).encode("utf-8"))
        _fsync_dir(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{slug}.", suffix=".old", dir=out_dir))
            os.replace(target, old / slug)
        os.replace(tmp, target)
        _fsync_dir(out_dir)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        if old is not None and (old / slug).exists() and not target.exists():
            os.replace(old / slug, target)  # stopped between the two renames: the previous source goes back
        for folder in (tmp, old):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        raise
    return target


def _descriptor(slug: str, query: dict, stats: dict, parquet: Path) -> dict:
    api, colls = query["api"], query["collections"]
    publisher = PUBLISHERS.get(api, urlparse(api).hostname or api)
    retrieved = datetime.now(timezone.utc).date().isoformat()
    producers = []
    if any("sentinel" in c for c in colls):
        producers.append({"title": "European Space Agency / Copernicus (Sentinel-2)", "role": "author"})
    if any("landsat" in c for c in colls):
        producers.append({"title": "U.S. Geological Survey (Landsat)", "role": "author"})
    west, south, east, north = query["bbox"]
    return {
        "name": slug,
        "title": f"Scene footprints from {publisher}: {', '.join(colls)}",
        "description": (f"STAC items (scene footprints, acquisition time, cloud cover, platform, tile) over "
                        f"bbox {west},{south},{east},{north} from {query['datetime']}, harvested from {api}. "
                        f"Footprints only: no pixels."),
        "licenses": _licences(colls),
        "sources": [{"title": f"{publisher} STAC API", "path": api, "publisher": publisher}],
        "contributors": [{"title": publisher, "role": "publisher"}, *producers],
        "resources": [{"name": "scenes", "path": RESOURCE, "format": "parquet",
                       "mediatype": "application/vnd.apache.parquet", "bytes": parquet.stat().st_size,
                       "hash": f"sha256:{file_sha256(parquet)}"}],
        "facilitymap": {
            "layer": "scenes", "reader": "geoparquet", "resource": "scenes", "publisher": publisher,
            "fields": {"record_id": "id", "name": "id"},  # a scene is named by its STAC item id
            "citation": (f"{', '.join(colls)} item metadata, {publisher} STAC API ({api}), retrieved {retrieved}. "
                         + " ".join(lic["title"] + "." for lic in _licences(colls))),
            "retrieved": retrieved, "upstream": api, "endpoint": api.rstrip("/") + "/search",
            "query": {"bbox": query["bbox"], "collections": colls, "datetime": query["datetime"],
                      "limit": query["limit"], "max_items": query["max_items"], "method": query["method"],
                      "windows": "one search per calendar month"},
            "harvest": {"items": stats["items"], "pages": stats["pages"], "duplicates_dropped": stats["duplicates"],
                        "no_geometry_dropped": stats["no_geometry"], "clipped_to_world": stats["clipped"],
                        "windows": stats["windows"],
                        "fields_extension": stats["fields"]},
        },
    }


def _readme(d: dict) -> str:
    fm = d["facilitymap"]
    q = fm["query"]
    lic = "\n".join(f"- {x['title']}: {x.get('path', '')}" for x in d["licenses"])
    cap = f", at most {q['max_items']} items" if q["max_items"] else ""
    h, res = fm["harvest"], d["resources"][0]
    return f"""# {d['title']}

Harvested with `facilitymap footprints fetch` from {fm['endpoint']} on {fm['retrieved']}.

- Query: bbox {q['bbox']}, collections {', '.join(q['collections'])}, datetime {q['datetime']}
  (one search per calendar month, page size {q['limit']}{cap}).
- Result: {h['items']} items in {h['pages']} pages; {h['duplicates_dropped']} duplicates and
  {h['no_geometry_dropped']} items without a footprint (null geometry) dropped; {h['clipped_to_world']} footprints
  reaching past longitude ±180 or latitude ±90 cut to the world.
- File: `{res['path']}` (stac-geoparquet), {res['bytes']} bytes, {res['hash']}.

## Licence of the imagery
{lic}

## Notes on the data
- These are catalogue records, not images: the geometry is the scene's footprint as the catalogue states it.
- `eo:cloud_cover` is for the whole scene, not for any one site under it.
- Catalogues are reprocessed and change (new baselines, removed duplicates): a later harvest may differ.
  Rerun the same command to refresh; the query above is the whole recipe.
"""


# -- reading --------------------------------------------------------------------------------------------------
def read_scenes(source_folder: Path):
    """The scenes of a harvested source as a GeoDataFrame: id, collection, datetime (UTC), cloud_cover,
    platform, tile, url, geometry; sorted by datetime then id. Checks the file against the descriptor's sha256."""
    import geopandas as gpd
    import pandas as pd

    from ..errors import SourceError
    from ..registry import check_resource_file, load_source

    try:  # the descriptor's schema, the file confined to the folder, its sha256 required and matching
        path = check_resource_file(load_source(Path(source_folder)))
    except SourceError as e:
        raise HarvestError(str(e)) from None
    raw = gpd.read_parquet(path)

    def col(name: str) -> pd.Series:
        return raw[name] if name in raw.columns else pd.Series([None] * len(raw), index=raw.index, dtype=object)

    tile = col("grid:code").astype(object).map(lambda v: v.split("-", 1)[1] if isinstance(v, str) and "-" in v
                                               else v)
    tile = tile.where(tile.notna(), col("s2:mgrs_tile"))
    wrs = [f"{p}{r}" if isinstance(p, str) and isinstance(r, str) else None
           for p, r in zip(col("landsat:wrs_path"), col("landsat:wrs_row"))]
    tile = tile.where(tile.notna(), pd.Series(wrs, index=raw.index, dtype=object))
    urls = [next((ln["href"] for ln in links if ln["rel"] == "self"), None) if links is not None else None
            for links in col("links")]
    out = gpd.GeoDataFrame({
        "id": raw["id"].astype(str), "collection": col("collection").astype(object),
        "datetime": pd.to_datetime(col("datetime"), utc=True),
        "cloud_cover": pd.to_numeric(col("eo:cloud_cover"), errors="coerce").astype(float),
        "platform": col("platform").astype(object), "tile": tile.astype(object), "url": urls,
    }, geometry=raw.geometry.values, crs="EPSG:4326")
    return out.sort_values(["datetime", "id"], kind="stable").reset_index(drop=True)
