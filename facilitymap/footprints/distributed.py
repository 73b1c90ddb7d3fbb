"""The coverage join on Dask, for harvests larger than memory: dask-geopandas over partitioned GeoParquet.

Each partition of footprints is joined with the (small) table of site points on a worker; only the matched
pairs come back, and the per-site figures are computed by the same `summarise` as the in-memory join, so both
give equal results. `scheduler` is the address of an existing Dask cluster (e.g. "tcp://scheduler.example.org:8786");
without it Dask's local threaded scheduler is used.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.dataset as pads

from .coverage import WRS, ALIASES, DETAIL_COLUMNS, SCENE_COLUMNS, match_pairs, normalise_scenes, sort_detail, summarise
from .grid import site_points


def coverage_dask(sites: gpd.GeoDataFrame, scenes_path: str | Path, scheduler: str | None = None,
                  cloud_threshold: float = 20, reference_months: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """(summary, detail) as `coverage.coverage`, reading the footprints from a GeoParquet file or a directory
    of GeoParquet files (partitions) with dask-geopandas."""
    detail = match_scenes_dask(sites, scenes_path, scheduler)
    return summarise(sites, detail, cloud_threshold, reference_months), detail


def match_scenes_dask(sites: gpd.GeoDataFrame, scenes_path: str | Path, scheduler: str | None = None) -> pd.DataFrame:
    """The detail table (as `coverage.match_scenes`), one Dask task per GeoParquet partition."""
    import dask_geopandas

    points = site_points(sites)
    ddf = dask_geopandas.read_parquet(str(scenes_path), columns=_columns(scenes_path))
    parts = ddf.map_partitions(_match_partition, points, meta=_meta(), align_dataframes=False)
    if scheduler:
        from distributed import Client

        with Client(scheduler, set_as_default=False) as client:
            detail = client.compute(parts).result()
    else:
        detail = parts.compute(scheduler="threads")
    return sort_detail(detail.reset_index(drop=True))


def _columns(path: str | Path) -> list[str]:
    """The scene columns (or their STAC aliases) that the files have, plus geometry: read only those."""
    names = set(pads.dataset(str(path), format="parquet").schema.names)
    wanted = [c for col in SCENE_COLUMNS for c in [col, *ALIASES.get(col, [])]] + list(WRS)
    if "url" not in names:
        wanted.append("links")  # the STAC item's self link gives the url
    return [c for c in wanted if c in names] + ["geometry"]


def _meta() -> pd.DataFrame:
    """Empty detail frame with the partition results' dtypes (Arrow-backed text travels compactly)."""
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]" if c == "datetime" else
                                      "float64" if c == "cloud_cover" else "str") for c in DETAIL_COLUMNS})


def _match_partition(part: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> pd.DataFrame:
    """Matched (site, scene) rows of one partition, with the scene columns only (no geometry)."""
    scenes = normalise_scenes(part)
    p, s = match_pairs(points, scenes.geometry.to_numpy())
    out = pd.DataFrame(scenes.drop(columns="geometry")).take(s).reset_index(drop=True)
    out.insert(0, "site_id", points["site_id"].astype("str").take(p).reset_index(drop=True))
    return out[DETAIL_COLUMNS].astype(_meta().dtypes.to_dict())
