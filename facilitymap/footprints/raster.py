"""Local rasters (GeoTIFF/COG, any CRS, any band count): valid-data footprints, acquisition dates, web images.

A footprint is the outline of the pixels that hold data (the dataset mask), not the bounding box, so the
nodata collar of a rotated or reprojected scene is not claimed as coverage. The mask is read at a decimated
resolution (at most `max_size` pixels a side; COG overviews make that cheap), polygonised, reprojected to
EPSG:4326, simplified by half a decimated pixel and made valid.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import shapes
from rasterio.warp import calculate_default_transform, reproject, transform_bounds, transform_geom

# Metadata keys that carry an acquisition time, most specific first: (namespace, key).
# TIFFTAG_DATETIME is last because it is often the time the file was written, not the time of acquisition.
DATE_TAGS = (
    ("IMAGERY", "ACQUISITIONDATETIME"),
    (None, "ACQUISITIONDATETIME"),
    (None, "ACQUISITION_DATETIME"),
    (None, "ACQUISITION_DATE"),
    (None, "DATETIME"),
    (None, "DATE_ACQUIRED"),
    (None, "TIFFTAG_DATETIME"),
)

COLUMNS = ["id", "path", "datetime", "datetime_source", "crs", "bands", "width", "height", "collection",
           "cloud_cover", "platform", "tile", "url", "image", "image_bounds", "geometry"]

class RasterError(ValueError):
    """A raster that cannot be used: names the file and the reason (no georeference, over a limit)."""


class EmptyFootprintWarning(UserWarning):
    """A raster whose valid-data footprint is empty: it is kept in the source but covers no site."""


LICENCE = {"name": "as-provided-by-the-user",
           "title": "As provided by the user: state the imagery's licence here before publishing"}


def raster_footprints(paths: list[Path], date_pattern: str | None = None, image_dir: Path | None = None,
                      max_size: int = 1024) -> gpd.GeoDataFrame:
    """One row per raster: id (file stem), path, datetime (UTC or NaT), datetime_source, crs, bands, width,
    height, and geometry = the valid-data footprint in EPSG:4326.

    The date comes from the file name when `date_pattern` is given and matches (a strftime pattern such as
    "%Y%m%d", or a regex with named groups `date` or `year`/`month`/`day`[/`hour`/`minute`/`second`]), else from
    metadata tags (DATE_TAGS). With `image_dir`, also writes `<id>.png` there (columns image = file name,
    image_bounds = [[south, west], [north, east]] for a Leaflet ImageOverlay). Columns collection ("local"),
    cloud_cover, platform, tile and url make the rows usable as scenes in `coverage`.
    """
    from .. import limits

    paths = [Path(p) for p in paths]
    ids = _unique_ids(paths)
    rows = []
    for rid, path in zip(ids, paths):
        size_problem = limits.check_file_size(path)
        if size_problem:
            raise RasterError(f"{path}: {size_problem}")
        with rasterio.open(path) as src:
            if src.crs is None or src.transform == Affine.identity():
                raise RasterError(f"{path}: raster has no coordinate reference system or geotransform; "
                                  "it cannot be placed on the map")
            too_big = limits.exceeded("raster_pixels", src.width * src.height)
            if too_big:  # checked from the header, before a pixel is read
                raise RasterError(f"{path}: {src.width:,} × {src.height:,} pixels: {too_big}")
            geom = _footprint(src, max_size)
            if geom.is_empty:
                warnings.warn(EmptyFootprintWarning(
                    f"{path}: no pixel holds data (every pixel is nodata or masked): its footprint is empty, "
                    "so it covers no site"), stacklevel=2)
            when, how = _file_date(path, date_pattern)
            if when is None:
                when, how = _metadata_date(src)
            row = {"id": rid, "path": str(path), "datetime": when, "datetime_source": how,
                   "crs": src.crs.to_string(), "bands": src.count, "width": src.width, "height": src.height,
                   "collection": "local", "cloud_cover": np.nan, "platform": None, "tile": None, "url": None,
                   "image": None, "image_bounds": None, "geometry": geom}
            if image_dir is not None:
                Path(image_dir).mkdir(parents=True, exist_ok=True)
                name = f"{rid}.png"
                row["image_bounds"] = write_web_image(src, Path(image_dir) / name, max_size)
                row["image"] = name
        rows.append(row)
    gdf = gpd.GeoDataFrame(rows, columns=COLUMNS, geometry="geometry", crs="EPSG:4326")
    gdf["datetime"] = pd.to_datetime(gdf["datetime"], utc=True)
    gdf["cloud_cover"] = gdf["cloud_cover"].astype(float)
    if image_dir is not None:
        gdf.attrs["image_dir"] = str(image_dir)
    return gdf


def _unique_ids(paths: list[Path]) -> list[str]:
    """File stems; a stem shared by several files gets a short hash of its path so ids stay unique and stable."""
    stems = [p.stem for p in paths]
    out = []
    for p, s in zip(paths, stems):
        if stems.count(s) > 1:
            s = f"{s}-{hashlib.sha256(str(p).encode()).hexdigest()[:8]}"
        out.append(s)
    return out


def _decimated(src, max_size: int) -> tuple[int, int, Affine]:
    """(height, width, transform) of the source grid shrunk to at most max_size pixels a side."""
    factor = max(1.0, max(src.width, src.height) / max_size)
    w = max(1, round(src.width / factor))
    h = max(1, round(src.height / factor))
    return h, w, src.transform @ Affine.scale(src.width / w, src.height / h)


def _footprint(src, max_size: int):
    """Valid-data outline in EPSG:4326 (Polygon or MultiPolygon; empty when no pixel holds data)."""
    h, w, transform = _decimated(src, max_size)
    mask = src.dataset_mask(out_shape=(h, w), resampling=Resampling.nearest)
    valid = mask > 0
    if not valid.any():
        return shapely.Polygon()
    polys = [shapely.geometry.shape(g) for g, v in shapes(valid.astype("uint8"), mask=valid, transform=transform)
             if v == 1]
    pixel = max(abs(transform.a), abs(transform.e), abs(transform.b), abs(transform.d))
    geom = _without_specks(shapely.union_all(polys), 16 * pixel * pixel)
    # Drop the pixel staircase, then add vertices so straight source edges stay true after reprojection.
    geom = shapely.segmentize(shapely.simplify(geom, pixel / 2), pixel * 16)
    out = shapely.geometry.shape(transform_geom(src.crs, "EPSG:4326", shapely.geometry.mapping(geom)))
    out = shapely.make_valid(shapely.simplify(out, 1e-6))
    polys = [g for g in shapely.get_parts(out) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def _without_specks(geom, min_area: float):
    """Drop holes and islands smaller than min_area (dark pixels that equal the nodata value inside an image,
    isolated valid pixels in the collar); the largest part is always kept."""
    parts = sorted(shapely.get_parts(geom), key=lambda g: -g.area)
    kept = []
    for k, part in enumerate(parts):
        if k and part.area < min_area:
            continue
        holes = [r for r in part.interiors if shapely.Polygon(r).area >= min_area]
        kept.append(shapely.Polygon(part.exterior, holes))
    return shapely.union_all(kept)


# -- dates ---------------------------------------------------------------------------------------------------

_STRFTIME = {"%Y": r"\d{4}", "%y": r"\d{2}", "%m": r"\d{2}", "%d": r"\d{2}", "%H": r"\d{2}", "%M": r"\d{2}",
             "%S": r"\d{2}", "%j": r"\d{3}", "%%": "%"}


def _file_date(path: Path, pattern: str | None) -> tuple[datetime | None, str | None]:
    """Date from the file name, or (None, None) when no pattern is given or it does not match."""
    if not pattern:
        return None, None
    name = path.name
    if "(?P<" in pattern:
        m = re.search(pattern, name)
        if not m:
            return None, None
        g = {k: v for k, v in m.groupdict().items() if v is not None}
        if "date" in g:
            return _to_utc(pd.Timestamp(g["date"]).to_pydatetime()), "filename"
        if {"year", "month", "day"} <= g.keys():
            parts = [int(g.get(k, 0)) for k in ("year", "month", "day", "hour", "minute", "second")]
            return datetime(*parts, tzinfo=timezone.utc), "filename"
        raise ValueError(f"date pattern {pattern!r} needs a named group 'date' or 'year', 'month' and 'day'")
    regex = "".join(_STRFTIME.get(tok, re.escape(tok)) for tok in re.findall(r"%.|[^%]+", pattern))
    for m in re.finditer(f"(?=({regex}))", name):
        try:
            return datetime.strptime(m.group(1), pattern).replace(tzinfo=timezone.utc), "filename"
        except ValueError:
            continue
    return None, None


def _metadata_date(src) -> tuple[datetime | None, str | None]:
    """The first parseable DATE_TAGS value, as UTC; (None, None) when the file carries none."""
    for ns, key in DATE_TAGS:
        try:
            tags = src.tags(ns=ns) if ns else src.tags()
        except Exception:  # a namespace the driver does not know
            continue
        value = tags.get(key)
        if not value:
            continue
        parsed = _parse_tag_date(value.strip())
        if parsed is not None:
            return parsed, f"metadata:{key}"
    return None, None


def _parse_tag_date(value: str) -> datetime | None:
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y%m%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    try:
        return _to_utc(pd.Timestamp(value.replace("Z", "+00:00")).to_pydatetime())
    except (ValueError, TypeError):
        return None


def _to_utc(d: datetime) -> datetime:
    return d.replace(tzinfo=timezone.utc) if d.tzinfo is None else d.astimezone(timezone.utc)


# -- web image -----------------------------------------------------------------------------------------------

def write_web_image(src, out_path: Path, max_size: int = 1024) -> list[list[float]]:
    """Write a PNG (RGB from bands 1-3, or greyscale from band 1; alpha from the dataset mask; each band stretched
    between its 2nd and 98th percentile) reprojected to EPSG:3857 so a Leaflet ImageOverlay lines up.

    Returns the image's bounds as [[south, west], [north, east]] in EPSG:4326.
    """
    h, w, transform = _decimated(src, max_size)
    bands = [1, 2, 3] if src.count >= 3 else [1]
    data = src.read(bands, out_shape=(len(bands), h, w), resampling=Resampling.average).astype("float64")
    mask = src.dataset_mask(out_shape=(h, w), resampling=Resampling.nearest)
    xs, ys = transform @ (np.array([0, w, w, 0]), np.array([0, 0, h, h]))  # corners, also when rotated
    dst_t, dst_w, dst_h = calculate_default_transform(src.crs, "EPSG:3857", w, h, left=xs.min(), bottom=ys.min(),
                                                      right=xs.max(), top=ys.max())
    bounds = rasterio.transform.array_bounds(dst_h, dst_w, dst_t)  # west, south, east, north in metres
    scale = max(1.0, max(dst_w, dst_h) / max_size)
    dst_w, dst_h = max(1, round(dst_w / scale)), max(1, round(dst_h / scale))
    dst_t = rasterio.transform.from_bounds(*bounds, dst_w, dst_h)

    out = np.zeros((len(bands), dst_h, dst_w), dtype="float64")
    for i in range(len(bands)):
        reproject(data[i], out[i], src_transform=transform, src_crs=src.crs, dst_transform=dst_t,
                  dst_crs="EPSG:3857", resampling=Resampling.bilinear, src_nodata=None, dst_nodata=0)
    alpha = np.zeros((dst_h, dst_w), dtype="uint8")
    reproject(mask, alpha, src_transform=transform, src_crs=src.crs, dst_transform=dst_t, dst_crs="EPSG:3857",
              resampling=Resampling.nearest, src_nodata=None, dst_nodata=0)
    valid = alpha > 0
    rgb = np.zeros((3, dst_h, dst_w), dtype="uint8")
    for i in range(len(bands)):
        rgb[i] = _stretch(out[i], valid)
    if len(bands) == 1:
        rgb[1] = rgb[0]
        rgb[2] = rgb[0]
    image = np.concatenate([rgb, np.where(valid, 255, 0).astype("uint8")[None]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(out_path, "w", driver="PNG", width=dst_w, height=dst_h, count=4, dtype="uint8") as dst:
            dst.write(image)
    aux = Path(str(out_path) + ".aux.xml")
    if aux.exists():
        aux.unlink()
    w84 = transform_bounds("EPSG:3857", "EPSG:4326", *bounds)
    return [[round(w84[1], 7), round(w84[0], 7)], [round(w84[3], 7), round(w84[2], 7)]]


def _stretch(band: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linear 2-98 percentile stretch of the valid pixels to 1..255 (0 is left for pixels with no data)."""
    vals = band[valid]
    if vals.size == 0:
        return np.zeros(band.shape, dtype="uint8")
    lo, hi = np.percentile(vals, [2, 98])
    if hi <= lo:
        hi = lo + 1
    scaled = np.clip((band - lo) / (hi - lo), 0, 1) * 254 + 1
    return np.where(valid, scaled, 0).round().astype("uint8")


# -- the source folder ---------------------------------------------------------------------------------------

def write_raster_source(gdf_or_paths, out_dir: Path, slug: str, date_pattern: str | None = None,
                        max_size: int = 1024) -> Path:
    """Write footprints as a new source folder `out_dir/slug` (layer "scenes", reader "geoparquet") and return it.

    Takes the GeoDataFrame from `raster_footprints`, or a list of raster paths (then footprints and web images
    are computed here). Written into a temporary folder beside the target, then renamed into place, so a failure
    never leaves a partial source. An existing folder is an error. The licence is "as provided by the user":
    validation should warn until the user states the imagery's real licence.
    """
    out_dir = Path(out_dir)
    target = out_dir / slug
    if target.exists():
        raise FileExistsError(f"{target} already exists: choose another --slug or remove it")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:  # from the mkdtemp on: an error, Ctrl-C or SIGTERM (cli.py raises it) removes the temp folder
        tmp = Path(tempfile.mkdtemp(prefix=f".{slug}.", dir=out_dir))
        if isinstance(gdf_or_paths, gpd.GeoDataFrame):
            gdf = gdf_or_paths.copy()
            images = tmp / "images"
            for name, src_dir in _image_files(gdf):
                images.mkdir(exist_ok=True)
                shutil.copyfile(src_dir / name, images / name)
        else:
            gdf = raster_footprints(list(gdf_or_paths), date_pattern=date_pattern, image_dir=tmp / "images",
                                    max_size=max_size)
        if "image" in gdf.columns:
            gdf["image"] = [f"images/{Path(n).name}" if isinstance(n, str) and n else None for n in gdf["image"]]
        if "image_bounds" in gdf.columns:
            gdf["image_bounds"] = [json.dumps(b) if b is not None else None for b in gdf["image_bounds"]]
        gdf = gdf.sort_values("id", kind="stable").reset_index(drop=True)
        gdf.attrs = {}  # pandas would store attrs (a temp folder name) in the file's metadata
        gdf.to_parquet(tmp / "scenes.parquet", index=False, compression="zstd")
        _write_readme(tmp / "README.md", slug, gdf)
        resources = [_resource("scenes", tmp / "scenes.parquet", tmp, "parquet", "application/vnd.apache.parquet")]
        for png in sorted((tmp / "images").glob("*.png")) if (tmp / "images").exists() else []:
            resources.append(_resource(f"image-{png.stem}", png, tmp, "png", "image/png"))
        descriptor = _descriptor(slug, gdf, resources)
        (tmp / "datapackage.json").write_text(
            json.dumps(descriptor, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        os.rename(tmp, target)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _image_files(gdf: gpd.GeoDataFrame):
    """(file name, folder) of each web image a footprint table refers to (the `image_dir` of raster_footprints
    is recorded in attrs when known, else the image path is taken as given)."""
    if "image" not in gdf.columns:
        return []
    base = Path(gdf.attrs.get("image_dir", "."))
    out = []
    for n in gdf["image"]:
        if isinstance(n, str) and n:
            p = Path(n) if Path(n).is_absolute() else base / n
            out.append((p.name, p.parent))
    return out


def _resource(name: str, path: Path, root: Path, fmt: str, mediatype: str) -> dict:
    data = path.read_bytes()
    return {"name": name, "path": path.relative_to(root).as_posix(), "format": fmt, "mediatype": mediatype,
            "bytes": len(data), "hash": "sha256:" + hashlib.sha256(data).hexdigest()}


def _descriptor(slug: str, gdf: gpd.GeoDataFrame, resources: list[dict]) -> dict:
    return {
        "name": slug,
        "title": f"Local rasters ({slug})",
        "description": (f"Valid-data footprints of {len(gdf)} raster file(s) supplied by the user, computed with "
                        "rasterio from each file's dataset mask (nodata borders excluded), in EPSG:4326."),
        "licenses": [LICENCE],
        "sources": [{"title": "Raster files supplied by the user"}],
        "resources": resources,
        "facilitymap": {
            "layer": "scenes",
            "reader": "geoparquet",
            "resource": "scenes",
            "publisher": "as provided by the user",
            "citation": "as provided by the user",
            "retrieved": None,
            "retrieved_note": "local files supplied by the user, not retrieved from a URL",
            # No URL is known for a user's own files: said explicitly (upstream null with a note, and no
            # sources[0].path), which validation accepts; the placeholder licence is a validation warning.
            "upstream": None,
            "upstream_note": "local files supplied by the user; fill in where the imagery came from",
            "fields": {"record_id": "id", "name": "id"},  # a raster is named by its file stem
        },
    }


def _write_readme(path: Path, slug: str, gdf: gpd.GeoDataFrame) -> None:
    lines = [f"# Local rasters: {slug}", "",
             "Footprints of raster files supplied by the user, written by `facilitymap footprints raster`.", "",
             "- Licence: **as provided by the user**. Before publishing a map, fill in `datapackage.json`: "
             "`licenses` (the imagery's licence), `sources[0].path` (where the imagery came from), "
             "`facilitymap.upstream`, `facilitymap.publisher` and `facilitymap.citation`. "
             "`facilitymap validate` warns about the placeholder licence.",
             "- Footprints are valid-data outlines (nodata excluded) traced at reduced resolution, so edges are "
             "accurate to about one decimated pixel.",
             "- Dates: `datetime_source` says whether each date came from the file name or from a metadata tag "
             "(TIFFTAG_DATETIME may be the time the file was written, not acquired).", "",
             "| id | datetime | datetime_source | crs | bands |", "|---|---|---|---|---|"]
    for r in gdf.itertuples():
        when = "" if pd.isna(r.datetime) else r.datetime.strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"| {r.id} | {when} | {r.datetime_source or ''} | {r.crs} | {r.bands} |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
