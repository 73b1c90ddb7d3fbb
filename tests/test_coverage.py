"""Coverage figures on small hand-made cases (synthetic sites and scenes, built here)."""
import json
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facilitymap.footprints.coverage import (
    coverage, imagery_links, match_scenes, month_middle, scene_viewer_link,
)

NAN = float("nan")


def sites_gdf():
    return gpd.GeoDataFrame(
        {"site_id": ["A", "B", "C"], "lon": [80.0, 81.0, 90.0], "lat": [40.0, 40.0, 45.0],
         "reference_month": ["2019-05", "2021-05", None]},
        # B is an outline; its lon/lat (the representative point) is what is joined
        geometry=[shapely.Point(80, 40), shapely.box(80.99, 39.99, 81.01, 40.01), shapely.Point(90, 45)],
        crs="EPSG:4326",
    )


BIG = shapely.box(79.5, 39.5, 81.5, 40.5)       # A and B
SMALL_A = shapely.box(79.9, 39.9, 80.1, 40.1)   # A only
EDGE_A = shapely.box(80.0, 39.0, 80.5, 40.0)    # A exactly on its corner: counts
ONLY_B = shapely.box(80.9, 39.9, 81.1, 40.1)
FAR = shapely.box(100, 10, 101, 11)

SCENES = [
    # id, collection, datetime, cloud, platform, geometry
    ("S2A_1", "sentinel-2-c1-l2a", "2019-05-10T05:00:00Z", 30.0, "sentinel-2a", BIG),
    ("S2B_2", "sentinel-2-c1-l2a", "2019-05-20T05:00:00Z", 5.0, "sentinel-2b", SMALL_A),
    ("S2A_3", "sentinel-2-c1-l2a", "2019-05-25T05:00:00Z", 5.0, "sentinel-2a", SMALL_A),
    ("L8_4", "landsat-c2-l2", "2019-05-17T12:00:00Z", 50.0, "landsat-8", SMALL_A),
    ("L8_5", "landsat-c2-l2", "2019-05-15T12:00:00Z", NAN, "landsat-8", SMALL_A),
    ("S2A_6", "sentinel-2-c1-l2a", "2020-01-03T05:00:00Z", NAN, "sentinel-2a", SMALL_A),
    ("S2A_7", "sentinel-2-c1-l2a", "2020-01-05T05:00:00Z", 19.99, "sentinel-2a", SMALL_A),
    ("S2A_8", "sentinel-2-c1-l2a", "2018-12-31T23:59:59Z", 0.0, "sentinel-2a", EDGE_A),
    ("S2A_9", "sentinel-2-c1-l2a", "2021-06-01T05:00:00Z", 20.0, "sentinel-2a", ONLY_B),
    ("X_10", "local", None, NAN, None, SMALL_A),
    ("S2A_0", "sentinel-2-c1-l2a", "2019-05-20T05:00:00Z", 5.0, "sentinel-2a", SMALL_A),  # ties S2B_2
    ("S2A_12", "sentinel-2-c1-l2a", "2019-05-20T05:00:00Z", 1.0, "sentinel-2a", FAR),
]


def scenes_gdf(rows=SCENES):
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "collection": [r[1] for r in rows],
         "datetime": pd.to_datetime([r[2] for r in rows], utc=True), "cloud_cover": [r[3] for r in rows],
         "platform": [r[4] for r in rows], "tile": ["44TLK"] * len(rows),
         "url": [f"https://example.invalid/items/{r[0]}" for r in rows]},
        geometry=[r[5] for r in rows], crs="EPSG:4326",
    )


def test_counts_best_first_last_nearest():
    summary, detail = coverage(sites_gdf(), scenes_gdf())
    a = summary["A"]
    assert a["scenes"] == 10 and a["undated"] == 1
    assert a["under_cloud_threshold"] == 5  # 0, 5, 5, 5, 19.99; not 30, 50, NaN
    assert a["first"]["id"] == "S2A_8"      # on the footprint's corner: covered
    assert a["first"]["datetime"] == "2018-12-31T23:59:59Z"
    assert a["last"]["id"] == "S2A_7"
    assert list(a["years"]) == ["2018", "2019", "2020"]
    assert a["years"]["2019"]["scenes"] == 6
    assert a["years"]["2019"]["under_cloud_threshold"] == 3
    # three scenes at 5 %: earliest wins (S2B_2 and S2A_0 on 05-20 over S2A_3), then smallest id (S2A_0)
    assert a["years"]["2019"]["best"]["id"] == "S2A_0"
    # unknown cloud cover ranks after every known value
    assert a["years"]["2020"]["best"]["id"] == "S2A_7"
    assert a["years"]["2020"] == {"scenes": 2, "under_cloud_threshold": 1, "best": a["years"]["2020"]["best"]}
    assert a["months"]["2019-05"] == {"scenes": 6, "mean_cloud": 19.0, "best": "S2A_0", "best_cloud": 5.0}
    assert a["months"]["2020-01"] == {"scenes": 2, "mean_cloud": 20.0, "best": "S2A_7", "best_cloud": 19.99}
    assert list(a["months"]) == ["2018-12", "2019-05", "2020-01"]
    # reference month 2019-05 -> 2019-05-16T12:00Z; L8_4 and L8_5 are both one day away: the less cloudy one wins
    near = a["nearest_to_reference"]
    assert near["target"] == "2019-05-16T12:00:00Z" and near["days"] == 1.0
    assert near["scene"]["id"] == "L8_4"
    assert a["reference_month"] == "2019-05"

    b = summary["B"]
    assert b["scenes"] == 2 and b["under_cloud_threshold"] == 0  # 20.0 is not under 20
    assert b["nearest_to_reference"]["scene"]["id"] == "S2A_9" and b["nearest_to_reference"]["days"] == 15.71  # 2021-05-16T12:00 -> 06-01T05:00

    c = summary["C"]
    assert c["scenes"] == 0 and c["first"] is None and c["years"] == {} and c["nearest_to_reference"] is None

    assert list(summary) == ["A", "B", "C"]
    assert len(detail) == 12
    assert detail["site_id"].tolist() == ["A"] * 10 + ["B"] * 2
    assert detail["id"].tolist()[:10] == ["S2A_8", "S2A_1", "L8_5", "L8_4", "S2A_0", "S2B_2", "S2A_3", "S2A_6",
                                          "S2A_7", "X_10"]


def test_threshold_and_aspi_override():
    summary, _ = coverage(sites_gdf(), scenes_gdf(), cloud_threshold=31, reference_months={"A": "2020-01"})
    assert summary["A"]["under_cloud_threshold"] == 6
    assert summary["A"]["cloud_threshold"] == 31.0
    assert summary["A"]["nearest_to_reference"]["scene"]["id"] == "S2A_7"  # 01-05 vs 01-16T12: 11.3 days
    assert summary["B"]["nearest_to_reference"] is None  # the override replaces the column


def test_deterministic_and_json_ready():
    s1, d1 = coverage(sites_gdf(), scenes_gdf())
    shuffled = scenes_gdf().sample(frac=1, random_state=3)
    sites = sites_gdf().iloc[::-1]
    s2, d2 = coverage(sites, shuffled)
    assert json.dumps(s1, sort_keys=True) == json.dumps(s2, sort_keys=True)
    pd.testing.assert_frame_equal(d1, d2)
    json.dumps(s1, allow_nan=False)  # no NaN, no numpy or Timestamp objects


def test_viewer_links_per_scene():
    summary, _ = coverage(sites_gdf(), scenes_gdf())
    s2 = summary["A"]["years"]["2019"]["best"]
    q = parse_qs(urlsplit(s2["viewer"]).query)
    assert s2["viewer"].startswith("https://browser.dataspace.copernicus.eu/?")
    assert q["lat"] == ["40.000000"] and q["lng"] == ["80.000000"] and q["datasetId"] == ["S2_L2A_CDAS"]
    assert q["fromTime"] == ["2019-05-20T00:00:00.000Z"] and q["toTime"] == ["2019-05-20T23:59:59.999Z"]
    l8 = summary["A"]["nearest_to_reference"]["scene"]
    assert l8["viewer"].startswith("https://apps.sentinel-hub.com/eo-browser/?")
    assert parse_qs(urlsplit(l8["viewer"]).query)["datasetId"] == ["AWS_LOTL2"]
    assert scene_viewer_link(80, 40, {"collection": "local", "datetime": "2020-01-01T00:00:00Z"}) is None
    assert scene_viewer_link(80, 40, {"collection": "landsat-c2-l2", "platform": "landsat-5",
                                      "datetime": "2001-01-01T00:00:00Z"}) is None


def test_imagery_links():
    links = imagery_links(75.99, 39.47)
    assert [x["label"] for x in links][0].startswith("Copernicus Browser")
    for x in links:
        assert x["url"].startswith("https://")
    urls = {x["label"]: x["url"] for x in links}
    assert urls["Copernicus Browser (Sentinel-2 L2A)"].startswith(
        "https://browser.dataspace.copernicus.eu/?zoom=15&lat=39.470000&lng=75.990000")
    assert urls["Google Earth Web"].startswith("https://earth.google.com/web/@39.470000,75.990000,")
    assert "fromTime" not in urls["Copernicus Browser (Sentinel-2 L2A)"]
    dated = {x["label"]: x["url"] for x in imagery_links(75.99, 39.47, "2020-02")}
    q = parse_qs(urlsplit(dated["Copernicus Browser (Sentinel-2 L2A)"]).query)
    assert q["fromTime"] == ["2020-02-01T00:00:00.000Z"] and q["toTime"] == ["2020-02-29T23:59:59.999Z"]


def test_month_middle():
    assert month_middle("2019-05").isoformat() == "2019-05-16T12:00:00+00:00"
    assert month_middle("2020-02").isoformat() == "2020-02-15T12:00:00+00:00"
    assert month_middle("2019-13") is None and month_middle("unknown") is None and month_middle(None) is None


def test_join_equals_brute_force_on_random_data():
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(74, 96, 60), rng.uniform(35, 49, 60)
    sites = gpd.GeoDataFrame({"site_id": [f"s{i:03d}" for i in range(60)], "lon": lon, "lat": lat},
                             geometry=shapely.points(lon, lat), crs="EPSG:4326")
    x0, y0 = rng.uniform(73, 95, 500), rng.uniform(34, 48, 500)
    geoms = shapely.box(x0, y0, x0 + rng.uniform(0.5, 3, 500), y0 + rng.uniform(0.5, 3, 500))
    scenes = gpd.GeoDataFrame({"id": [f"x{i:04d}" for i in range(500)],
                               "datetime": pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(
                                   rng.integers(0, 2000, 500), unit="D"),
                               "cloud_cover": rng.uniform(0, 100, 500)}, geometry=geoms, crs="EPSG:4326")
    detail = match_scenes(sites, scenes)
    expected = {(s, x) for s, p in zip(sites["site_id"], sites.geometry)
                for x, g in zip(scenes["id"], scenes.geometry) if g.intersects(p)}
    assert set(zip(detail["site_id"], detail["id"])) == expected
    assert len(detail) == len(expected) > 100
    summary, _ = coverage(sites, scenes)
    for sid in ["s000", "s001", "s002"]:
        mine = scenes[scenes.intersects(sites.set_index("site_id").geometry[sid])]
        assert summary[sid]["scenes"] == len(mine)
        assert summary[sid]["under_cloud_threshold"] == int((mine["cloud_cover"] < 20).sum())
        if len(mine):
            assert summary[sid]["first"]["id"] == mine.sort_values(["datetime", "id"])["id"].iloc[0]


def test_scenes_in_another_crs_are_reprojected():
    # (the corner-touching scene is left out: a round trip through metres moves its corner by ~1e-9 degrees)
    scenes = scenes_gdf([r for r in SCENES if r[0] != "S2A_8"])
    summary, _ = coverage(sites_gdf(), scenes.to_crs("EPSG:3857"))
    assert summary["A"]["scenes"] == 9 and summary["B"]["scenes"] == 2


def test_sort_detail_restores_canonical_order():
    from facilitymap.footprints.coverage import sort_detail

    rows = SCENES + [("S2A_1", "other-collection", "2019-05-10T05:00:00Z", 1.0, "x", BIG)]  # same id, 2 collections
    _, detail = coverage(sites_gdf(), scenes_gdf(rows))
    shuffled = detail.sample(frac=1, random_state=5)
    pd.testing.assert_frame_equal(sort_detail(shuffled), detail)
    a = detail[detail["site_id"] == "A"]
    assert a[a["id"] == "S2A_1"]["collection"].tolist() == ["other-collection", "sentinel-2-c1-l2a"]


def test_summary_of_shuffled_detail_equals_summary_of_sorted():
    from facilitymap.footprints.coverage import summarise

    summary, detail = coverage(sites_gdf(), scenes_gdf())
    shuffled = detail.sample(frac=1, random_state=9)
    assert json.dumps(summarise(sites_gdf(), shuffled), sort_keys=True) == json.dumps(summary, sort_keys=True)


def test_normalise_scenes_takes_each_items_own_tile_name():
    """One harvest mixes items that name their tile differently; every scene keeps its tile."""
    import geopandas as gpd
    import shapely as sh

    from facilitymap.footprints.coverage import normalise_scenes

    box = sh.box(75, 39, 76, 40)
    scenes = gpd.GeoDataFrame({
        "id": ["a", "b", "c"],
        "grid:code": ["MGRS-43SED", None, None],
        "s2:mgrs_tile": [None, "43SEC", None],
        "landsat:wrs_path": [None, None, "150"],
        "landsat:wrs_row": [None, None, "033"],
    }, geometry=[box, box, box], crs="EPSG:4326")
    assert normalise_scenes(scenes)["tile"].tolist() == ["43SED", "43SEC", "150033"]
