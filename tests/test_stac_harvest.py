"""The STAC harvest against a real STAC API served on 127.0.0.1 (tests/stac_server.py) with injected faults.

pystac-client and requests run unmodified over HTTP; only the server misbehaves. Fixture: 25 synthetic items a
month for Jan-Mar 2020, page size 10, so every monthly window is 3 pages (10, 10, 5).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import stac_geoparquet.arrow as sga
from shapely.geometry import box, shape

from facilitymap.footprints import stac
from facilitymap.footprints.stac import FetchError, RepeatedPageError, harvest, read_scenes

from stac_server import Fault, StacServer, make_items

MONTHS = ["2020-01", "2020-02", "2020-03"]
BBOX = (70.0, 30.0, 100.0, 50.0)
COLLS = ["sentinel-2-c1-l2a", "landsat-c2-l2"]
ITEMS = make_items(MONTHS, per_month=25)


def run(srv: StacServer, out: Path, **kw) -> Path:
    args = dict(bbox=BBOX, collections=COLLS, start="2020-01-01", end="2020-03-31", api=srv.url, limit=10,
                retries=3, backoff=0.001, timeout=5, progress=False, slug="scenes-test")
    args.update(kw)
    return harvest(out, **args)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: sha(p) for p in sorted(folder.iterdir())}


def pages(srv: StacServer, month: str) -> dict[int, int]:
    """Requests per page number for the window of `month`."""
    out: dict[int, int] = {}
    for h in srv.search_hits(window=month + "-01T"):
        out[h.page] = out.get(h.page, 0) + 1
    return out


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_full_harvest_matches_fixture(tmp_path, method):
    bbox = (74.0, 35.0, 85.0, 50.0)
    expected = sorted(it["id"] for it in ITEMS if box(*bbox).intersects(shape(it["geometry"])))
    assert 0 < len(expected) < len(ITEMS)  # the bbox really filters
    with StacServer(ITEMS) as srv:
        folder = run(srv, tmp_path, bbox=bbox, method=method)
        assert {h.method for h in srv.search_hits()} == {method}
    scenes = read_scenes(folder)
    assert sorted(scenes["id"]) == expected
    by_id = {it["id"]: it for it in ITEMS}
    for row in scenes.itertuples():
        item = by_id[row.id]
        props = item["properties"]
        assert row.collection == item["collection"]
        assert row.datetime.isoformat().startswith(props["datetime"][:19]) and str(row.datetime.tz) == "UTC"
        assert row.cloud_cover == pytest.approx(props["eo:cloud_cover"])
        assert row.platform == props["platform"]
        tile = (props.get("grid:code", "").removeprefix("MGRS-") or props.get("s2:mgrs_tile")
                or props.get("landsat:wrs_path", "") + props.get("landsat:wrs_row", ""))
        assert row.tile == tile
        assert row.url == f"{srv.url}/collections/{item['collection']}/items/{item['id']}"
        assert row.geometry.equals(shape(item["geometry"]))
    assert list(scenes["datetime"]) == sorted(scenes["datetime"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenes-test"]  # no temp or checkpoint left behind


def test_descriptor_hash_matches_and_geoparquet_round_trips(tmp_path):
    with StacServer(ITEMS) as srv:
        folder = run(srv, tmp_path / "a")
        again = run(srv, tmp_path / "b")
    desc = json.loads((folder / "datapackage.json").read_text("utf-8"))
    res = desc["resources"][0]
    path = folder / res["path"]
    assert res["hash"] == "sha256:" + sha(path) and res["bytes"] == path.stat().st_size
    assert sha(again / res["path"]) == sha(path)  # same query, same answer: byte-identical file
    fm = desc["facilitymap"]
    assert (fm["layer"], fm["reader"], fm["resource"]) == ("scenes", "geoparquet", res["name"])
    assert fm["query"]["bbox"] == list(BBOX) and fm["query"]["collections"] == COLLS
    assert fm["query"]["datetime"] == "2020-01-01/2020-03-31" and fm["query"]["limit"] == 10
    assert fm["endpoint"] == srv.url + "/search" and fm["harvest"]["items"] == len(ITEMS)
    titles = [lic["title"] for lic in desc["licenses"]]
    assert titles == ["Copernicus Sentinel data, free and open licence", "USGS Landsat data, public domain"]
    assert desc["licenses"][0]["path"].endswith("/Sentinel_Data_Legal_Notice")
    assert "Copernicus Sentinel data" in (folder / "README.md").read_text("utf-8")
    from facilitymap import readers, registry  # the project's own loader accepts the folder as a source

    sources = registry.load_sources(tmp_path / "a")
    assert [s.slug for s in sources] == ["scenes-test"] and registry.validate_sources(sources) == []
    read = readers.read_source(sources[0])
    assert read.rows == len(ITEMS) and not read.rejected
    # stac-geoparquet round trip: back to STAC items with the same ids, footprints and properties
    back = {it["id"]: it for it in sga.stac_table_to_items(pq.read_table(path))}
    assert set(back) == {it["id"] for it in ITEMS}
    for item in ITEMS:
        b = back[item["id"]]
        assert shape(b["geometry"]).equals(shape(item["geometry"]))
        assert b["properties"]["platform"] == item["properties"]["platform"]
        assert b["links"][0]["rel"] == "self" and item["id"] in b["links"][0]["href"]
        assert b["assets"] == {}  # assets are not kept: footprints only


TRANSIENT = {
    "503 once": Fault("status:503", page=2, window="2020-02", times={1}),
    "500 then 502 then 504": Fault("status:500", page=3, window="2020-01", times={1}),
    "sleep past timeout": Fault("sleep:3", page=2, window="2020-03", times={1}),
    "dropped connection": Fault("drop", page=1, window="2020-02", times={1, 2}),
    "truncated JSON": Fault("truncate", page=2, window="2020-01", times={1, 2}),
    "short body": Fault("short", page=3, window="2020-02", times={1}),
}


@pytest.mark.parametrize("name", list(TRANSIENT))
def test_transient_faults_are_retried_and_change_nothing(tmp_path, name):
    fault = TRANSIENT[name]
    faults = [fault]
    if name == "500 then 502 then 504":
        faults = [fault, Fault("status:502", page=3, window="2020-01", times={2}),
                  Fault("status:504", page=3, window="2020-01", times={3})]
    with StacServer(ITEMS) as srv:
        clean = run(srv, tmp_path / "clean")
        srv.hits.clear(), srv._counts.clear()
        srv.faults = faults
        folder = run(srv, tmp_path / "faulty", timeout=1.0)
        month = fault.window
        extra = {"503 once": 1, "500 then 502 then 504": 3, "sleep past timeout": 1, "dropped connection": 2,
                 "truncated JSON": 2, "short body": 1}[name]
        assert pages(srv, month)[fault.page] == 1 + extra
    assert sha(folder / "scenes.parquet") == sha(clean / "scenes.parquet")


@pytest.mark.parametrize("where", ["first run", "previous source exists"])
def test_persistent_fault_raises_and_keeps_previous_source(tmp_path, where):
    with StacServer(ITEMS) as srv:
        if where == "previous source exists":
            run(srv, tmp_path)
            before = snapshot(tmp_path / "scenes-test")
            srv.hits.clear(), srv._counts.clear()
        srv.faults = [Fault("status:503", page=2, window="2020-02")]
        with pytest.raises(FetchError) as exc:
            run(srv, tmp_path)
        assert pages(srv, "2020-02")[2] == 4  # retries=3: four attempts, then give up
    err = exc.value
    assert (err.status, err.attempts) == (503, 4)
    assert err.url.startswith(srv.url + "/search")
    assert "HTTP 503 after 4 attempts" in str(err) and srv.url in str(err)
    if where == "first run":
        assert not (tmp_path / "scenes-test").exists()
    else:
        assert snapshot(tmp_path / "scenes-test") == before
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [".scenes-test.partial"] + (["scenes-test"] if where != "first run" else [])


def test_persistent_timeout_and_invalid_json_name_the_url(tmp_path):
    with StacServer(ITEMS, faults=[Fault("sleep:2", page=1, window="2020-01")]) as srv:
        with pytest.raises(FetchError) as exc:
            run(srv, tmp_path, retries=1, timeout=0.6)
        assert pages(srv, "2020-01")[1] == 2
    assert exc.value.status is None and exc.value.attempts == 2 and "timed out" in str(exc.value).lower()
    with StacServer(ITEMS, faults=[Fault("truncate", page=2, window="2020-03")]) as srv:
        with pytest.raises(FetchError) as exc:
            run(srv, tmp_path, retries=2)
        assert pages(srv, "2020-03")[2] == 3
    assert exc.value.attempts == 3 and "invalid JSON" in str(exc.value)
    assert not (tmp_path / "scenes-test").exists()


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_interrupted_harvest_resumes_from_checkpoint(tmp_path, method):
    with StacServer(ITEMS) as srv:
        srv.faults = [Fault("status:500", page=3, window="2020-02")]
        with pytest.raises(FetchError):
            run(srv, tmp_path / "out", method=method)
        state = json.loads((tmp_path / "out" / ".scenes-test.partial" / "state.json").read_text())
        assert state["done"] == [stac.month_windows("2020-01-01", "2020-01-31")[0]]
        assert state["pages"] == 5 and state["items"] == 45 and state["next"]
        srv.faults = []
        folder = run(srv, tmp_path / "out", method=method)
        assert pages(srv, "2020-01") == {1: 1, 2: 1, 3: 1}  # never asked again
        assert pages(srv, "2020-02") == {1: 1, 2: 1, 3: 4 + 1}  # 4 failed attempts, then once on resume
        assert pages(srv, "2020-03") == {1: 1, 2: 1, 3: 1}
        clean = run(srv, tmp_path / "clean", method=method)
    assert sha(folder / "scenes.parquet") == sha(clean / "scenes.parquet")
    assert not (tmp_path / "out" / ".scenes-test.partial").exists()


def test_checkpoint_of_another_query_is_not_reused(tmp_path):
    with StacServer(ITEMS, faults=[Fault("status:500", page=2, window="2020-03")]) as srv:
        with pytest.raises(FetchError):
            run(srv, tmp_path)
        srv.faults = []
        folder = run(srv, tmp_path, bbox=(74.0, 35.0, 85.0, 50.0))
        # the first month was done, but for another bbox: asked again from page 1
        assert pages(srv, "2020-01")[1] == 2 and pages(srv, "2020-03")[1] == 2
    assert json.loads((folder / "datapackage.json").read_text())["facilitymap"]["query"]["bbox"][0] == 74.0


@pytest.mark.parametrize("action", ["repeat", "stuck"])
def test_repeated_page_is_detected(tmp_path, action):
    with StacServer(ITEMS, faults=[Fault(action, page=2, window="2020-02")]) as srv:
        with pytest.raises(RepeatedPageError) as exc:
            run(srv, tmp_path)
        hits = pages(srv, "2020-02")
    assert hits[1] == 1 and hits[2] <= 2 and 3 not in hits  # stopped at once, no loop
    assert "repeats a page" in str(exc.value) and srv.url in str(exc.value)
    assert not (tmp_path / "scenes-test").exists()


def test_max_items_stops_paging(tmp_path):
    with StacServer(ITEMS) as srv:
        folder = run(srv, tmp_path, max_items=23)
        assert pages(srv, "2020-01") == {1: 1, 2: 1, 3: 1} and not pages(srv, "2020-02")
    scenes = read_scenes(folder)
    assert list(scenes["id"]) == [it["id"] for it in ITEMS[:23]]  # the first 23 in the API's order


def test_progress_bar_total_comes_from_number_matched(tmp_path, capsys):
    with StacServer(ITEMS) as srv:
        run(srv, tmp_path, progress=True)
    err = capsys.readouterr().err
    assert f"{len(ITEMS)}/{len(ITEMS)}" in err


def test_read_scenes_refuses_a_tampered_file(tmp_path):
    with StacServer(ITEMS) as srv:
        folder = run(srv, tmp_path)
    data = bytearray((folder / "scenes.parquet").read_bytes())
    data[100] ^= 0xFF
    (folder / "scenes.parquet").write_bytes(bytes(data))
    with pytest.raises(stac.HarvestError, match="sha256"):
        read_scenes(folder)


def test_api_aliases_and_windows():
    assert stac.resolve_api("earth-search") == (stac.EARTH_SEARCH, ["sentinel-2-c1-l2a", "landsat-c2-l2"])
    assert stac.resolve_api("planetary-computer") == (
        "https://planetarycomputer.microsoft.com/api/stac/v1", ["sentinel-2-l2a", "landsat-c2-l2"])
    assert stac.resolve_api(stac.PLANETARY_COMPUTER + "/")[1] == ["sentinel-2-l2a", "landsat-c2-l2"]
    with pytest.raises(ValueError):
        stac.resolve_api("file:///etc/passwd")
    wins = stac.month_windows("2016-01-15", "2016-03-02")
    assert wins == ["2016-01-15T00:00:00Z/2016-01-31T23:59:59.999999Z",
                    "2016-02-01T00:00:00Z/2016-02-29T23:59:59.999999Z",
                    "2016-03-01T00:00:00Z/2016-03-02T23:59:59.999999Z"]
    assert len(stac.month_windows("2016-01-01", "2026-11-26")) == 131


def test_landing_page_down_is_a_clear_error(tmp_path):
    with StacServer(ITEMS, faults=[Fault("status:502", path="/")]) as srv:
        with pytest.raises(FetchError) as exc:
            run(srv, tmp_path, retries=2)
        assert srv.count("/") == 3 and not srv.search_hits()
    assert exc.value.status == 502 and exc.value.attempts == 3 and exc.value.url.startswith(srv.url)


def test_throttling_429_is_retried(tmp_path):
    with StacServer(ITEMS, faults=[Fault("status:429", page=1, window="2020-03", times={1, 2})]) as srv:
        folder = run(srv, tmp_path)
        assert pages(srv, "2020-03")[1] == 3
    assert len(read_scenes(folder)) == len(ITEMS)


def test_empty_harvest_is_a_valid_empty_layer(tmp_path):
    with StacServer(ITEMS) as srv:
        folder = run(srv, tmp_path, bbox=(0.0, 0.0, 1.0, 1.0))
    scenes = read_scenes(folder)
    assert len(scenes) == 0
    assert list(scenes.columns) == ["id", "collection", "datetime", "cloud_cover", "platform", "tile", "url",
                                    "geometry"]
    assert json.loads((folder / "datapackage.json").read_text())["facilitymap"]["harvest"]["items"] == 0


def test_items_converted_in_chunks_with_different_columns_give_the_same_layer(tmp_path, monkeypatch):
    with StacServer(ITEMS) as srv:
        whole = read_scenes(run(srv, tmp_path / "whole"))
        monkeypatch.setattr(stac, "ARROW_CHUNK", 3)  # chunks where landsat or grid:code columns are absent
        chunked = read_scenes(run(srv, tmp_path / "chunked"))
    assert chunked.drop(columns="geometry").equals(whole.drop(columns="geometry"))
    assert chunked.geometry.geom_equals(whole.geometry).all()
    assert set(chunked["tile"].map(len)) == {5, 6}  # MGRS tiles and WRS path+row both survived


def test_resume_with_an_expired_token_redoes_only_that_window(tmp_path):
    faults = [Fault("status:500", page=3, window="2020-02", times={1, 2, 3, 4}),
              Fault("status:400", page=3, window="2020-02", times={5})]  # the API forgot the token meanwhile
    with StacServer(ITEMS, faults=faults) as srv:
        with pytest.raises(FetchError):
            run(srv, tmp_path / "out")
        folder = run(srv, tmp_path / "out")
        assert pages(srv, "2020-01") == {1: 1, 2: 1, 3: 1}
        assert pages(srv, "2020-02") == {1: 2, 2: 2, 3: 6}
        srv.faults = []
        clean = run(srv, tmp_path / "clean")
    assert sha(folder / "scenes.parquet") == sha(clean / "scenes.parquet")
    assert json.loads((folder / "datapackage.json").read_text())["facilitymap"]["harvest"]["items"] == len(ITEMS)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_fields_extension_is_used_when_offered_and_changes_nothing(tmp_path, method):
    with StacServer(ITEMS) as srv:
        plain = run(srv, tmp_path / "plain", method=method)
        plain_bytes, srv.bytes_sent = srv.bytes_sent, 0
        srv.fields = True  # the landing page now advertises item-search#fields
        slim = run(srv, tmp_path / "slim", method=method)
        assert srv.bytes_sent * 3 < plain_bytes  # assets were not sent
    assert sha(slim / "scenes.parquet") == sha(plain / "scenes.parquet")
    meta = [json.loads((f / "datapackage.json").read_text())["facilitymap"]["harvest"] for f in (plain, slim)]
    assert [m["fields_extension"] for m in meta] == [False, True]


def test_items_without_geometry_are_counted_not_kept(tmp_path):
    items = make_items(["2020-01"], per_month=12)
    for it in items[:3]:
        it["geometry"] = None
    with StacServer(items) as srv:
        folder = run(srv, tmp_path, end="2020-01-31")
    meta = json.loads((folder / "datapackage.json").read_text())["facilitymap"]["harvest"]
    assert (meta["items"], meta["no_geometry_dropped"]) == (9, 3)
    assert set(read_scenes(folder)["id"]) == {it["id"] for it in items[3:]}
    assert "3 items without a footprint" in (folder / "README.md").read_text()
