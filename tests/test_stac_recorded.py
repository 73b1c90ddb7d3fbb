"""The harvester against the real shapes of Earth Search v1 and the Planetary Computer: responses recorded by
pystac-client's test suite (../shared/data/recorded/stac-api-responses/, see its SOURCE.md), replayed on 127.0.0.1
by tests/stac_server.RecordedStacServer. Gzip bodies, POST `next` links (Earth Search: `next` token with
`merge: false`; Planetary Computer: `token`), the APIs' own property names, and a scenes source that validates."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from facilitymap import readers, registry
from facilitymap.footprints.stac import harvest, read_scenes

from stac_server import RecordedStacServer

REPO = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    """``../shared`` beside the repository (CI clones it there); from a git worktree, beside the main checkout."""
    candidates = [REPO.parent / "shared"]
    try:
        common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout.strip()
        candidates.append(Path(common).parent.parent / "shared")
    except (OSError, subprocess.CalledProcessError):
        pass
    for c in candidates:
        if (c / "data" / "recorded" / "stac-api-responses").is_dir():
            return c
    raise AssertionError(f"the recorded STAC responses are missing: looked in {', '.join(map(str, candidates))} "
                         "for data/recorded/stac-api-responses/ (CI must provide ../shared beside the clone)")


RECORDED = _shared() / "data" / "recorded" / "stac-api-responses"
EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
PLANETARY = "https://planetarycomputer.microsoft.com/api/stac/v1"


def recorded_pages(name: str) -> list[dict]:
    return [json.loads(it["response"]["body"]["string"])
            for it in yaml.safe_load((RECORDED / name).read_text("utf-8"))["interactions"]
            if it["request"]["uri"].endswith("/search")]


def check_source(out: Path, slug: str, n: int) -> None:
    sources = registry.load_sources(out)
    assert [s.slug for s in sources] == [slug]
    assert registry.validate_sources(sources) == []
    read = readers.read_source(sources[0])
    assert read.rows == n and len(read.records) == n and not read.rejected


def test_earth_search_gzip_fields_and_post_next_link(tmp_path):
    pages = recorded_pages("test_multiple_collections.yaml")
    items = pages[0]["features"]
    with RecordedStacServer([RECORDED / "TestCLISearch.test_matched.yaml", RECORDED / "test_multiple_collections.yaml"],
                            EARTH_SEARCH) as srv:
        folder = harvest(tmp_path, bbox=(-105.2, 40.1, -105.0, 40.2), collections=["sentinel-2-l2a", "landsat-c2-l2"],
                         start="2023-10-01", end="2023-10-31", api=srv.url, limit=10, retries=1, backoff=0.001,
                         progress=False, slug="es-recorded")
    # landing page, the first search page, then the recorded POST next link (its body, as merge: false says)
    assert [(r["method"], r["path"]) for r in srv.requests] == [("GET", "/v1"), ("POST", "/v1/search"),
                                                                ("POST", "/v1/search")]
    first, second = srv.requests[1]["body"], srv.requests[2]["body"]
    assert first["fields"]["exclude"] == ["assets"]  # the landing page offers the fields extension: used
    assert first["bbox"] == [-105.2, 40.1, -105.0, 40.2] and first["datetime"].startswith("2023-10-01T")
    next_link = next(ln for ln in pages[0]["links"] if ln["rel"] == "next")
    assert next_link["method"] == "POST" and next_link["merge"] is False and "next" in next_link["body"]
    assert second == next_link["body"]
    assert "gzip" in srv.requests[1]["accept_encoding"] and srv.gzip_sent == 2  # landing + page 1 were gzip
    assert [r["used"] for r in srv.recorded if r["collections"] == ["sentinel-2-l2a", "landsat-c2-l2"]] == [1, 1]

    scenes = read_scenes(folder).set_index("id")
    assert sorted(scenes.index) == sorted(it["id"] for it in items)
    for it in items:
        row, props = scenes.loc[it["id"]], it["properties"]
        assert row["collection"] == it["collection"] and row["platform"] == props["platform"]
        assert row["cloud_cover"] == pytest.approx(props["eo:cloud_cover"])
        assert row["datetime"].isoformat().startswith(props["datetime"][:19])
        assert row["tile"] == props["grid:code"].split("-", 1)[1]  # MGRS-13TDE -> 13TDE, WRS2-033032 -> 033032
        assert row["url"] == f"{srv.url}/collections/{it['collection']}/items/{it['id']}"
    assert set(scenes["tile"]) == {"13TDE", "033032"}
    desc = json.loads((folder / "datapackage.json").read_text("utf-8"))
    # the second (recorded, empty) page ends the window: pystac-client yields no empty page, so one page counted
    assert desc["facilitymap"]["harvest"] == {"items": 2, "pages": 1, "duplicates_dropped": 0,
                                              "no_geometry_dropped": 0, "clipped_to_world": 0, "windows": 1,
                                              "fields_extension": True}
    check_source(tmp_path, "es-recorded", 2)


@pytest.mark.parametrize("cassette, n_pages", [("TestItemSearch.test_result_paging.yaml", 2),
                                                ("TestItemSearch.test_result_paging_max_items.yaml", 3)])
def test_planetary_computer_token_paging(tmp_path, cassette, n_pages):
    pages = recorded_pages(cassette)
    assert len(pages) == n_pages
    ids = [f["id"] for p in pages for f in p["features"]]
    with RecordedStacServer([RECORDED / cassette], PLANETARY, landing=True) as srv:
        # the recording ends with a next link to a page that was not recorded: stop where it stops
        folder = harvest(tmp_path, bbox=(-73.21, 43.99, -73.12, 44.05), collections=["naip"], start="2023-11-01",
                         end="2023-11-30", api=srv.url, limit=10, max_items=len(ids), retries=1, backoff=0.001,
                         progress=False, slug="pc-recorded")
    searches = [r for r in srv.requests if r["path"] == "/api/stac/v1/search"]
    assert len(searches) == n_pages and all(r["method"] == "POST" for r in searches)
    assert "token" not in searches[0]["body"]
    for k in range(1, n_pages):  # each later page asked with the token of the previous page's next link
        link = next(ln for ln in pages[k - 1]["links"] if ln["rel"] == "next")
        assert link["method"] == "POST" and "merge" not in link
        assert searches[k]["body"] == link["body"] and searches[k]["body"]["token"].startswith("next:naip:")
    assert "fields" not in searches[0]["body"]  # no landing page conformance for fields: not asked
    scenes = read_scenes(folder)
    assert sorted(scenes["id"]) == sorted(ids) and len(set(ids)) == len(ids)
    assert scenes["cloud_cover"].isna().all() and scenes["platform"].isna().all()  # NAIP gives neither
    assert scenes["datetime"].notna().all() and (scenes["collection"] == "naip").all()
    assert all(u.startswith(srv.url + "/collections/naip/items/") for u in scenes["url"])
    check_source(tmp_path, "pc-recorded", len(ids))


def test_earth_search_paging_stops_at_max_items_with_a_pending_next_link(tmp_path):
    pages = recorded_pages("TestCLISearch.test_save.yaml")
    items = pages[0]["features"]
    with RecordedStacServer([RECORDED / "TestCLISearch.test_save.yaml"], EARTH_SEARCH) as srv:
        folder = harvest(tmp_path, bbox=(-180, -90, 180, 90), collections=["cop-dem-glo-30"], start="2021-04-01",
                         end="2021-04-30", api=srv.url, limit=10, max_items=len(items), retries=1, backoff=0.001,
                         progress=False, slug="dem")
    assert len([r for r in srv.requests if r["path"] == "/v1/search"]) == 1
    scenes = read_scenes(folder)
    assert sorted(scenes["id"]) == sorted(it["id"] for it in items)
    assert set(scenes["tile"]) == {it["properties"]["grid:code"].split("-", 1)[1] for it in items}
    # one real footprint reaches longitude -180.0014 (half an edge pixel past the antimeridian): cut to the world,
    # counted, and the source then reads with no row rejected
    west = [it["id"] for it in items if it["bbox"][0] < -180]
    assert len(west) == 1
    meta = json.loads((folder / "datapackage.json").read_text("utf-8"))["facilitymap"]["harvest"]
    assert meta["clipped_to_world"] == 1 and "1 footprints" in (folder / "README.md").read_text("utf-8")
    assert scenes.total_bounds[0] == -180.0
    check_source(tmp_path, "dem", len(items))
