"""End-to-end: the shipped sources through `build` to maps/xinjiang/, and the CLI through click's runner."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from facilitymap.builder import BuildError, build
from facilitymap.cli import main

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = ["annotations.geojson", "build-report.json", "citations.json", "coverage.json", "embed.html",
           "index.html", "records.csv", "sites.csv", "sites.geojson", "sources.json"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The default map built once from the shipped sources into a temporary maps/ folder."""
    maps = tmp_path_factory.mktemp("maps")
    shutil.copy(ROOT / "maps" / "xinjiang.yaml", maps / "xinjiang.yaml")
    build("xinjiang", sources_dir=ROOT / "sources", maps_dir=maps)
    return maps / "xinjiang"


def test_every_output_is_written(built):
    assert sorted(p.name for p in built.iterdir()) == OUTPUTS


def test_report_balances_for_every_source(built):
    report = json.loads((built / "build-report.json").read_text())
    for slug, s in report["sources"].items():
        assert s["rows"] == s["records"] + len(s["rejected"]), slug
        for r in s["rejected"]:
            assert isinstance(r["row"], int) and r["reason"], (slug, r)
    assert report["sources"]["aspi-xjdp-markers"]["rows"] == 1351
    assert report["sources"]["aspi-camp-dataset-v1"]["rows"] == 380
    assert report["sources"]["buzzfeed-2020"]["rows"] == 443
    assert report["sources"]["sentinel-2-grid"]["rows"] == 20430


def test_every_record_lands_in_exactly_one_site(built):
    """Nothing lost: every accepted record is in records.csv with a site, and that site lists it back."""
    sites = json.loads((built / "sites.geojson").read_text())["features"]
    listed = {(r["source"], r["record_id"]): f["properties"]["site_id"]
              for f in sites for r in f["properties"]["records"]}
    with open(built / "records.csv", newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    report = json.loads((built / "build-report.json").read_text())
    site_sources = {r["source"] for r in rows}
    for slug in site_sources:
        assert sum(1 for r in rows if r["source"] == slug) == report["sources"][slug]["records"]
    assert len(listed) == len(rows)
    for r in rows:
        assert listed[(r["source"], r["record_id"])] == r["site_id"]


def test_sites_geojson_contract(built):
    fc = json.loads((built / "sites.geojson").read_text())
    assert fc["type"] == "FeatureCollection"
    ids = [f["properties"]["site_id"] for f in fc["features"]]
    assert len(ids) == len(set(ids))
    kinds = {f["properties"]["kind"] for f in fc["features"]}
    assert kinds == {"detention", "cultural"}
    for f in fc["features"]:
        p = f["properties"]
        assert p["name"], p["site_id"]
        assert p["records"] and all(set(r) == {"source", "record_id"} for r in p["records"])
        for field, values in p["attributes"].items():
            for v in values:
                assert v["source"] in {r["source"] for r in p["records"]}, (p["site_id"], field)
    with open(built / "sites.csv", newline="", encoding="utf-8-sig") as fh:
        assert len(list(csv.DictReader(fh))) == len(fc["features"])


def test_sources_json_names_licence_and_hash(built):
    sources = json.loads((built / "sources.json").read_text())
    slugs = {s["slug"] for s in sources}
    assert {"aspi-xjdp-markers", "buzzfeed-2020", "osm-reeducation-camps"} <= slugs
    for s in sources:
        assert s["title"] and s["licence"]["name"]
        assert s["retrieved"] or s.get("retrieved_note"), s["slug"]  # a date, or why it is unknown
        for f in s["files"]:
            assert len(f["sha256"]) == 64


def test_rebuild_is_byte_identical(built, tmp_path):
    shutil.copy(ROOT / "maps" / "xinjiang.yaml", tmp_path / "xinjiang.yaml")
    build("xinjiang", sources_dir=ROOT / "sources", maps_dir=tmp_path)
    for name in OUTPUTS:
        assert (tmp_path / "xinjiang" / name).read_bytes() == (built / name).read_bytes(), name


def _copy_sources(tmp_path: Path, slugs: list[str]) -> Path:
    dst = tmp_path / "sources"
    for slug in slugs:
        shutil.copytree(ROOT / "sources" / slug, dst / slug)
    return dst


SMALL_SPEC = """name: small
title: Small
sources: [buzzfeed-2020]
"""


def test_bad_file_stops_the_build_and_keeps_previous_outputs(tmp_path):
    sources = _copy_sources(tmp_path, ["buzzfeed-2020"])
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "small.yaml").write_text(SMALL_SPEC)
    build("small", sources_dir=sources, maps_dir=maps, basemap="none")
    before = {p.name: p.read_bytes() for p in (maps / "small").iterdir()}

    csv_path = sources / "buzzfeed-2020" / "Xinjiang_camps_database_BuzzFeed.csv"
    data = csv_path.read_bytes()
    csv_path.write_bytes(data.replace(b"corroborated", b"corroborat\xe9d", 1))  # now not UTF-8, hash differs
    with pytest.raises((BuildError, Exception)) as err:
        build("small", sources_dir=sources, maps_dir=maps, basemap="none")
    assert "Xinjiang_camps_database_BuzzFeed.csv" in str(err.value)
    after = {p.name: p.read_bytes() for p in (maps / "small").iterdir()}
    assert after == before
    assert sorted(p.name for p in maps.iterdir()) == ["small", "small.yaml"]  # no temporary folder left


def test_unknown_map_and_missing_source_are_named(tmp_path):
    maps = tmp_path / "maps"
    maps.mkdir()
    with pytest.raises(BuildError, match="nosuch.yaml"):
        build("nosuch", sources_dir=ROOT / "sources", maps_dir=maps)
    (maps / "m.yaml").write_text("sources: [buzzfeed-2020, not-a-source]\n")
    with pytest.raises(BuildError, match="not-a-source"):
        build("m", sources_dir=ROOT / "sources", maps_dir=maps)
    (maps / "t.yaml").write_text("sources: [buzzfeed-2020]\ntitel: typo\n")
    with pytest.raises(BuildError, match="titel"):
        build("t", sources_dir=ROOT / "sources", maps_dir=maps)


def test_cli_build_validate_and_sources(tmp_path):
    sources = _copy_sources(tmp_path, ["buzzfeed-2020", "osm-reeducation-camps"])
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "small.yaml").write_text("sources: [buzzfeed-2020, osm-reeducation-camps]\n")
    runner = CliRunner()
    res = runner.invoke(main, ["build", "small", "--sources", str(sources), "--maps", str(maps),
                               "--basemap", "none"])
    assert res.exit_code == 0, res.output
    assert "built" in res.output and (maps / "small" / "index.html").exists()

    res = runner.invoke(main, ["validate", "--sources", str(sources), "--maps", str(maps)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["sources", "--sources", str(sources), "--json"])
    assert res.exit_code == 0, res.output
    table = {r["slug"]: r for r in json.loads(res.output)}
    assert table["buzzfeed-2020"]["records"] + table["buzzfeed-2020"]["rejected"] == 443
    assert table["buzzfeed-2020"]["licence"] == "CC-BY-4.0"

    (sources / "buzzfeed-2020" / "Xinjiang_camps_database_BuzzFeed.csv").write_text("name_id,id\n")
    res = runner.invoke(main, ["validate", "--sources", str(sources), "--maps", str(maps)])
    assert res.exit_code == 1
    assert "Xinjiang_camps_database_BuzzFeed.csv" in res.output
    res = runner.invoke(main, ["build", "small", "--sources", str(sources), "--maps", str(maps)])
    assert res.exit_code == 1 and "Xinjiang_camps_database_BuzzFeed.csv" in res.output


def test_a_large_page_is_built_with_a_warning(tmp_path, monkeypatch):
    from facilitymap import builder

    shutil.copytree(ROOT / "sources" / "buzzfeed-2020", tmp_path / "sources" / "buzzfeed-2020")
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "small.yaml").write_text(SMALL_SPEC)
    assert build("small", sources_dir=tmp_path / "sources", maps_dir=maps).warnings == []
    monkeypatch.setattr(builder, "PAGE_WARN_MB", 0)
    result = build("small", sources_dir=tmp_path / "sources", maps_dir=maps)
    assert any("index.html is" in w for w in result.warnings)
    assert (maps / "small" / "index.html").exists()
