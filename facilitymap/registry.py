"""The source registry: ``sources/<slug>/datapackage.json`` folders, loaded, checked and summarised.

A source is data (a Frictionless Data Package plus our ``facilitymap`` block), so adding one needs no Python.
Hashes are computed once per file state (path, size, mtime) and cached, so validating and reading in the same
build hash each file once.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SourceError
from .fields import valid_name

LAYERS = ("sites", "outlines", "grid", "scenes", "claims")
READER_NAMES = ("csv", "geojson", "osm", "geoparquet", "claims")
REQUIRED_KEYS = ("name", "title", "licenses", "sources", "resources", "facilitymap")
REQUIRED_FM_KEYS = ("layer", "reader", "resource", "publisher", "citation", "upstream")
# Licences that are placeholders, not licences: the source is usable, but `validate` warns until it is filled in.
PLACEHOLDER_LICENCES = ("as-provided-by-the-user",)
# Text that still has to be written (`facilitymap add` marks unknowns with it): a descriptor string that starts
# with it, or a README line that contains it, is a validation warning naming where it is.
PLACEHOLDER = "TODO:"
# Every key of the descriptor's `facilitymap` block that the code reads (documented in DESIGN.md, tested); others
# are a validation warning, so a typo does not silently drop a setting.
FM_KEYS = frozenset({
    "layer", "reader", "resource", "publisher", "citation", "retrieved", "retrieved_note", "upstream",
    "upstream_note", "snapshot", "kind", "filter", "fields", "required", "row_ids", "extent", "position_check",
    "missing_values", "endpoint", "query", "harvest"})
REQUIRED_RESOURCE_KEYS = ("name", "path", "format", "bytes", "hash")
TEXT_FORMATS = ("csv", "tsv", "geojson", "json", "osm", "xml")


@dataclass
class Source:
    """One source folder: its slug, where it lives, and its descriptor as read."""

    slug: str
    folder: Path
    descriptor: dict = field(repr=False)

    @property
    def fm(self) -> dict:
        return self.descriptor.get("facilitymap") or {}

    @property
    def title(self) -> str:
        return self.descriptor.get("title", self.slug)

    @property
    def publisher(self) -> str | None:
        if self.fm.get("publisher"):
            return self.fm["publisher"]
        for c in self.descriptor.get("contributors") or []:
            if c.get("role") == "publisher":
                return c.get("title")
        return None

    @property
    def licences(self) -> list[dict]:
        return list(self.descriptor.get("licenses") or [])

    @property
    def licence(self) -> dict:
        """The first (main) licence: {name, title, path?}."""
        return self.licences[0] if self.licences else {}

    @property
    def citation(self) -> str | None:
        return self.fm.get("citation")

    @property
    def citation_url(self) -> str | None:
        srcs = self.descriptor.get("sources") or []
        return srcs[0].get("path") if srcs else None

    @property
    def retrieved(self) -> str | None:
        return self.fm.get("retrieved")

    @property
    def upstream(self) -> str | None:
        return self.fm.get("upstream")

    @property
    def layer(self) -> str | None:
        return self.fm.get("layer")

    @property
    def reader(self) -> str | None:
        return self.fm.get("reader")

    @property
    def resource(self) -> dict:
        """The resource named in ``facilitymap.resource`` (or the only one)."""
        resources = self.descriptor.get("resources") or []
        name = self.fm.get("resource")
        for r in resources:
            if r.get("name") == name:
                return r
        if name is None and len(resources) == 1:
            return resources[0]
        raise SourceError(self.folder / "datapackage.json", None,
                          f"facilitymap.resource {name!r} is not the name of a resource")

    @property
    def path(self) -> Path:
        """Path of the main resource's file."""
        return self.folder / self.resource["path"]

    @property
    def sha256(self) -> str | None:
        h = self.resource.get("hash") or ""
        return h.split(":", 1)[1] if h.startswith("sha256:") else None

    @property
    def descriptor_path(self) -> Path:
        return self.folder / "datapackage.json"


def load_sources(root: Path) -> list[Source]:
    """Every ``root/*/datapackage.json``, sorted by slug. Unreadable JSON stops with a SourceError."""
    root = Path(root)
    out = []
    for dp in sorted(root.glob("*/datapackage.json")):
        try:
            desc = json.loads(dp.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise SourceError(dp, e.lineno, f"descriptor is not valid JSON: {e.msg}") from None
        except UnicodeDecodeError as e:
            raise SourceError(dp, None, f"descriptor is not UTF-8: {e.reason}") from None
        if not isinstance(desc, dict):
            raise SourceError(dp, 1, "descriptor is not a JSON object")
        out.append(Source(dp.parent.name, dp.parent, desc))
    return sorted(out, key=lambda s: s.slug)


# --- hashing (cached per file state) ------------------------------------------------------------------------------

_HASHES: dict[tuple, str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached on (path, size, mtime) so one build hashes each file once."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def check_resource_file(source: Source, resource: dict | None = None) -> Path:
    """The resource's file, after checking it exists and matches the descriptor's bytes and sha256."""
    resource = resource or source.resource
    path = source.folder / resource["path"]
    if not path.is_file():
        raise SourceError(path, None, f"file named in {source.slug}/datapackage.json does not exist")
    size = path.stat().st_size
    if "bytes" in resource and int(resource["bytes"]) != size:
        raise SourceError(path, None, f"file has {size} bytes, the descriptor says {resource['bytes']}")
    want = (resource.get("hash") or "")
    if want:
        if not want.startswith("sha256:"):
            raise SourceError(source.descriptor_path, None, f"hash {want!r} is not 'sha256:<hex>'")
        got = file_sha256(path)
        if got != want.split(":", 1)[1].lower():
            raise SourceError(path, None, f"sha256 {got} does not match the descriptor's {want}")
    return path


# --- validation -------------------------------------------------------------------------------------------------

def validate_sources(sources: list[Source]) -> list[str]:
    """Errors in descriptors, files, hashes, licences and field mappings, one string each (empty: all good).

    Errors stop a build. Things a publisher should fix but that do not make the data wrong (a placeholder
    licence) are warnings: see `source_warnings`.
    """
    problems: list[str] = []
    for s in sources:
        problems += _validate_one(s)
    return problems


def source_warnings(sources: list[Source]) -> list[str]:
    """Warnings, one string each: `facilitymap validate` and `build` print them but do not fail on them."""
    out = []
    for s in sources:
        for i, lic in enumerate(s.licences):
            if isinstance(lic, dict) and lic.get("name") in PLACEHOLDER_LICENCES:
                out.append(f"{s.descriptor_path}: warning: licenses[{i}] is {lic['name']!r}: state the licence "
                           "of this data before publishing a map built from it")
        out += _placeholder_warnings(s)
    return out


def known_fm_keys() -> frozenset:
    """FM_KEYS, and the keys of the descriptor schema's `facilitymap` block where the package has one."""
    try:
        from .schema import load_schema  # type: ignore[attr-defined]

        return FM_KEYS | set(load_schema("descriptor")["$defs"]["facilitymap"]["properties"])
    except (ImportError, KeyError, OSError):
        return FM_KEYS


def _placeholder_warnings(s: Source) -> list[str]:
    """Placeholders left by `facilitymap add` (descriptor strings starting with PLACEHOLDER, README lines holding
    it) and unknown keys of the `facilitymap` block: what the person still has to fill in or fix."""
    out = []

    def walk(value, where):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}" if where else k)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif isinstance(value, str) and value.startswith(PLACEHOLDER):
            out.append(f"{s.descriptor_path}: warning: {where} is a placeholder: {value}")

    walk(s.descriptor, "")
    fm = s.descriptor.get("facilitymap")
    if isinstance(fm, dict):
        for k in sorted(set(fm) - known_fm_keys()):
            out.append(f"{s.descriptor_path}: warning: facilitymap.{k} is not a key facilitymap knows "
                       f"(see DESIGN.md, \"Source descriptor\"); it is ignored")
    readme = s.folder / "README.md"
    if readme.is_file():
        for n, line in enumerate(readme.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if PLACEHOLDER in line:
                out.append(f"{readme}:{n}: warning: placeholder: {line.strip()}")
    return out


def _no_upstream(fm: dict) -> bool:
    """The descriptor says explicitly that no URL is known (a user's own files): upstream null plus a note."""
    return "upstream" in fm and fm["upstream"] is None and bool(fm.get("upstream_note"))


validate = validate_sources  # the name used in DESIGN.md


def _validate_one(s: Source) -> list[str]:
    dp = s.descriptor_path
    d = s.descriptor
    p = []

    def bad(msg):
        p.append(f"{dp}: {msg}")

    for k in REQUIRED_KEYS:
        if k not in d:
            bad(f"missing key {k!r}")
    if d.get("name") not in (None, s.slug):
        bad(f"name {d.get('name')!r} is not the folder name {s.slug!r}")
    if not isinstance(d.get("licenses"), list) or not d.get("licenses"):
        bad("licenses: at least one licence is needed (use name 'no-licence-stated' when none is stated)")
    else:
        for i, lic in enumerate(d["licenses"]):
            if not isinstance(lic, dict) or not lic.get("name") or not lic.get("title"):
                bad(f"licenses[{i}]: needs name and title")
            elif lic.get("path") and not _is_http(lic["path"]):
                bad(f"licenses[{i}].path is not an http(s) URL")
    fm = d.get("facilitymap")
    no_url = isinstance(fm, dict) and _no_upstream(fm)
    srcs = d.get("sources")
    if not isinstance(srcs, list) or not srcs:
        bad("sources: at least one source with the citation URL is needed")
    else:
        for i, src in enumerate(srcs):
            if not isinstance(src, dict) or not src.get("title"):
                bad(f"sources[{i}]: needs title and an http(s) path")
            elif no_url and "path" not in src:
                continue  # no URL is known, and facilitymap.upstream_note says why
            elif not _is_http(src.get("path")):
                bad(f"sources[{i}]: needs title and an http(s) path")
    if not isinstance(fm, dict):
        return p
    for k in REQUIRED_FM_KEYS:
        if k == "upstream" and no_url:
            continue
        if not fm.get(k):
            bad(f"facilitymap.{k} is missing" + (" (null with an upstream_note when no URL is known)"
                                                  if k == "upstream" else ""))
    if "retrieved" not in fm:
        bad("facilitymap.retrieved is missing (null with a retrieved_note when unknown)")
    elif fm["retrieved"] is None:
        if not fm.get("retrieved_note"):
            bad("facilitymap.retrieved is null: say why in facilitymap.retrieved_note")
    elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(fm["retrieved"])):
        bad(f"facilitymap.retrieved {fm['retrieved']!r} is not YYYY-MM-DD")
    if fm.get("layer") not in LAYERS:
        bad(f"facilitymap.layer {fm.get('layer')!r} is not one of {', '.join(LAYERS)}")
    if fm.get("reader") not in READER_NAMES:
        bad(f"facilitymap.reader {fm.get('reader')!r} is not one of {', '.join(READER_NAMES)}")
    if fm.get("upstream") and not _is_http(fm["upstream"]):
        bad("facilitymap.upstream is not an http(s) URL")

    resources = d.get("resources") if isinstance(d.get("resources"), list) else []
    files_ok = bool(resources)
    for i, r in enumerate(resources):
        if not isinstance(r, dict):
            bad(f"resources[{i}] is not an object")
            continue
        for k in REQUIRED_RESOURCE_KEYS:
            if k not in r:
                bad(f"resources[{i}] ({r.get('name')}): missing {k!r}")
        if r.get("format") in TEXT_FORMATS and not r.get("encoding"):
            bad(f"resources[{i}] ({r.get('name')}): a text format needs 'encoding'")
        if "path" in r:
            try:
                check_resource_file(s, r)
            except SourceError as e:
                p.append(str(e))
                files_ok = False
    try:
        s.resource
    except SourceError as e:
        p.append(str(e))
        return p

    # Field mapping: targets must be field names (whether the map knows them is checked with the map: see
    # spec.source_field_problems), sources must be columns the file has.
    fields = fm.get("fields") or {}
    if not isinstance(fields, dict):
        bad("facilitymap.fields is not an object")
        return p
    for ours in fields:
        if not valid_name(ours):
            bad(f"facilitymap.fields: {ours!r} is not a field name (lower case letters, digits and _)")
    if fm.get("reader") in ("csv", "geojson", "osm", "geoparquet") and files_ok:
        from .readers import mapping_problems

        p += mapping_problems(s)
    return p


def _is_http(url) -> bool:
    return isinstance(url, str) and (url.startswith("https://") or url.startswith("http://"))


# --- summary for sources.json -------------------------------------------------------------------------------------

def source_summary(source: Source) -> dict:
    """The entry of sources.json: who published it, under which licence, where to cite it, which files (sha256)."""
    lic = source.licence
    files = []
    for r in source.descriptor.get("resources") or []:
        h = r.get("hash") or ""
        files.append({"path": f"sources/{source.slug}/{r.get('path')}",
                      "sha256": h.split(":", 1)[1] if h.startswith("sha256:") else None,
                      "bytes": r.get("bytes")})
    out = {
        "slug": source.slug,
        "title": source.title,
        "publisher": source.publisher,
        "licence": {"name": lic.get("name"), "title": lic.get("title"), "path": lic.get("path")},
        "licences": [{"name": x.get("name"), "title": x.get("title"), "path": x.get("path")} for x in source.licences],
        "citation": source.citation,
        "citation_url": source.citation_url,
        "retrieved": source.retrieved,
        "upstream": source.upstream,
        "layer": source.layer,
        "files": files,
    }
    if source.retrieved is None or source.fm.get("retrieved_note"):
        out["retrieved_note"] = source.fm.get("retrieved_note")
    if source.fm.get("upstream_note"):
        out["upstream_note"] = source.fm["upstream_note"]
    return out
