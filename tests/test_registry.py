"""The registry: loading descriptors, validating them (keys, hashes, licences, mappings), summaries for sources.json."""
from __future__ import annotations

import hashlib
import json

import pytest

from facilitymap.errors import SourceError
from facilitymap.registry import file_sha256, load_sources, source_summary, validate_sources

SHIPPED = ["aspi-camp-dataset-v1", "aspi-xjdp-markers", "buzzfeed-2020", "osm-reeducation-camps", "sentinel-2-grid"]
RAW_SHA = {  # from ../shared/data/raw/*/SOURCE.md
    "aspi-xjdp-markers": "244ee52a2cf0f11b49eec6e4ce9fa3fe00a37672300025db35278f14171ba274",
    "aspi-camp-dataset-v1": "031bc1c6a687703faa90929026b64eb35c8f223e6f56df298bbb2ad86d8481eb",
    "buzzfeed-2020": "49bb29e4265fca0de83e3350a0a09fa12c22c733592492ad951e3427a4a6a153",
    "osm-reeducation-camps": "085bb4c3fd17df3356ff71e3e7d0c71e3cc906df442eb1f37c2ae7f7395edfa8",
    "sentinel-2-grid": "b4db92c6c9ec8471cdb67ec85ead6c487322158bd976eb7b85c26bf5a85382d6",
}


@pytest.fixture(scope="module")
def shipped(sources_dir):
    return {s.slug: s for s in load_sources(sources_dir) if s.slug in SHIPPED}


def test_load_sorted_with_properties(sources_dir, shipped):
    slugs = [s.slug for s in load_sources(sources_dir)]
    assert slugs == sorted(slugs) and set(SHIPPED) <= set(slugs)
    bf = shipped["buzzfeed-2020"]
    assert bf.layer == "sites" and bf.reader == "csv" and bf.retrieved == "2020-09-16"
    assert bf.licence["name"] == "CC-BY-4.0" and bf.citation_url.startswith("https://github.com/critocrito/")
    assert bf.path.name == "Xinjiang_camps_database_BuzzFeed.csv" and bf.path.is_file()
    assert shipped["osm-reeducation-camps"].licence["name"] == "ODbL-1.0"
    assert "© OpenStreetMap contributors" in shipped["osm-reeducation-camps"].licence["title"]
    for slug in ("aspi-xjdp-markers", "aspi-camp-dataset-v1"):
        assert shipped[slug].licence["name"] == "no-licence-stated"
        assert shipped[slug].publisher == "Australian Strategic Policy Institute (ASPI)"


def test_shipped_files_are_the_snapshots_named_in_source_md(shipped):
    for slug, sha in RAW_SHA.items():
        s = shipped[slug]
        assert s.sha256 == sha
        assert hashlib.sha256(s.path.read_bytes()).hexdigest() == sha
        assert s.resource["bytes"] == s.path.stat().st_size
        assert (s.folder / "README.md").is_file()


def test_shipped_sources_validate(shipped):
    assert validate_sources(list(shipped.values())) == []


def test_descriptor_shape(shipped):
    for s in shipped.values():
        d = s.descriptor
        assert d["name"] == s.slug
        assert d["contributors"][0]["role"] == "publisher"
        fm = d["facilitymap"]
        assert fm["retrieved"] is not None or fm["retrieved_note"].startswith("unknown")
        for r in d["resources"]:
            assert r["hash"].startswith("sha256:") and r["mediatype"]
            if r["format"] == "csv":
                assert r["dialect"]["delimiter"] == ","


def test_summary(shipped):
    summary = source_summary(shipped["aspi-camp-dataset-v1"])
    assert summary["slug"] == "aspi-camp-dataset-v1" and summary["retrieved"] is None
    assert summary["retrieved_note"].startswith("unknown")
    assert summary["licence"] == {"name": "no-licence-stated", "path": None,
                                  "title": shipped["aspi-camp-dataset-v1"].licence["title"]}
    assert summary["files"] == [{"path": "sources/aspi-camp-dataset-v1/CampDataset_v1.csv",
                                 "sha256": RAW_SHA["aspi-camp-dataset-v1"], "bytes": 113201}]
    bf = source_summary(shipped["buzzfeed-2020"])
    assert {"slug", "title", "publisher", "licence", "citation", "citation_url", "retrieved", "upstream",
            "files"} <= set(bf)
    assert bf["citation_url"] == "https://github.com/critocrito/xinjiang-camps-data"
    json.dumps(bf, sort_keys=True)  # plain data


def _edit(src, fn):
    d = json.loads(src.descriptor_path.read_text())
    fn(d)
    src.descriptor_path.write_text(json.dumps(d))
    return next(s for s in load_sources(src.folder.parent) if s.slug == src.slug)


CSV = "id,name,lat,lon\n1,A,41,80\n"
FIELDS = {"record_id": "id", "name": "name", "lat": "lat", "lon": "lon"}


def test_validate_reports_each_problem(make_source):
    ok = make_source(CSV, reader="csv", fields=FIELDS)
    assert validate_sources([ok]) == []

    pristine = ok.descriptor_path.read_text()

    def problems(fn):
        ok.descriptor_path.write_text(pristine)
        return validate_sources([_edit(ok, fn)])

    assert any("licenses" in p for p in problems(lambda d: d.update(licenses=[])))
    assert any("facilitymap.layer 'pins'" in p for p in problems(lambda d: d["facilitymap"].update(layer="pins")))
    assert any("'Colour!' is not a field name" in p
               for p in problems(lambda d: d["facilitymap"]["fields"].update({"Colour!": "name"})))
    # a well-formed name the descriptor alone cannot judge: whether a map knows it is checked with the map
    assert problems(lambda d: d["facilitymap"]["fields"].update(colour="name")) == []
    assert any("column 'Tier'" in p and "is not in the file" in p
               for p in problems(lambda d: d["facilitymap"]["fields"].update(tier="Tier")))
    assert any("does not match the descriptor" in p
               for p in problems(lambda d: d["resources"][0].update(hash="sha256:" + "1" * 64)))
    assert any("file has" in p for p in problems(lambda d: d["resources"][0].update(bytes=1)))
    assert any("does not exist" in p for p in problems(lambda d: d["resources"][0].update(path="nope.csv")))
    assert any("is not the folder name" in p for p in problems(lambda d: d.update(name="other")))
    assert any("retrieved_note" in p for p in problems(lambda d: d["facilitymap"].update(retrieved=None)))
    assert any("not YYYY-MM-DD" in p for p in problems(lambda d: d["facilitymap"].update(retrieved="March")))
    assert any("http(s)" in p for p in problems(lambda d: d["sources"][0].update(path="javascript:alert(1)")))
    assert any("'citation' is missing" in p or "facilitymap.citation is missing" in p
               for p in problems(lambda d: d["facilitymap"].pop("citation")))
    assert any("needs 'encoding'" in p for p in problems(lambda d: d["resources"][0].pop("encoding")))


def test_validate_names_the_descriptor_file(make_source):
    src = make_source(CSV, reader="csv", fields=FIELDS)
    bad = _edit(src, lambda d: d.update(licenses=[]))
    (p,) = validate_sources([bad])
    assert p.startswith(str(bad.descriptor_path) + ": ")


def test_broken_descriptor_json(make_source):
    src = make_source(CSV, reader="csv", fields=FIELDS)
    src.descriptor_path.write_text('{\n  "name": "test-src",\n  "title": oops\n}')
    with pytest.raises(SourceError) as ei:
        load_sources(src.folder.parent)
    assert ei.value.line == 3 and "datapackage.json" in ei.value.path


def test_hash_is_cached_per_file_state(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    assert file_sha256(f) == hashlib.sha256(b"one").hexdigest()
    f.write_bytes(b"two!")
    assert file_sha256(f) == hashlib.sha256(b"two!").hexdigest()


def test_adding_a_source_needs_only_a_folder(tmp_path):
    """A new TSV source in UTF-16 with a semicolon-free dialect: a descriptor and a file, no Python."""
    folder = tmp_path / "sources" / "new-list"
    folder.mkdir(parents=True)
    raw = "code\ttitle\ty\tx\nK1\tKök\t39.5\t76.0\n".encode("utf-16")
    (folder / "list.tsv").write_bytes(raw)
    (folder / "datapackage.json").write_text(json.dumps({
        "name": "new-list", "title": "A new list", "licenses": [{"name": "CC-BY-4.0", "title": "CC BY 4.0"}],
        "sources": [{"title": "Example", "path": "https://example.org/"}],
        "resources": [{"name": "list", "path": "list.tsv", "format": "tsv", "encoding": "utf-16", "bytes": len(raw),
                       "hash": "sha256:" + hashlib.sha256(raw).hexdigest()}],
        "facilitymap": {"layer": "sites", "reader": "csv", "resource": "list", "publisher": "Example",
                        "citation": "Example list", "retrieved": "2024-05-01", "upstream": "https://example.org/",
                        "kind": "detention",
                        "fields": {"record_id": "code", "name": "title", "lat": "y", "lon": "x"}}}))
    from facilitymap.readers import read_source

    (src,) = load_sources(tmp_path / "sources")
    assert validate_sources([src]) == []
    rr = read_source(src)
    assert rr.records.iloc[0]["name"] == "Kök" and rr.records.iloc[0].geometry.x == 76.0


def test_no_known_url_must_be_said_and_placeholder_licence_only_warns(make_source):
    from facilitymap.registry import source_warnings

    src = make_source(CSV, reader="csv", fields=FIELDS)
    # upstream null and no sources[0].path: accepted only with an upstream_note saying why
    no_url = _edit(src, lambda d: (d["facilitymap"].update(upstream=None), d["sources"][0].pop("path")))
    assert any("facilitymap.upstream is missing" in p for p in validate_sources([no_url]))
    assert any("sources[0]: needs title" in p for p in validate_sources([no_url]))
    noted = _edit(no_url, lambda d: d["facilitymap"].update(upstream_note="the user's own files"))
    assert validate_sources([noted]) == []
    assert source_summary(noted)["upstream_note"] == "the user's own files"
    # a path that is there must still be http(s), note or not
    bad = _edit(noted, lambda d: d["sources"][0].update(path="file:///home/me/img.tif"))
    assert any("sources[0]: needs title and an http(s) path" in p for p in validate_sources([bad]))
    # the placeholder licence is a warning, not an error
    placeholder = _edit(bad, lambda d: (d["sources"][0].pop("path"),
                                        d.update(licenses=[{"name": "as-provided-by-the-user", "title": "As provided"}])))
    assert validate_sources([placeholder]) == []
    (w,) = source_warnings([placeholder])
    assert w.startswith(str(placeholder.descriptor_path) + ": warning: ") and "before publishing" in w
    assert source_warnings([src]) == []
