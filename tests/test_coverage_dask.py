"""The Dask coverage join over partitioned GeoParquet equals the in-memory join (synthetic data, built here)."""
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from facilitymap.footprints.coverage import coverage
from facilitymap.footprints.distributed import coverage_dask

import distributed  # noqa: E402  (a test dependency: missing means failing, not skipped)


def _data():
    rng = np.random.default_rng(11)
    n_sites, n_scenes = 40, 3000
    lon, lat = rng.uniform(74, 96, n_sites), rng.uniform(35, 49, n_sites)
    sites = gpd.GeoDataFrame({"site_id": [f"site-{i:03d}" for i in range(n_sites)], "lon": lon, "lat": lat,
                              "reference_month": [f"20{rng.integers(17, 24)}-{rng.integers(1, 13):02d}"
                                                 for _ in range(n_sites)]},
                             geometry=shapely.points(lon, lat), crs="EPSG:4326")
    x0, y0 = rng.uniform(73, 95, n_scenes), rng.uniform(34, 48, n_scenes)
    clouds = rng.uniform(0, 100, n_scenes).round(1)
    clouds[::17] = np.nan
    scenes = gpd.GeoDataFrame({
        "id": [f"scene-{i:05d}" for i in range(n_scenes)],
        "collection": np.where(rng.random(n_scenes) < 0.7, "sentinel-2-c1-l2a", "landsat-c2-l2"),
        "datetime": pd.Timestamp("2016-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 3600 * 24 * 3000, n_scenes),
                                                                           unit="s"),
        "cloud_cover": clouds,
        "platform": "sentinel-2a",
        "tile": "44TLK",
        "url": [f"https://example.invalid/{i}" for i in range(n_scenes)],
    }, geometry=shapely.box(x0, y0, x0 + 1.2, y0 + 1.0), crs="EPSG:4326")
    # a few exact duplicates of dates and clouds, so tie-breaking is exercised across partitions
    scenes.loc[1:5, "datetime"] = scenes.loc[0, "datetime"]
    scenes.loc[1:5, "cloud_cover"] = scenes.loc[0, "cloud_cover"]
    return sites, scenes


def _write_partitions(scenes, folder, n=4):
    folder.mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(scenes)), n)):
        scenes.iloc[part].to_parquet(folder / f"part-{k}.parquet", index=False)
    return folder


def _assert_same(a, b):
    (s1, d1), (s2, d2) = a, b
    assert json.dumps(s1, sort_keys=True) == json.dumps(s2, sort_keys=True)
    pd.testing.assert_frame_equal(d1, d2)


def test_dask_on_local_cluster_equals_in_memory(tmp_path):
    sites, scenes = _data()
    folder = _write_partitions(scenes, tmp_path / "scenes")
    expected = coverage(sites, scenes)
    assert len(expected[1]) > 300
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:
        got = coverage_dask(sites, folder, scheduler=cluster.scheduler_address)
    _assert_same(got, expected)


def test_dask_local_threads_and_stac_column_names(tmp_path):
    sites, scenes = _data()
    # stac-geoparquet keeps STAC property names: eo:cloud_cover, grid:code
    stac = scenes.rename(columns={"cloud_cover": "eo:cloud_cover", "tile": "grid:code"}).drop(columns="url")
    stac["grid:code"] = "MGRS-44TLK"
    stac["links"] = [[{"rel": "root", "href": "https://example.invalid/"}, {"rel": "self", "href": u}]
                     for u in scenes["url"]]
    folder = _write_partitions(stac, tmp_path / "stac", n=3)
    expected = coverage(sites, scenes)
    _assert_same(coverage_dask(sites, folder), expected)
    # a single file works too
    one = tmp_path / "one.parquet"
    scenes.to_parquet(one, index=False)
    _assert_same(coverage_dask(sites, one, cloud_threshold=35), coverage(sites, scenes, cloud_threshold=35))
