"""The source registry: ``sources/<slug>/datapackage.json`` folders, loaded, checked and summarised.

A source is data (a Frictionless Data Package plus our ``facilitymap`` block), so adding one needs no Python.
Hashes are computed once per file state (path, size, mtime) and cached, so validating and reading in the same
build hash each file once.

A source folder is untrusted input. Its folder name must be a slug (``SLUG``); its descriptor must fit
``schemas/descriptor.schema.json`` before anything reads it; every file the build reads is a declared resource with
a sha256 that matches, named by a relative path that stays inside the folder (no ``..``, no absolute path, no
symbolic link leaving the folder) and that is a regular file (not a folder, device or FIFO): see `confine`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

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
    "missing_values", "endpoint", "query", "harvest", "record_url", "crosswalks"})
REQUIRED_RESOURCE_KEYS = ("name", "path", "format", "bytes", "hash")
TEXT_FORMATS = ("csv", "tsv", "geojson", "json", "osm", "xml")
DESCRIPTOR_MAX_BYTES = 10_000_000  # a datapackage.json is a few KB; a larger one is refused before it is read
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # a source folder's name; it prefixes site ids and output paths


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
        """Path of the main resource's file (confined to the folder: see `confine`)."""
        return confine(self, self.resource)

    @property
    def sha256(self) -> str | None:
        h = self.resource.get("hash") or ""
        return h.split(":", 1)[1] if h.startswith("sha256:") else None

    @property
    def descriptor_path(self) -> Path:
        return self.folder / "datapackage.json"


def load_source(folder: Path) -> Source:
    """One source folder: its name checked as a slug, its descriptor parsed and checked against the schema."""
    from .schema import check_descriptor

    folder = Path(folder)
    dp = folder / "datapackage.json"
    if not SLUG.fullmatch(folder.name):
        raise SourceError(dp, None, f"folder name {folder.name!r} is not a source slug (lower-case letters, digits "
                                    "and '-', starting with a letter or digit, at most 63 characters)")
    try:
        real = dp.resolve(strict=True)
        st = os.stat(real)
    except (OSError, RuntimeError) as e:
        raise SourceError(dp, None, f"descriptor cannot be read: {e}") from None
    if not real.is_relative_to(folder.resolve()) or not stat.S_ISREG(st.st_mode):
        raise SourceError(dp, None, "descriptor is not a regular file inside its folder (a link out, a device or a "
                                    "FIFO); refused")
    if st.st_size > DESCRIPTOR_MAX_BYTES:
        raise SourceError(dp, None, f"descriptor is {st.st_size} bytes, over the limit of {DESCRIPTOR_MAX_BYTES}")
    try:
        desc = json.loads(dp.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SourceError(dp, e.lineno, f"descriptor is not valid JSON: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise SourceError(dp, None, f"descriptor is not UTF-8: {e.reason}") from None
    except RecursionError:
        raise SourceError(dp, None, "descriptor is not usable JSON: nested too deeply") from None
    except OSError as e:
        raise SourceError(dp, None, f"descriptor cannot be read: {e.strerror}") from None
    if not isinstance(desc, dict):
        raise SourceError(dp, 1, "descriptor is not a JSON object")
    check_descriptor(desc, dp)
    return Source(folder.name, folder, desc)


def load_sources(root: Path, slugs=None) -> list[Source]:
    """Every ``root/*/datapackage.json`` (or only the folders named in `slugs`), sorted by slug.

    The first folder that cannot be loaded stops with a SourceError; with `slugs` (a build loads only the map's
    sources) a broken folder the map does not use is never read. Missing slugs are left out (the caller names them).
    """
    root = Path(root)
    if slugs is None:
        folders = [dp.parent for dp in sorted(root.glob("*/datapackage.json"))]
    else:
        folders = [root / s for s in sorted(set(slugs)) if isinstance(s, str) and SLUG.fullmatch(s)
                   and (root / s / "datapackage.json").is_file()]
    return sorted((load_source(f) for f in folders), key=lambda s: s.slug)


def load_sources_report(root: Path) -> tuple[list[Source], list[str]]:
    """(the sources that load, one problem line per folder that does not): what `validate` reports."""
    out, problems = [], []
    for dp in sorted(Path(root).glob("*/datapackage.json")):
        try:
            out.append(load_source(dp.parent))
        except SourceError as e:
            problems.append(str(e))
    return sorted(out, key=lambda s: s.slug), problems


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


def _where(source: Source, resource: dict) -> str:
    for i, r in enumerate(source.descriptor.get("resources") or []):
        if r is resource:
            return f"resources[{i}] ({r.get('name')})"
    return f"resource {resource.get('name')!r}"


def confine(source: Source, resource: dict | str) -> Path:
    """The path of a resource (or a relative path a data row names) inside the source folder, or SourceError.

    Refused: a path that is not a non-empty relative path, that is absolute, names a drive, contains ``..`` or a
    backslash, is a URL; a file that does not exist; a symbolic link (anywhere on the way) that leads outside the
    folder; anything but a regular file (a folder, a device such as /dev/zero, a FIFO).
    """
    dp = source.descriptor_path
    where = _where(source, resource) if isinstance(resource, dict) else "a path in the data"
    rel = resource.get("path") if isinstance(resource, dict) else resource
    if not isinstance(rel, str) or not rel.strip():
        raise SourceError(dp, None, f"{where}: path {rel!r} is not a file path")
    if "\\" in rel or "\x00" in rel or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", rel):
        raise SourceError(dp, None, f"{where}: path {rel!r} is not a relative path inside the source folder")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or PureWindowsPath(rel).drive or rel.startswith("~"):
        raise SourceError(dp, None, f"{where}: path {rel!r} is absolute; a source reads only files inside its "
                                    "own folder")
    if ".." in pure.parts:
        raise SourceError(dp, None, f"{where}: path {rel!r} contains '..'; a source reads only files inside its "
                                    "own folder")
    path = source.folder / pure
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise SourceError(path, None, f"file named in {source.slug}/datapackage.json does not exist") from None
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise SourceError(path, None, f"cannot be resolved ({e})") from None
    base = source.folder.resolve()
    if not real.is_relative_to(base):
        raise SourceError(path, None, f"is a symbolic link leading outside the source folder ({where} of "
                                      f"{source.slug}/datapackage.json); refused")
    mode = os.stat(real).st_mode
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        raise SourceError(path, None, f"is {what}, not a regular file ({where} of {source.slug}/datapackage.json)")
    return path


def resource_for_path(source: Source, rel) -> dict:
    """The declared resource whose path is `rel` (a path a data row names, e.g. a scene's web image)."""
    want = PurePosixPath(rel).as_posix() if isinstance(rel, str) else None
    for r in source.descriptor.get("resources") or []:
        if isinstance(r, dict) and isinstance(r.get("path"), str) and PurePosixPath(r["path"]).as_posix() == want:
            return r
    raise SourceError(source.descriptor_path, None, f"the data names file {rel!r}, which is not a declared "
                                                    "resource of this source (every file read needs its sha256)")


def check_resource_file(source: Source, resource: dict | None = None) -> Path:
    """The resource's file, after checking it is confined to the folder and matches the descriptor's bytes and
    sha256 (a sha256 is required: a file without one is never read)."""
    resource = resource or source.resource
    path = confine(source, resource)
    size = path.stat().st_size
    if "bytes" in resource:
        if not isinstance(resource["bytes"], int) or isinstance(resource["bytes"], bool):
            raise SourceError(source.descriptor_path, None,
                              f"{_where(source, resource)}: bytes {resource['bytes']!r} is not a whole number")
        if resource["bytes"] != size:
            raise SourceError(path, None, f"file has {size} bytes, the descriptor says {resource['bytes']}")
    want = resource.get("hash")
    if not isinstance(want, str) or not re.fullmatch(r"sha256:[0-9a-fA-F]{64}", want):
        raise SourceError(source.descriptor_path, None,
                          f"{_where(source, resource)}: hash {want!r} is not 'sha256:<64 hex digits>'; every file "
                          "a build reads needs its sha256")
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
    elif not _is_date(fm["retrieved"]):
        bad(f"facilitymap.retrieved {fm['retrieved']!r} is not YYYY-MM-DD (a real date, ASCII digits)")
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


def _is_date(value) -> bool:
    """A real calendar date written YYYY-MM-DD in ASCII digits (2024-13-45 and Arabic-Indic digits are not)."""
    import datetime as _dt

    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_http(url) -> bool:
    """An absolute http(s) URL (the scheme in any case, as URLs allow) with a host and no whitespace or newline."""
    return isinstance(url, str) and re.fullmatch(r"https?://[^\s/?#]+\S*", url, re.IGNORECASE) is not None


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
