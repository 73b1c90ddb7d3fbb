"""Fuzzing the build with hostile source folders and map specs (Hypothesis).

One invariant for every input: the build either stops with a clean error that names the file (``CLEAN_ERRORS``,
its text holding the path of the offending file), or it builds and the report accounts for every row
(``rows == records + rejected`` per source, the rows the test wrote when it wrote a well-formed table, and every
record in records.csv); never another exception, never a read outside the test's folder (an audit hook watches
every ``open``), previous outputs intact on error and no temporary folder left behind.

Profiles: the normal test run uses a bounded, derandomized profile (the same inputs every run, about a minute and a
half on a laptop); ``FACILITYMAP_FUZZ=long`` runs many more random inputs by hand (figures in docs/fuzz.md).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from facilitymap.builder import BuildError, build
from facilitymap.errors import SourceError
from facilitymap.errors import FacilitymapError
from facilitymap.fields import ROLES

from tiny_map import write_source

# The errors that count as clean: every error caused by input derives from FacilitymapError.
CLEAN_ERRORS = (FacilitymapError,)
# Also try wrong types in descriptors and specs, and resource paths that leave the folder (refused by the JSON
# Schemas and the confinement in registry.py).
WIDE_TYPES = True

LONG = os.environ.get("FACILITYMAP_FUZZ") == "long"
FUZZ = settings(max_examples=int(os.environ.get("FACILITYMAP_FUZZ_EXAMPLES", 600)) if LONG else 100,
                derandomize=not LONG, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much, HealthCheck.large_base_example])

SECRET = "SECRET-OUTSIDE-THE-SOURCE-FOLDER"

# -- the watch on reads outside the folder -------------------------------------------------------------------
_watch: dict = {"on": False, "outside": None, "hits": []}


def _audit(event: str, args: tuple) -> None:
    if event != "open" or not _watch["on"]:
        return
    path = args[0]
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if isinstance(path, str) and os.path.realpath(path).startswith(_watch["outside"]):
        _watch["hits"].append(path)


sys.addaudithook(_audit)


# -- strategies ----------------------------------------------------------------------------------------------
HOSTILE_TEXT = ["=1+1", "\t=1+1", "\r=1+1", "+cmd|' /C calc'!A0", "@SUM(1+1)", "-80.5", "NaN", "nan", "inf",
                "-inf", "1e400", "٤١٫٥", "４１", "41,5", " 41 ", "", " ", "null", "None", "-", "+", "\r", "\n",
                "\r\n", '"', "'", "\x00", "\u202e", "\u2028", "\ufeff", "</script>", "{{ 7*7 }}", "${x}",
                "__proto__", "constructor", "疏附县", "Қашқар", "0", "-0", "90.0000001", "180", "-181", "99999",
                "2020-13", "2020-02", "a" * 300]
cell = st.one_of(st.sampled_from(HOSTILE_TEXT),
                 st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
                 st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.integers(-10**20, 10**20).map(str),
                 st.floats(-200, 200).map(lambda f: f"{f:.6f}"))
column = st.one_of(st.sampled_from(["id", "name", "lat", "lon", "tier", "county", "status", "x", "", " id ",
                                    "name_zh", "=cmd"]),
                   st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8))
OUR_FIELDS = sorted(ROLES)  # the package roles: other fields must be declared by a map


def _csv_text(header, rows, delimiter=",", terminator="\r\n") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator=terminator)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


@st.composite
def descriptor_extras(draw, columns: list[str]) -> dict:
    """Well-typed but hostile values for the facilitymap block (wrong types only when WIDE_TYPES)."""
    cols = columns + ["not-a-column"] if draw(st.integers(0, 9)) == 7 else (columns or ["none"])
    fm = {}
    if draw(st.booleans()):
        fm["kind"] = draw(st.one_of(st.sampled_from(["detention", "cultural"]),
                                    st.fixed_dictionaries({"field": st.sampled_from(cols),
                                                           "values": st.dictionaries(cell, st.sampled_from(
                                                               ["detention", "cultural"]), max_size=3)})))
    if draw(st.booleans()):
        fm["filter"] = draw(st.one_of(st.fixed_dictionaries({"field": st.sampled_from(cols), "equals": cell}),
                                      st.fixed_dictionaries({"field": st.sampled_from(cols),
                                                             "in": st.lists(cell, max_size=3)})))
    if draw(st.booleans()):
        fm["required"] = draw(st.lists(st.sampled_from(["record_id", "name", "county", "tier"]), max_size=3))
    if draw(st.booleans()):
        fm["extent"] = draw(st.lists(st.floats(-200, 200), min_size=4, max_size=4))
    if draw(st.booleans()):
        fm["missing_values"] = draw(st.lists(cell, max_size=4))
    if draw(st.booleans()):
        fm["position_check"] = {"lat": draw(st.sampled_from(cols)), "lon": draw(st.sampled_from(cols)),
                                "tolerance_m": draw(st.floats(0, 1e6))}
    if WIDE_TYPES and draw(st.booleans()):
        key = draw(st.sampled_from(["kind", "filter", "required", "extent", "missing_values", "position_check",
                                    "fields", "layer", "reader", "resource"]))
        fm[key] = draw(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                        max_size=3), max_leaves=6))
    return fm


@st.composite
def field_mapping(draw, columns: list[str], point: bool = True) -> dict:
    cols = columns + ["not-a-column"] if draw(st.integers(0, 9)) == 7 else columns
    fields = {}
    if point:
        for ours in ("record_id", "name", "lat", "lon"):
            if ours in cols and draw(st.integers(0, 5)):
                fields[ours] = ours
    for ours in draw(st.lists(st.sampled_from(OUR_FIELDS), max_size=4, unique=True)):
        if ours not in fields and cols:
            col = draw(st.sampled_from(cols))
            fields[ours] = draw(st.one_of(st.just(col), st.fixed_dictionaries(
                {"from": st.just(col)}, optional={"format": st.sampled_from(["%Y-%m", "%d/%m/%Y", "%", "x"]),
                                                  "item": st.text(max_size=3)})))
    if "record_id" not in fields and cols and draw(st.booleans()):
        fields["record_id"] = draw(st.sampled_from(cols))
    return fields


# -- the invariant -------------------------------------------------------------------------------------------
def _tree(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class Case:
    """A temporary root with sources/, maps/ (a previous build's outputs stand in maps/m/) and outside/secret.csv
    beside them, which the build must never open."""

    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="fm-fuzz-")
        self.root = Path(self._tmp.name).resolve()
        self.sources, self.maps = self.root / "sources", self.root / "maps"
        self.sources.mkdir()
        (self.maps / "m").mkdir(parents=True)
        (self.maps / "m" / "index.html").write_text("the previous map\n")
        (self.maps / "m" / "sites.csv").write_text("previous\n")
        outside = self.root / "outside"
        outside.mkdir()
        (outside / "secret.csv").write_text(f"id,name,lat,lon\n1,{SECRET},41,80\n")
        self.outside = outside

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._tmp.cleanup()

    def spec(self, sources: list[str], extra: dict | None = None, text: str | None = None) -> None:
        doc = {"title": "Fuzz", "sources": sources, **(extra or {})}
        (self.maps / "m.yaml").write_text(text if text is not None else yaml.safe_dump(doc, allow_unicode=True),
                                          encoding="utf-8")

    def check(self, expected_rows: dict[str, int] | None = None, csv_raw: bool = False) -> str:
        """Build and check the invariant; returns what happened (for Hypothesis' statistics)."""
        before = _tree(self.maps / "m")
        _watch.update(on=True, outside=str(self.outside), hits=[])
        try:
            build("m", sources_dir=self.sources, maps_dir=self.maps, basemap="none")
        except CLEAN_ERRORS as exc:
            outcome = f"clean error ({type(exc).__name__})"
            msg = str(exc)
            assert str(self.root) in msg, f"the error does not name the file: {msg!r}"
            assert _tree(self.maps / "m") == before, "a failed build changed the previous outputs"
        else:
            out = self.maps / "m"
            report = json.loads((out / "build-report.json").read_text("utf-8"))
            outcome = "built" + (" with rejected rows" if any(s.get("rejected") for s in report["sources"].values())
                                 else "")
            with open(out / "records.csv", newline="", encoding="utf-8-sig") as fh:
                records = list(csv.DictReader(fh))
            for slug, s in report["sources"].items():
                if "rows" not in s:
                    continue
                assert s["rows"] == s["records"] + len(s["rejected"]), (slug, s["rows"], s["records"])
                assert sum(r["source"] == slug for r in records) == s["records"], slug
                if expected_rows and slug in expected_rows:
                    assert s["rows"] == expected_rows[slug], (slug, s["rows"], expected_rows[slug])
            for name in ("sites.csv", "records.csv") if not csv_raw else ():
                with open(out / name, newline="", encoding="utf-8-sig") as fh:
                    for row in csv.reader(fh):
                        for c in row[1:] if name == "records.csv" else row:
                            assert not c.startswith(("=", "+", "@", "\t", "\r")), (name, c)
            for p in out.iterdir():
                assert SECRET not in p.read_text("utf-8", errors="replace"), p.name
        finally:
            _watch["on"] = False
        assert not _watch["hits"], f"read outside the source folder: {_watch['hits']}"
        assert sorted(p.name for p in self.maps.iterdir()) == ["m", "m.yaml"], "a temporary folder was left"
        return outcome


# -- the fuzz tests ------------------------------------------------------------------------------------------
@st.composite
def csv_source(draw):
    extra = draw(st.lists(column, max_size=3))
    header = draw(st.permutations(["id", "name", "lat", "lon"] + extra))
    width = len(header)
    rows = draw(st.lists(st.lists(cell, min_size=width, max_size=width), max_size=8))
    broken = False
    if rows and draw(st.integers(0, 7)) == 5:  # a row of the wrong width
        rows[draw(st.integers(0, len(rows) - 1))].append("extra")
        broken = True
    delimiter = draw(st.sampled_from([","] * 6 + [";", "\t", "|"]))
    text = _csv_text(header, rows, delimiter, draw(st.sampled_from(["\r\n", "\n"])))
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["windows-1252", "utf-16", "latin-1"]))
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        raw, broken = text.encode("utf-8"), True
    if draw(st.integers(0, 9)) == 7:  # corrupt bytes
        pos = draw(st.integers(0, max(0, len(raw) - 1)))
        raw = raw[:pos] + draw(st.binary(min_size=1, max_size=4)) + raw[pos:]
        broken = True
    resource = {}
    if delimiter != "," or draw(st.integers(0, 5)) == 3:
        resource["dialect"] = {"delimiter": draw(st.sampled_from([delimiter] * 6 + [",", ";", '"', "\n", "ab"]))}
        broken |= resource["dialect"]["delimiter"] != delimiter
    if encoding != "utf-8" and draw(st.integers(0, 3)):
        resource["encoding"] = encoding
    elif encoding != "utf-8":
        broken = True
    fields = draw(field_mapping([h.strip() for h in header]))
    fm = draw(descriptor_extras([h.strip() for h in header]))
    stripped = [h.strip() for h in header]
    clean = (not broken and len(set(stripped)) == len(stripped) and "filter" not in fm
             and all(any(c != "" for c in r) or len(r) > 1 for r in rows))
    escape = None
    if WIDE_TYPES and draw(st.integers(0, 4)) == 3:  # a resource that leaves the folder, with or without a hash
        escape = (draw(st.sampled_from(["../../outside/secret.csv", "ABSOLUTE", "SYMLINK", "../fz/data.csv"])),
                  draw(st.sampled_from(["keep", "", None, "sha256:"])))
    return raw, resource, fields, fm, (len(rows) if clean and escape is None else None), escape


@FUZZ
@given(csv_source())
def test_fuzz_csv(src):
    raw, resource, fields, fm, expected, escape = src
    with Case() as case:
        folder = write_source(case.sources, "fz", raw, fields=fields, fm=fm)
        if escape is not None:
            path, hash_ = escape
            if path == "SYMLINK":
                (folder / "link.csv").symlink_to(case.outside / "secret.csv")
                path = "link.csv"
            elif path == "ABSOLUTE":
                path = str(case.outside / "secret.csv")
            secret = (case.outside / "secret.csv").read_bytes()  # the descriptor's author knows the file
            resource = {**resource, "path": path, "bytes": len(secret),
                        "hash": "sha256:" + hashlib.sha256(secret).hexdigest() if hash_ == "keep" else hash_}
        if resource:
            desc = json.loads((folder / "datapackage.json").read_text())
            desc["resources"][0].update(resource)
            (folder / "datapackage.json").write_text(json.dumps(desc))
        case.spec(["fz"])
        event(case.check({"fz": expected} if expected is not None else None))


coord = st.one_of(st.floats(-200, 200), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                  st.sampled_from(["41", None, [], {}, True]))
position = st.lists(coord, min_size=2, max_size=3)
ring = st.lists(position, min_size=0, max_size=7).map(lambda r: r + r[:1] if r else r)
json_value = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats() | cell,
                          lambda c: st.lists(c, max_size=3) | st.dictionaries(column, c, max_size=3), max_leaves=8)
geometry = st.one_of(
    st.none(),
    st.builds(lambda p: {"type": "Point", "coordinates": p}, position),
    st.builds(lambda rs: {"type": "Polygon", "coordinates": rs}, st.lists(ring, max_size=2)),
    st.builds(lambda ps: {"type": "MultiPolygon", "coordinates": ps}, st.lists(st.lists(ring, max_size=2), max_size=2)),
    st.builds(lambda p: {"type": "LineString", "coordinates": p}, st.lists(position, max_size=3)),
    st.builds(lambda t, c: {"type": t, "coordinates": c}, st.sampled_from(["Point", "Polygon", "Circle", 5, None]),
              json_value),
    json_value,
)
feature = st.one_of(
    st.fixed_dictionaries({"type": st.just("Feature"), "geometry": geometry,
                           "properties": st.one_of(st.dictionaries(column, json_value, max_size=4),
                                                   st.fixed_dictionaries({"id": json_value, "name": json_value,
                                                                          "names": json_value}))}),
    json_value)


@FUZZ
@given(st.lists(feature, max_size=6), st.sampled_from(["FeatureCollection"] * 8 + ["Feature", 5]),
       st.data())
def test_fuzz_geojson(features, typ, data):
    doc = {"type": typ, "features": features}
    columns = sorted({k for f in features if isinstance(f, dict) and isinstance(f.get("properties"), dict)
                      for k in f["properties"]} | {"id", "name", "names.cn"})
    fields = data.draw(field_mapping(columns, point=False))
    fields.setdefault("record_id", "id") if data.draw(st.booleans()) else None
    fm = data.draw(descriptor_extras(columns))
    layer = data.draw(st.sampled_from(["sites", "outlines"]))
    raw = json.dumps(doc, ensure_ascii=data.draw(st.booleans())).encode()
    if data.draw(st.integers(0, 19)) == 7:
        raw = raw[: data.draw(st.integers(0, len(raw)))]  # cut short
    with Case() as case:
        write_source(case.sources, "fz", raw, reader="geojson", fields=fields, fm=fm, layer=layer)
        case.spec(["fz"])
        clean = typ == "FeatureCollection" and "filter" not in fm
        event(case.check({"fz": len(features)} if clean else None))


def _xml_ok(text: str) -> bool:
    """Characters XML 1.0 can carry at all (escaping cannot make \\x00 or \\x1b well-formed)."""
    return all(c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or ord(c) >= 0x10000
               for c in text)


@st.composite
def osm_xml(draw):
    key = st.sampled_from(["name", "name", "prison_camp", "addr:county", "building"]) | column.filter(_xml_ok)
    value = st.sampled_from(["re-education", "Camp"]) | cell.filter(_xml_ok)
    nodes = draw(st.lists(st.tuples(st.integers(1, 12), st.floats(-100, 100) | coord, st.floats(-100, 100) | coord,
                                    st.dictionaries(key, value, max_size=2)), max_size=10))
    ways = draw(st.lists(st.tuples(st.integers(100, 104), st.lists(st.integers(0, 14), max_size=7),
                                   st.booleans(), st.dictionaries(key, value, max_size=3)), max_size=4))
    rels = draw(st.lists(st.tuples(st.integers(200, 202), st.lists(st.tuples(
        st.sampled_from(["way", "node", "relation"]), st.integers(99, 105), st.sampled_from(["outer", "inner", ""])),
        max_size=4), st.dictionaries(st.sampled_from(["type", "name", "prison_camp"]),
                                     st.sampled_from(["multipolygon", "boundary", "re-education", "x"]),
                                     max_size=3)), max_size=2))
    out = ["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6'>"]

    def tags(d):
        return "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in d.items())

    def attr(v):
        return quoteattr(str(v))

    for nid, lat, lon, t in nodes:
        out.append(f"<node id='{nid}' lat={attr(lat)} lon={attr(lon)}>{tags(t)}</node>")
    for wid, refs, closed, t in ways:
        refs = refs + refs[:1] if closed and refs else refs
        out.append(f"<way id='{wid}'>" + "".join(f"<nd ref='{r}'/>" for r in refs) + tags(t) + "</way>")
    for rid, members, t in rels:
        out.append(f"<relation id='{rid}'>" + "".join(f"<member type='{a}' ref='{b}' role='{c}'/>"
                                                    for a, b, c in members) + tags(t) + "</relation>")
    out.append("</osm>")
    text = "\n".join(out)
    if draw(st.integers(0, 9)) == 7:
        text = draw(st.sampled_from(["<!DOCTYPE osm [<!ENTITY a 'aaaa'>]>", "<notosm/>", "<osm>", "\x00"])) + text
    tagged = sum(bool(t) for *_, t in nodes) + sum(bool(t) for *_, t in ways) + sum(bool(t) for *_, t in rels)
    return text.encode("utf-8", errors="surrogatepass"), tagged


@FUZZ
@given(osm_xml(), st.data())
def test_fuzz_osm(osm, data):
    raw, tagged = osm
    fields = data.draw(st.sampled_from([{"name": "name"}, {"name": "name", "county": "addr:county"}, {}]))
    fm = {}
    if data.draw(st.booleans()):
        fm["filter"] = {"field": "prison_camp", "equals": "re-education"}
    with Case() as case:
        write_source(case.sources, "fz", raw, reader="osm", fields=fields, fm=fm, layer="outlines")
        case.spec(["fz"])
        event(case.check(None))


spec_extra = st.fixed_dictionaries({}, optional={
    "title": cell, "description": cell, "cite_as": cell,
    "basemap": st.sampled_from(["default", "none", "osm", "satellite"]),
    "match": st.just({}), "disagreement_distance_m": st.integers(0, 10**6) | st.floats(0, 1e6),
    "csv_raw": st.booleans(), "limits": st.dictionaries(st.sampled_from(["rows", "header_columns", "json_depth",
                                                                          "polygon_vertices"]),
                                                         st.integers(1, 10**7), max_size=2),
})


@FUZZ
@given(spec_extra, st.one_of(st.none(), st.text(max_size=60)), st.integers(0, 4))
def test_fuzz_spec(extra, raw_text, n_sources):
    good = _csv_text(["id", "name", "lat", "lon"], [[1, "=A", 41, 80], [2, "疏附县", 41.2, -80.1]]).encode()
    with Case() as case:
        slugs = [f"s{i}" for i in range(max(1, n_sources))]
        for slug in slugs:
            write_source(case.sources, slug, good)
        extra = dict(extra)
        if WIDE_TYPES:
            extra["sources"] = slugs + [5, None, "missing"][: n_sources]
        sources = slugs if n_sources else ["missing-source"]
        text = None
        if raw_text is not None:  # any text as the spec file: YAML errors, non-mappings, unknown keys
            text = raw_text
        case.spec(sources, extra, text)
        event(case.check({s: 2 for s in slugs} if raw_text is None and n_sources else None,
                         csv_raw=raw_text is None and extra.get("csv_raw") is True))
