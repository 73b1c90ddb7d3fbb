"""The documentation cannot drift from the code: the README's and DESIGN.md's descriptor examples validate, their
map-spec examples load (and build with the example sources they name), and every descriptor key and map-spec key
the code knows is documented in DESIGN.md. The key lists come from the code, not from this file."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from facilitymap import registry
from facilitymap.builder import BuildError, build, load_map_spec
from facilitymap.registry import load_sources, validate_sources
from facilitymap.rows import mapped_columns

REPO = Path(__file__).resolve().parent.parent
DOCS = ["README.md", "DESIGN.md"]


def fenced(lang: str) -> list[tuple[str, int, str]]:
    """(doc, line, text) of every ```lang block of the docs (indented blocks of lists included)."""
    out = []
    for doc in DOCS:
        lines = (REPO / doc).read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            m = re.fullmatch(r"(\s*)```" + lang + r"\s*", lines[i])
            if m:
                indent, start, body = len(m.group(1)), i + 1, []
                i += 1
                while not lines[i].strip().startswith("```"):
                    body.append(lines[i][indent:])
                    i += 1
                out.append((doc, start, "\n".join(body)))
            i += 1
    return out


def descriptor_examples() -> list[tuple[str, int, dict]]:
    out = []
    for doc, line, text in fenced("json"):
        d = json.loads(text)  # every JSON example is valid JSON
        if isinstance(d, dict) and "facilitymap" in d and "resources" in d:
            out.append((doc, line, d))
    return out


def spec_examples() -> list[tuple[str, int, dict]]:
    out = []
    for doc, line, text in fenced("yaml"):
        d = yaml.safe_load(text)  # every YAML example parses
        if isinstance(d, dict) and "sources" in d:
            out.append((doc, line, d))
    return out


def write_example_source(root: Path, desc: dict) -> None:
    """The descriptor into ``root/<name>/`` with a data file made to fit it: every column it names, a few rows in
    range, in its encoding and delimiter; `bytes` and `hash` (placeholders in the docs) set to the file's."""
    desc = json.loads(json.dumps(desc))
    fm, res = desc["facilitymap"], desc["resources"][0]
    assert fm["reader"] == "csv", "only CSV examples are generated here; extend write_example_source"
    cols = list(dict.fromkeys(col for _, col in mapped_columns(fm)))
    where = {col: w for w, col in reversed(mapped_columns(fm))}
    kind = fm.get("kind") if isinstance(fm.get("kind"), dict) else None
    flt = fm.get("filter") or {}
    west, south, east, north = fm.get("extent") or [-10, -10, 10, 10]

    def value(col, i):
        w = where[col]
        if w in ("fields.lat", "position_check.lat"):
            return f"{(south + north) / 2 + i / 100:.4f}"
        if w in ("fields.lon", "position_check.lon"):
            return f"{(west + east) / 2 + i / 100:.4f}"
        if w == "kind.field":
            return sorted(kind["values"])[0]
        if w == "filter.field":
            return flt.get("equals", (flt.get("in") or [""])[0])
        return f"{col} {i}"

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=(res.get("dialect") or {}).get("delimiter", "\t" if res["format"] == "tsv" else ","),
                   lineterminator="\n")
    w.writerow(cols)
    for i in range(1, 4):
        w.writerow([value(c, i) for c in cols])
    raw = buf.getvalue().encode(res.get("encoding") or "utf-8")
    folder = root / desc["name"]
    folder.mkdir(parents=True)
    (folder / res["path"]).write_bytes(raw)
    res["bytes"], res["hash"] = len(raw), "sha256:" + hashlib.sha256(raw).hexdigest()
    (folder / "datapackage.json").write_text(json.dumps(desc, ensure_ascii=False), encoding="utf-8")


def test_docs_have_examples():
    assert {doc for doc, _, _ in descriptor_examples()} == set(DOCS)
    assert spec_examples()


@pytest.mark.parametrize("doc,line,desc", descriptor_examples(), ids=lambda v: str(v)[:20])
def test_descriptor_example_validates(tmp_path, doc, line, desc):
    write_example_source(tmp_path, desc)
    sources = load_sources(tmp_path)
    assert validate_sources(sources) == [], f"{doc}:{line}"
    assert registry.source_warnings(sources) == [], f"{doc}:{line}"


@pytest.mark.parametrize("doc,line,spec", spec_examples(), ids=lambda v: str(v)[:20])
def test_spec_example_loads_and_builds(tmp_path, doc, line, spec):
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    load_map_spec(maps, spec["name"])  # known keys only
    examples = {d["name"]: d for _, _, d in descriptor_examples()}
    missing = [s for s in spec["sources"] if s not in examples]
    assert not missing, f"{doc}:{line}: sources {missing} have no descriptor example in the docs to build with"
    for slug in spec["sources"]:
        write_example_source(tmp_path / "sources", examples[slug])
    result = build(spec["name"], sources_dir=tmp_path / "sources", maps_dir=maps, basemap="none")
    assert result.report["sites"] >= 1


def _has_module(name: str) -> bool:
    """The package under test has this module (an editable install elsewhere could otherwise lend its own)."""
    import facilitymap

    return (Path(facilitymap.__file__).parent / f"{name}.py").is_file()


def _schema(name: str) -> dict | None:
    """A JSON schema of the package (``facilitymap/schemas/<name>.schema.json``) where there is one."""
    if not _has_module("schema"):
        return None
    from facilitymap.schema import load_schema

    return load_schema(name)


def fm_keys() -> set[str]:
    """The keys of the descriptor's `facilitymap` block: registry.FM_KEYS and the descriptor schema's."""
    keys = set(registry.FM_KEYS)
    schema = _schema("descriptor")
    if schema is not None:
        keys |= set(schema["$defs"]["facilitymap"]["properties"])
    return keys


def spec_keys() -> set[str]:
    """The map-spec keys the code accepts: the map-spec schema's, or a known-keys set of the spec module, else the
    list the loader gives a user who writes an unknown key."""
    schema = _schema("map-spec")
    if schema is not None:
        return set(schema["properties"])
    specmod = None
    if _has_module("spec"):
        from facilitymap import spec as specmod
    for name in ("KNOWN_KEYS", "SPEC_KEYS", "KEYS"):
        keys = getattr(specmod, name, None)
        if isinstance(keys, (set, frozenset, tuple, list, dict)):
            return set(keys)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "x.yaml").write_text("sources: [a]\nzz_not_a_key: 1\n", encoding="utf-8")
        with pytest.raises(BuildError) as e:
            load_map_spec(Path(d), "x")
    m = re.search(r"known(?: keys)?: ([^)\n]*)", str(e.value))
    assert m, f"the loader no longer lists the known keys: {e.value}"
    return {k.strip() for k in m.group(1).split(",")}


def _documented(key: str, text: str) -> bool:
    return f"`{key}`" in text or f'"{key}"' in text


def test_every_descriptor_key_is_documented():
    design = (REPO / "DESIGN.md").read_text(encoding="utf-8")
    keys = fm_keys() | set(registry.REQUIRED_KEYS) | set(registry.REQUIRED_RESOURCE_KEYS)
    assert {"layer", "reader", "fields", "row_ids"} <= keys
    undocumented = sorted(k for k in keys if not _documented(k, design))
    assert undocumented == [], f"descriptor keys not in DESIGN.md: {undocumented}"


def test_every_descriptor_key_the_code_reads_is_known():
    """A key read from the `facilitymap` block anywhere in the package, or used by a shipped descriptor, is a known
    key (and so, by the test above, documented): catches keys added to the code without being declared."""
    pkg = REPO / "facilitymap"
    pattern = re.compile(r"""\bfm(?:\.get\(|\[)\s*["']([a-z_]+)["']""")
    read = set()
    for py in pkg.rglob("*.py"):
        read |= set(pattern.findall(py.read_text(encoding="utf-8")))
    assert {"layer", "kind", "filter"} <= read
    assert sorted(read - fm_keys()) == []
    shipped = set()
    for dp in (REPO / "sources").glob("*/datapackage.json"):
        shipped |= set(json.loads(dp.read_text(encoding="utf-8"))["facilitymap"])
    assert sorted(shipped - fm_keys()) == []


def test_every_map_spec_key_is_documented():
    design = (REPO / "DESIGN.md").read_text(encoding="utf-8")
    keys = spec_keys()
    assert {"name", "title", "sources"} <= keys
    undocumented = sorted(k for k in keys if not _documented(k, design))
    assert undocumented == [], f"map-spec keys not in DESIGN.md: {undocumented}"
