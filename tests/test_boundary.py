"""The trust boundary: a source folder and a map spec are untrusted input (issue 10).

Every malformed input ends in a clean ``FacilitymapError`` that names the file (the CLI prints ``error: ...``,
no traceback, exit status 2); every file the build reads is a declared resource inside its folder with a sha256;
descriptors and specs are checked against their JSON Schemas. All files are written by the tests.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from facilitymap.cli import main
from facilitymap.errors import FacilitymapError, SourceError

CSV = b"id,name,lat,lon\n1,Alpha,41.1,80.2\n2,Beta,41.2,80.3\n"
POINT_FIELDS = {"record_id": "id", "name": "name", "lat": "lat", "lon": "lon"}


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_source(root: Path, slug: str = "src", files: dict | None = None, *, main_file: str = "data.csv",
                 reader: str = "csv", fmt: str = "csv", layer: str = "sites", fields: dict | None = None,
                 fm: dict | None = None, resource: dict | None = None, edit=None) -> Path:
    """A source folder with the given files (name -> bytes) and a correct descriptor whose first resource is
    `main_file`; `fm`/`resource` are merged in; `edit(descriptor)` may then break it any way."""
    folder = root / slug
    folder.mkdir(parents=True, exist_ok=True)
    files = {main_file: CSV} if files is None else files
    resources = []
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        resources.append({"name": Path(name).stem.replace(".", "-"), "path": name, "format": Path(name).suffix[1:],
                          "mediatype": "application/octet-stream", "encoding": "utf-8", "bytes": len(data),
                          "hash": _sha(data)})
    main_res = next(r for r in resources if r["path"] == main_file)
    main_res.update({"name": "data", "format": fmt}, **(resource or {}))
    block = {"layer": layer, "reader": reader, "resource": "data", "publisher": "Test", "citation": "Test data",
             "retrieved": "2024-01-01", "upstream": "https://example.org/data", "kind": "detention",
             "fields": copy.deepcopy(POINT_FIELDS if fields is None else fields)}
    block.update(fm or {})
    desc = {"name": slug, "title": f"Test {slug}",
            "licenses": [{"name": "CC0-1.0", "title": "CC0",
                          "path": "https://creativecommons.org/publicdomain/zero/1.0/"}],
            "sources": [{"title": "Test", "path": "https://example.org/"}],
            "contributors": [{"title": "Test", "role": "publisher"}],
            "resources": resources, "facilitymap": block}
    if edit:
        edit(desc)
    (folder / "datapackage.json").write_text(json.dumps(desc, indent=1), encoding="utf-8")
    return folder


def write_spec(maps: Path, text: str, name: str = "m") -> Path:
    maps.mkdir(parents=True, exist_ok=True)
    path = maps / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def cli(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res


def assert_clean_error(res, *names):
    """Exit status 2, `error: ` and each of `names` in the message, no traceback."""
    out = res.output
    assert res.exit_code == 2, out
    assert "Traceback" not in out and "bug in facilitymap" not in out, out
    assert "error: " in out, out
    for n in names:
        assert str(n) in out, (n, out)


def build_cli(tmp_path, spec="sources: [src]\n"):
    write_spec(tmp_path / "maps", spec)
    return cli("build", "m", "--sources", tmp_path / "sources", "--maps", tmp_path / "maps", "--basemap", "none")


# --- malformed inputs: each a clean error naming the file (issue 10, item 7) -----------------------------------

def _desc(edit):
    """A case: the CSV source with its descriptor edited; the error names datapackage.json."""
    def setup(root):
        write_source(root, edit=edit)
        return "src/datapackage.json"
    return setup


def _res(**kw):
    return _desc(lambda d: d["resources"][0].update(kw))


def _fm(**kw):
    return _desc(lambda d: d["facilitymap"].update(kw))


def _file(name, data, **kw):
    def setup(root):
        write_source(root, files={name: data}, main_file=name, **kw)
        return f"src/{name}"
    return setup


def _geoparquet_unknown_crs(root):
    import io

    import geopandas as gpd
    import shapely

    g = gpd.GeoDataFrame({"id": ["a"], "name": ["A"]}, geometry=[shapely.Point(500000, 4500000)],
                         crs='LOCAL_CS["my local grid",UNIT["metre",1]]')
    buf = io.BytesIO()
    g.to_parquet(buf)
    write_source(root, files={"data.parquet": buf.getvalue()}, main_file="data.parquet", reader="geoparquet",
                 fmt="parquet", fields={"record_id": "id", "name": "name"})
    return "src/data.parquet"


DEEP_JSON = b'{"type": "FeatureCollection", "features": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
OSM_NAN = (b'<?xml version="1.0"?>\n<osm>\n<node id="1" lat="NaN" lon="80"/><node id="2" lat="41" lon="81"/>'
           b'<node id="3" lat="40" lon="81"/>\n<way id="5"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/>'
           b'<tag k="name" v="W"/></way>\n</osm>\n')

SOURCE_CASES = {
    "header_only_csv_is_the_only_source": _file("data.csv", b"id,name,lat,lon\n"),
    "json_nested_100k_deep": _file("data.geojson", DEEP_JSON, reader="geojson", fmt="geojson",
                                   fields={"record_id": "id"}),
    "descriptor_json_nested_100k_deep": lambda root: (
        write_source(root), (root / "src" / "datapackage.json").write_bytes(b"[" * 100_000 + b"]" * 100_000),
        "src/datapackage.json")[-1],
    "osm_way_with_nan_node_only_row": _file("data.osm", OSM_NAN, reader="osm", fmt="osm", layer="outlines",
                                            fields={"name": "name"}),
    "geoparquet_unknown_crs": _geoparquet_unknown_crs,
    "bytes_is_text": _res(bytes="abc"),
    "path_is_a_number": _res(path=5),
    "hash_is_a_number": _res(hash=5),
    "encoding_is_a_number": _res(encoding=5),
    "dialect_is_text": _res(dialect="x"),
    "dialect_delimiter_two_chars": _res(dialect={"delimiter": ";;"}),
    "dialect_double_quote_text": _res(dialect={"doubleQuote": "no"}),
    "resources_is_text": _desc(lambda d: d.update(resources="x")),
    "resource_item_is_text": _desc(lambda d: d.update(resources=["x"])),
    "licenses_is_text": _desc(lambda d: d.update(licenses="x")),
    "sources_item_is_a_number": _desc(lambda d: d.update(sources=[5])),
    "facilitymap_block_is_text": _desc(lambda d: d.update(facilitymap="x")),
    "descriptor_is_a_list": lambda root: (write_source(root), (root / "src" / "datapackage.json").write_text("[]"),
                                          "src/datapackage.json")[-1],
    "field_mapping_is_a_number": _desc(lambda d: d["facilitymap"]["fields"].update(name=5)),
    "field_mapping_from_is_a_number": _desc(lambda d: d["facilitymap"]["fields"].update(name={"from": 5})),
    "fields_is_text": _fm(fields="x"),
    "filter_is_text": _fm(filter="x"),
    "filter_without_field": _fm(filter={"equals": "x"}),
    "kind_is_a_number": _fm(kind=5),
    "kind_values_is_text": _fm(kind={"field": "name", "values": "x"}),
    "extent_is_text": _fm(extent="x"),
    "extent_has_two_numbers": _fm(extent=[1, 2]),
    "position_check_is_text": _fm(position_check="x"),
    "required_is_text": _fm(required="name"),
    "missing_values_is_a_number": _fm(missing_values=5),
    "retrieved_is_a_number": _fm(retrieved=20240101),
    "layer_is_a_list": _fm(layer=["sites"]),
}


@pytest.mark.parametrize("case", sorted(SOURCE_CASES))
def test_malformed_source_is_a_clean_error_naming_the_file(tmp_path, case):
    named = SOURCE_CASES[case](tmp_path / "sources")
    res = build_cli(tmp_path)
    assert_clean_error(res, named)


SPEC_CASES = {
    "sources_item_is_a_number": ("sources: [5]\n", "sources[0]"),
    "sources_is_text": ("sources: src\n", "sources"),
    "sources_is_empty": ("sources: []\n", "sources"),
    "basemap_evil": ("sources: [src]\nbasemap: evil\n", "basemap"),
    "spec_is_a_string": ("just text\n", "(top level)"),
    "spec_is_empty": ("", "(top level)"),
    "match_is_text": ("sources: [src]\nmatch: x\n", "match"),
    "distance_is_text": ("sources: [src]\ndisagreement_distance_m: far\n", "disagreement_distance_m"),
    "fields_entry_is_text": ("sources: [src]\nfields: {tier: x}\n", "fields.tier"),
    "layer_colour_not_hex": ("sources: [src]\nlayers: [{id: a, colors: {x: 'red;}'}}]\n", "layers[0].colors.x"),
    "layer_unknown_key": ("sources: [src]\nlayers: [{id: a, colour_by: tier}]\n", "did you mean 'color_by'"),
    "spec_nested_deep": ("sources: [src]\nmatch: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested too deeply"),
    "spec_not_utf8": (b"sources: [src]\ntitle: \xff\n", "not UTF-8"),
    "spec_python_tag": ("sources: [src]\ntitle: !!python/object/apply:os.system [echo hi]\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_malformed_spec_is_a_clean_error_naming_the_file(tmp_path, case):
    write_source(tmp_path / "sources")
    text, expected = SPEC_CASES[case]
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "m.yaml").write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    res = cli("build", "m", "--sources", tmp_path / "sources", "--maps", maps, "--basemap", "none")
    assert_clean_error(res, "m.yaml", expected)


def test_schema_errors_are_facilitymap_errors_with_key_paths(tmp_path):
    from facilitymap.builder import load_map_spec
    from facilitymap.errors import BuildError, SchemaError
    from facilitymap.registry import load_sources

    write_source(tmp_path / "sources", edit=lambda d: (d["resources"][0].update(bytes="abc"),
                                                       d["facilitymap"].update(fiter={"field": "x"})))
    with pytest.raises(SchemaError) as e:
        load_sources(tmp_path / "sources")
    dp = tmp_path / "sources" / "src" / "datapackage.json"
    assert e.value.problems == [
        "facilitymap: unknown key 'fiter' (did you mean 'filter'?) (known: " + ", ".join(sorted(
            json.loads((Path(__file__).parent.parent / "facilitymap" / "schemas" / "descriptor.schema.json")
                       .read_text())["$defs"]["facilitymap"]["properties"])) + ")",
        "resources[0].bytes: 'abc' is text, should be a whole number",
    ]
    assert str(e.value).splitlines()[1] == f"{dp}: resources[0].bytes: 'abc' is text, should be a whole number"
    write_spec(tmp_path / "maps", "sources: [src]\ntitel: x\nbasemap: evil\n")
    with pytest.raises(BuildError) as e:  # a spec error is a BuildError and a SchemaError
        load_map_spec(tmp_path / "maps", "m")
    assert isinstance(e.value, SchemaError) and isinstance(e.value, FacilitymapError)
    assert e.value.problems[0].startswith("(top level): unknown key 'titel' (did you mean 'title'?)")
    assert e.value.problems[1] == "basemap: 'evil' is not one of default, none, osm, satellite"


def test_shipped_descriptors_and_spec_fit_the_schemas():
    from facilitymap import safeyaml, schema

    root = Path(__file__).resolve().parent.parent
    for dp in sorted((root / "sources").glob("*/datapackage.json")):
        assert schema.problems(json.loads(dp.read_text("utf-8")), "descriptor") == [], dp
    for spec in sorted((root / "maps").glob("*.yaml")):
        assert schema.problems(safeyaml.load(spec.read_text("utf-8"), spec), "map-spec") == [], spec
    full = {"sources": ["a"], "fields": {"tier": {"label": "Tier", "type": "integer", "min": 1, "max": 4}},
            "layers": [{"id": "camps", "title": "Camps", "where": {"kind": "detention"}, "color_by": "tier",
                        "colors": {"1": "#fee5d9"}, "note": "n", "visible": True, "geometry": "points"}],
            "match": {"anything": [1, {"x": 2}]}, "places": {}, "rules": [{"id": "r"}], "time": {"x": 1},
            "imagery_reference_field": "latest_imagery"}
    assert schema.problems(full, "map-spec") == []


def test_colliding_site_ids_after_sanitising_reject_the_second_row(tmp_path):
    write_source(tmp_path / "sources", files={"data.csv": b"id,name,lat,lon\na b,A,41.1,80.2\na/b,B,41.2,80.3\n"})
    res = build_cli(tmp_path)
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "maps" / "m" / "build-report.json").read_text())
    src = report["sources"]["src"]
    assert src["rows"] == 2 and src["records"] == 1
    assert src["rejected"] == [{"row": 3, "record_id": "a/b", "reason":
                                "record id 'a/b' gives the same site id as 'a b' (row 2) once characters other than "
                                "letters, digits, '.', '_' and '-' are replaced"}]


def test_a_bug_shows_its_traceback_and_asks_for_a_report(tmp_path, monkeypatch):
    from facilitymap import builder

    def broken(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(builder, "build", broken)
    res = build_cli(tmp_path)
    assert res.exit_code == 1
    assert "Traceback" in res.output and "ZeroDivisionError: a bug" in res.output
    assert "This is a bug in facilitymap" in res.output and "please report it" in res.output


# --- confinement: a source reads only declared files inside its folder -----------------------------------------

OUTSIDE = b"id,name,lat,lon\n666,Outside secret,41.5,80.5\n"


def _outside_file(tmp_path) -> Path:
    p = tmp_path / "outside" / "people.csv"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(OUTSIDE)
    return p


def _point_resource_at(tmp_path, rel: str, data: bytes = OUTSIDE):
    """A descriptor whose resource names `rel` with the bytes and sha256 of `data` (a hash that would match)."""
    write_source(tmp_path / "sources", edit=lambda d: d["resources"][0].update(path=rel, bytes=len(data),
                                                                                hash=_sha(data)))


@pytest.mark.parametrize("rel,problem", [
    ("../../outside/people.csv", "contains '..'"),
    ("sub/../../../outside/people.csv", "contains '..'"),
    ("/etc/passwd", "is absolute"),
    ("/dev/zero", "is absolute"),
    ("file:///etc/passwd", "not a relative path"),
    ("C:\\Windows\\win.ini", "not a relative path"),
    ("~/people.csv", "is absolute"),
    ("", "'' is empty"),
])
def test_paths_leaving_the_folder_are_refused(tmp_path, rel, problem):
    _outside_file(tmp_path)
    _point_resource_at(tmp_path, rel)
    res = build_cli(tmp_path)
    assert_clean_error(res, "datapackage.json", problem)
    assert not (tmp_path / "maps" / "m").exists()
    res = cli("validate", "--sources", tmp_path / "sources", "--maps", tmp_path / "maps")
    assert res.exit_code == 1 and problem in res.output and "all sources valid" not in res.output


def test_symlink_leaving_the_folder_is_refused(tmp_path):
    outside = _outside_file(tmp_path)
    _point_resource_at(tmp_path, "people.csv")
    (tmp_path / "sources" / "src" / "people.csv").symlink_to(outside)
    res = build_cli(tmp_path)
    assert_clean_error(res, "src/people.csv", "symbolic link leading outside the source folder")
    # a folder link on the way out is caught too
    os.symlink(outside.parent, tmp_path / "sources" / "src" / "linked")
    _point_resource_at(tmp_path, "linked/people.csv")
    assert_clean_error(build_cli(tmp_path), "symbolic link leading outside")
    # a link that stays inside the folder is fine
    (tmp_path / "sources" / "src" / "real.csv").write_bytes(CSV)
    (tmp_path / "sources" / "src" / "alias.csv").symlink_to("real.csv")
    _point_resource_at(tmp_path, "alias.csv", CSV)
    assert build_cli(tmp_path).exit_code == 0


def test_devices_fifos_and_folders_are_refused(tmp_path):
    _point_resource_at(tmp_path, "zero")
    folder = tmp_path / "sources" / "src"
    (folder / "zero").symlink_to("/dev/zero")  # leaves the folder as well as being a device
    assert_clean_error(build_cli(tmp_path), "src/zero")
    os.mkfifo(folder / "pipe")
    _point_resource_at(tmp_path, "pipe")
    assert_clean_error(build_cli(tmp_path), "src/pipe", "not a regular file")
    (folder / "adir").mkdir()
    _point_resource_at(tmp_path, "adir")
    assert_clean_error(build_cli(tmp_path), "src/adir", "is a folder, not a regular file")
    _point_resource_at(tmp_path, ".")
    assert_clean_error(build_cli(tmp_path), "is a folder, not a regular file")


@pytest.mark.parametrize("edit,problem", [
    (lambda r: r.update(hash=""), "is not 'sha256:<64 hex digits>'"),
    (lambda r: r.update(hash=None), "None is null, should be text"),
    (lambda r: r.pop("hash"), "missing 'hash'"),
    (lambda r: r.update(hash="md5:" + "0" * 32), "is not 'sha256:<64 hex digits>'"),
])
def test_the_hash_check_cannot_be_switched_off(tmp_path, edit, problem):
    write_source(tmp_path / "sources", edit=lambda d: edit(d["resources"][0]))
    res = cli("validate", "--sources", tmp_path / "sources", "--maps", tmp_path / "maps")
    assert res.exit_code == 1 and problem in res.output and "all sources valid" not in res.output, res.output
    assert_clean_error(build_cli(tmp_path), "src/datapackage.json", problem)


def test_a_resource_without_a_hash_is_never_read(tmp_path):
    from facilitymap.registry import Source, check_resource_file

    folder = write_source(tmp_path / "sources")
    desc = json.loads((folder / "datapackage.json").read_text())
    desc["resources"][0]["hash"] = ""
    with pytest.raises(SourceError, match="every file a build reads needs its sha256"):
        check_resource_file(Source("src", folder, desc))  # the check itself, beneath the schema


# --- scene web images ------------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _scenes_source(root: Path, image: str, files: dict | None = None, declare=None):
    """A scenes source (GeoParquet written by the test) whose one row names `image`; `files` are written and
    declared as resources (name -> bytes), `declare` names extra resource paths (with the bytes given)."""
    import io

    import geopandas as gpd
    import shapely

    g = gpd.GeoDataFrame({"id": ["r1"], "datetime": [pd_ts()], "collection": ["local"], "cloud_cover": [None],
                          "image": [image], "image_bounds": [json.dumps([[41.0, 80.0], [41.5, 80.5]])]},
                         geometry=[shapely.box(80.0, 41.0, 80.5, 41.5)], crs="EPSG:4326")
    buf = io.BytesIO()
    g.to_parquet(buf)
    all_files = {"scenes.parquet": buf.getvalue(), **(files or {})}
    return write_source(root, slug="imgs", files=all_files, main_file="scenes.parquet", reader="geoparquet",
                        fmt="parquet", layer="scenes", fields={"record_id": "id", "name": "id"},
                        edit=declare)


def pd_ts():
    import pandas as pd

    return pd.Timestamp("2020-03-15T00:00:00Z")


def _scenes_map(tmp_path):
    write_source(tmp_path / "sources")
    return build_cli(tmp_path, "sources: [src, imgs]\n")


@pytest.mark.parametrize("image,files,problem", [
    ("/etc/passwd", None, "is absolute"),
    ("/dev/zero", None, "is absolute"),
    ("../src/data.csv", None, "contains '..'"),
    ("images/undeclared.png", None, "not a declared resource"),
    ("images/fake.png", {"images/fake.png": b"root:x:0:0:root:/root:/bin/bash\n"}, "not a PNG, JPEG or TIFF"),
])
def test_scene_images_must_be_declared_confined_images(tmp_path, image, files, problem):
    _scenes_source(tmp_path / "sources", image, files)
    if image == "images/undeclared.png":
        (tmp_path / "sources" / "imgs" / "images").mkdir()
        (tmp_path / "sources" / "imgs" / "images" / "undeclared.png").write_bytes(PNG)
    res = _scenes_map(tmp_path)
    assert_clean_error(res, "imgs", problem)
    assert not (tmp_path / "maps" / "m").exists()


def test_scene_image_checks_accept_png_and_jpeg_and_cap_size(tmp_path, monkeypatch):
    from facilitymap.footprints import imagery
    from facilitymap.registry import load_sources

    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 32
    folder = _scenes_source(tmp_path / "sources", "images/a.png", {"images/a.png": PNG, "images/b.jpg": jpeg})
    (src,) = load_sources(tmp_path / "sources")
    assert imagery.read_web_image(src, "images/a.png") == ("image/png", PNG)
    assert imagery.read_web_image(src, "images/b.jpg") == ("image/jpeg", jpeg)
    monkeypatch.setattr(imagery, "IMAGE_MAX_BYTES", 10)
    with pytest.raises(SourceError, match="over the limit of 10"):
        imagery.read_web_image(src, "images/a.png")
    (folder / "images" / "a.png").write_bytes(PNG[:-1] + b"\x01")  # same size, other content
    monkeypatch.setattr(imagery, "IMAGE_MAX_BYTES", 10_000)
    with pytest.raises(SourceError, match="does not match the descriptor"):
        imagery.read_web_image(src, "images/a.png")


# --- smaller cases (issue 10, item 9) --------------------------------------------------------------------------

def test_non_ascii_digits_are_not_coordinates(tmp_path):
    from facilitymap.readers import read_source
    from facilitymap.registry import load_sources

    text = "id,name,lat,lon\n1,A,41.1,80.2\n2,B,٤١.١,٨٠.٢\n3,C,４１.１,80.2\n4,D,41.1,۸۰.۲\n"
    write_source(tmp_path / "sources", files={"data.csv": text.encode("utf-8")})
    rr = read_source(load_sources(tmp_path / "sources")[0])
    assert list(rr.records["record_id"]) == ["1"] and rr.rows == 4
    assert [r["reason"] for r in rr.rejected] == [
        "latitude '٤١.١' is not a number written with the digits 0-9",
        "latitude '４１.１' is not a number written with the digits 0-9",
        "longitude '۸۰.۲' is not a number written with the digits 0-9"]


@pytest.mark.parametrize("retrieved", ["2024-13-45", "2024-02-30", "٢٠٢٤-٠١-٠١", "2024-1-1", "2024-01-01\n"])
def test_retrieved_must_be_a_real_date(tmp_path, retrieved):
    write_source(tmp_path / "sources", fm={"retrieved": retrieved})
    res = cli("validate", "--sources", tmp_path / "sources", "--maps", tmp_path / "maps")
    assert res.exit_code == 1 and "is not YYYY-MM-DD" in res.output and "all sources valid" not in res.output


def test_claim_url_with_a_trailing_newline_is_refused_and_scheme_case_is_free():
    from facilitymap.annotations.model import is_http_url
    from facilitymap.registry import _is_http

    for check in (is_http_url, _is_http):
        assert not check("https://example.org/x\n") and not check("https://example.org/\nevil")
        assert check("HTTPS://example.org/x") and check("Http://example.org/") and check("https://example.org")
        assert not check("javascript:alert(1)") and not check("https:///x") and not check(" https://a.org")


def test_uppercase_scheme_is_accepted_in_descriptors(tmp_path):
    write_source(tmp_path / "sources", edit=lambda d: (d["sources"][0].update(path="HTTPS://example.org/"),
                                                       d["facilitymap"].update(upstream="HTTPS://example.org/d")))
    res = cli("validate", "--sources", tmp_path / "sources", "--maps", tmp_path / "maps")
    assert res.exit_code == 0 and "all sources valid" in res.output, res.output
    write_source(tmp_path / "sources", edit=lambda d: d["sources"][0].update(path="https://example.org/\n"))
    res = cli("validate", "--sources", tmp_path / "sources", "--maps", tmp_path / "maps")
    assert res.exit_code == 1 and "sources[0]: needs title and an http(s) path" in res.output


@pytest.mark.parametrize("slug", ["Evil", "a b", "-x", "<script>", "x" * 64, "ä", "a_b"])
def test_hostile_slug_is_refused(tmp_path, slug):
    from facilitymap.registry import load_sources

    write_source(tmp_path / "sources", slug=slug)
    res = cli("validate", "--sources", tmp_path / "sources", "--maps", tmp_path / "maps")
    assert res.exit_code == 1 and "is not a source slug" in res.output
    with pytest.raises(SourceError, match="is not a source slug"):
        load_sources(tmp_path / "sources")
    write_spec(tmp_path / "maps", f"sources: [{json.dumps(slug)}]\n")  # a spec cannot name it either
    assert_clean_error(cli("build", "m", "--sources", tmp_path / "sources", "--maps", tmp_path / "maps"),
                       "sources[0]", "does not have the form")


def test_a_broken_unrelated_folder_does_not_stop_a_map(tmp_path):
    write_source(tmp_path / "sources")
    (tmp_path / "sources" / "other").mkdir()
    (tmp_path / "sources" / "other" / "datapackage.json").write_text('{"name": "other", oops')
    write_source(tmp_path / "sources", slug="typo", fm={"layre": "sites"})
    res = build_cli(tmp_path)
    assert res.exit_code == 0 and "built" in res.output, res.output
    res = cli("validate", "--sources", tmp_path / "sources", "--maps", tmp_path / "maps")
    assert res.exit_code == 1
    assert "other/datapackage.json:1: descriptor is not valid JSON" in res.output
    assert "typo/datapackage.json: facilitymap: unknown key 'layre' (did you mean 'layer'?)" in res.output
    # the map that does use it stops, naming it
    assert_clean_error(build_cli(tmp_path, "sources: [src, other]\n"), "other/datapackage.json")


def test_duplicate_yaml_keys_in_a_spec_name_the_line(tmp_path):
    write_source(tmp_path / "sources")
    res = build_cli(tmp_path, "sources: [src]\ntitle: One\nbasemap: none\ntitle: Two\n")
    assert_clean_error(res, "m.yaml:4: not valid YAML: key 'title' appears twice in the same mapping "
                            "(first at line 2)")


def test_control_characters_in_a_spec_are_a_clean_error(tmp_path):
    """Found by the fuzzer: YAML's reader refuses control characters before parsing (it raised past the loader)."""
    write_source(tmp_path / "sources")
    res = build_cli(tmp_path, "sources: [src]\ntitle: \x1f\n")
    assert_clean_error(res, "m.yaml:2: not valid YAML")


BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))


def test_yaml_alias_bomb_is_refused_in_specs_and_claims(tmp_path):
    from facilitymap import annotations as ann

    assert len(BOMB.encode()) < 1024  # 10**9 leaves once expanded
    write_source(tmp_path / "sources")
    res = build_cli(tmp_path, "sources: [src]\nmatch:\n  " + BOMB.replace("\n", "\n  "))
    assert_clean_error(res, "m.yaml", "more than 100 alias expansions")
    (tmp_path / "claims.yaml").write_text("claims: []\nworks:\n  " + BOMB.replace("\n", "\n  "))
    with pytest.raises(SourceError, match="more than 100 alias expansions"):
        ann.load_claims_file(tmp_path / "claims.yaml", "notes")
    (tmp_path / "claims.yaml").write_text("claims: &c [*c]\n")
    with pytest.raises(SourceError, match="recursive document"):
        ann.load_claims_file(tmp_path / "claims.yaml", "notes")
    (tmp_path / "claims.yaml").write_text("claims: " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(SourceError, match="nested too deeply"):
        ann.load_claims_file(tmp_path / "claims.yaml", "notes")


def test_a_few_aliases_and_merge_keys_still_work(tmp_path):
    from facilitymap import safeyaml

    text = "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\nlist: [*b, *b]\n"
    assert safeyaml.load(text, "t.yaml") == {"base": {"x": 1}, "other": {"x": 1, "y": 2},
                                             "list": [{"x": 1}, {"x": 1}]}


def test_sources_verb_stops_cleanly_on_a_malformed_descriptor(tmp_path):
    write_source(tmp_path / "sources", fm={"filter": "x"})
    res = cli("sources", "--sources", tmp_path / "sources")
    assert_clean_error(res, "src/datapackage.json", "facilitymap.filter: 'x' is text, should be an object")


def test_schema_knows_every_spec_key_spec_py_knows():
    from facilitymap import schema, spec

    assert set(schema.load_schema("map-spec")["properties"]) == set(spec.KNOWN_KEYS)


def test_deep_json_claims_file_is_a_clean_error(tmp_path):
    from facilitymap import annotations as ann

    (tmp_path / "claims.geojson").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SourceError, match="nested too deeply"):
        ann.load_claims_file(tmp_path / "claims.geojson", "notes")


@pytest.mark.parametrize("verb", [["footprints", "raster", "x.tif"], ["footprints", "fetch", "--bbox", "80,40,81,41"]])
def test_new_source_folders_need_a_slug(tmp_path, verb):
    (tmp_path / "x.tif").write_bytes(b"")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(main, verb + ["--slug", "../../escape", "--out", str(tmp_path / "sources")])
    finally:
        os.chdir(cwd)
    assert res.exit_code == 2 and "is not a slug" in res.output and "Traceback" not in res.output, res.output
    assert not (tmp_path.parent / "escape").exists()


def test_descriptor_that_is_a_link_out_or_a_fifo_is_refused(tmp_path):
    from facilitymap.registry import load_sources

    folder = write_source(tmp_path / "sources")
    outside = tmp_path / "elsewhere.json"
    outside.write_text((folder / "datapackage.json").read_text())
    (folder / "datapackage.json").unlink()
    (folder / "datapackage.json").symlink_to(outside)
    with pytest.raises(SourceError, match="not a regular file inside its folder"):
        load_sources(tmp_path / "sources")
    (folder / "datapackage.json").unlink()
    os.mkfifo(folder / "datapackage.json")  # reading it would block for ever
    with pytest.raises(SourceError, match="not a regular file inside its folder"):
        load_sources(tmp_path / "sources")
