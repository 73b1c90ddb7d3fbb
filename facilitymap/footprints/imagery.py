"""Imagery for a build: join the scene sources with the sites (in memory or on Dask) and read the web images of local
rasters. What the page carries of them (each scene once, sites with scene ids) is shaped by `facilitymap.page`.

A scene id is assumed unique across the scene sources of one map (STAC ids of different collections and raster
file stems do not collide in practice); the first source's scene wins when they do.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as pads
import shapely

from .coverage import sort_detail, summarise

DETAIL_JSON_MAX_ROWS = 200_000  # more (site, scene) pairs than this go to coverage.parquet, not coverage.json
FOOTPRINT_DECIMALS = 5  # about 1 m
FOOTPRINT_TOLERANCE = 0.002  # simplification, as a share of the footprint's larger side


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

IMAGE_MAX_BYTES = 20_000_000  # a web image inlined into the page; `footprints raster` writes ~1 MB at most
IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
               (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"),
               (b"II+\x00", "image/tiff"), (b"MM\x00+", "image/tiff"))  # TIFF, BigTIFF (COG)


def read_web_image(source, rel) -> tuple[str, bytes]:
    """(media type, bytes) of the web image a scenes row names: it must be a declared resource of the source
    (confined to its folder, with a matching sha256), at most IMAGE_MAX_BYTES, and PNG, JPEG or TIFF by its first
    bytes; otherwise SourceError. So `/etc/passwd`, `/dev/zero` or `../x.png` in the `image` column is refused."""
    from ..errors import SourceError
    from ..registry import check_resource_file, confine, resource_for_path

    confine(source, rel)  # refuses '..', absolute paths, links leaving the folder, devices, before anything else
    path = check_resource_file(source, resource_for_path(source, rel))
    size = path.stat().st_size
    if size > IMAGE_MAX_BYTES:
        raise SourceError(path, None, f"web image is {size} bytes, over the limit of {IMAGE_MAX_BYTES}")
    data = path.read_bytes()
    for magic, mime in IMAGE_MAGIC:
        if data.startswith(magic):
            return mime, data
    raise SourceError(path, None, "web image is not a PNG, JPEG or TIFF (by its first bytes); refused")


def read_rasters(sources: list) -> dict:
    """{raster id: {source, datetime, bounds, image (a data: URI of the web image)}} for the scene sources that
    carry web images (written by `facilitymap footprints raster`); each image is checked by `read_web_image`."""
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
            mime, png = read_web_image(s, row.image)
            bounds = json.loads(row.image_bounds) if isinstance(row.image_bounds, str) else row.image_bounds
            when = pd.Timestamp(row.datetime) if not pd.isna(row.datetime) else None
            out[str(row.id)] = {
                "source": s.slug,
                "datetime": None if when is None else when.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
                "bounds": [[float(v) for v in corner] for corner in bounds],
                "image": f"data:{mime};base64," + base64.b64encode(png).decode("ascii"),
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


def write_detail_parquet(detail: pd.DataFrame, path: Path) -> None:
    """The (site, scene) detail table as Parquet (no index, zstd), for harvests too large for JSON."""
    detail.to_parquet(path, index=False, compression="zstd")
