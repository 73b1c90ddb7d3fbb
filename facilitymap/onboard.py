"""Onboarding: `facilitymap add FILE` turns a data file into a source folder that a person then completes.

It copies the file into ``sources/<slug>/``, detects what can be detected (format, encoding with
charset-normalizer, CSV dialect, header, blank rows, a Frictionless Table Schema inferred by ``frictionless``),
proposes the field mapping from column names and values, and writes ``datapackage.json`` and ``README.md`` with
every unknown (licence, publisher, citation, caveats, upstream URL, retrieval date) marked by
``registry.PLACEHOLDER``, which ``facilitymap validate`` reports as a warning. Every guess comes with its evidence
(``Onboarding.findings``) so the person can check it; nothing is guessed silently.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import fields as fieldsmod
from .errors import SourceError
from .registry import PLACEHOLDER, Source, source_warnings, validate_sources

# Encodings preferred, in this order, among those charset-normalizer finds equally clean (short files decode
# without errors in many single-byte code pages; these are the ones data files are actually written in).
PREFERRED_ENCODINGS = ("utf_8", "cp1252", "latin_1", "cp437", "cp850", "iso8859_15", "cp1250", "cp1251",
                       "gb18030", "big5", "shift_jis", "euc_kr", "utf_16")
DELIMITERS = (",", "\t", ";", "|")
SCHEMA_ROWS = 10_000  # rows frictionless infers the Table Schema from
_ENC_NAMES = {"utf_8": "utf-8", "latin_1": "latin-1", "iso8859_15": "iso-8859-15", "utf_16": "utf-16",
              "shift_jis": "shift_jis", "euc_kr": "euc-kr", "ascii": "utf-8"}

# Column names (lower case, letters and digits only) that suggest a role; values decide in the end.
LAT_NAMES = ("lat", "latitude", "y", "ycoord", "ycoordinate", "latdd", "latdeg", "latwgs84", "breite")
LON_NAMES = ("lon", "long", "lng", "longitude", "x", "xcoord", "xcoordinate", "londd", "londeg", "lonwgs84",
             "laenge")
ID_NAMES = ("id", "recordid", "fid", "objectid", "uid", "uuid", "code", "key", "ref", "identifier", "gid",
            "number", "no", "nr", "num")
LANG_ALIASES = {"cn": "zh", "zh_cn": "zh", "zh_hans": "zh", "zh_tw": "zh_hant"}  # name tags → our name_<lang>
NAME_NAMES = ("name", "title", "facilityname", "sitename", "facility", "site", "label", "nom", "nombre", "nome")
COUNTY_NAMES = ("county", "district", "municipality", "admin2", "countyname", "districtname", "kreis", "raion",
                "comarca")
REGION_NAMES = ("region", "prefecture", "state", "province", "admin1", "oblast", "governorate", "regionname",
                "statename", "provincename")
DESCRIPTION_NAMES = ("description", "notes", "note", "comment", "comments", "remarks", "details")


class AddError(Exception):
    """`facilitymap add` cannot go on (the message says why); nothing is left behind."""


@dataclass
class Onboarding:
    """What `add` did: the new folder, the descriptor it wrote, and what it found, each with its evidence."""

    slug: str
    folder: Path
    descriptor: dict
    findings: list[tuple[str, str]] = field(default_factory=list)  # (topic, what and why)
    problems: list[str] = field(default_factory=list)  # validation errors of the new source (should be none)
    warnings: list[str] = field(default_factory=list)  # validation warnings: the placeholders left to fill in

    def finding(self, topic: str) -> str:
        """The text of the first finding on `topic` ("" if none)."""
        return next((t for k, t in self.findings if k == topic), "")

    def lines(self) -> list[str]:
        return [f"{k}: {t}" for k, t in self.findings]


# --- the verb ----------------------------------------------------------------------------------------------------

def add(file: Path, sources_dir: Path = Path("sources"), slug: str | None = None, force: bool = False,
        spec: dict | None = None) -> Onboarding:
    """Copy `file` into ``sources_dir/<slug>/`` and write its descriptor and README (see the module docstring).

    `spec`: a map spec whose declared fields are proposed too (a column named like the field or its label).
    """
    file = Path(file)
    if not file.is_file():
        raise AddError(f"{file}: no such file")
    slug = slugify(slug or _stem(file))
    if not slug:
        raise AddError(f"cannot make a slug from {file.name!r}: give one with --slug")
    folder = Path(sources_dir) / slug
    if folder.exists() and not force:
        raise AddError(f"{folder} already exists: choose another --slug, or --force to replace it")
    if file.name in ("datapackage.json", "README.md"):
        raise AddError(f"{file}: a source folder's own files have this name; rename the data file first")
    raw = file.read_bytes()
    fmt = detect_format(file, raw)
    # Written aside and swapped in at the end: a file that cannot be read leaves nothing behind, and --force
    # replaces the old folder only once the new one is complete.
    work = folder.with_name(f".{slug}.add-tmp")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        ob = _add(file, raw, fmt, work, folder, slug, spec)
        if folder.exists():
            shutil.rmtree(folder)
        work.rename(folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    written = Source(slug, folder, ob.descriptor)
    ob.problems = validate_sources([written])
    ob.warnings = source_warnings([written])
    return ob


def _add(file: Path, raw: bytes, fmt: dict, work: Path, folder: Path, slug: str, spec: dict | None) -> Onboarding:
    """Everything but the swap: `work` is where files are written, `folder` where they will be."""
    dest = work / file.name
    shutil.copyfile(file, dest)
    sha = hashlib.sha256(raw).hexdigest()
    ob = Onboarding(slug, folder, {})
    ob.findings.append(("file", f"{folder / file.name} ({len(raw):,} bytes, sha256 {sha})"))
    ob.findings.append(("format", f"{fmt['format']} (reader {fmt['reader']}; {fmt['why']})"))
    resource = {"name": _resource_name(file), "path": file.name, "format": fmt["format"],
                "mediatype": fmt["mediatype"]}
    if fmt["reader"] != "geoparquet":
        enc, why = detect_encoding(raw)
        resource["encoding"] = enc
        ob.findings.append(("encoding", f"{enc} ({why})"))
    text = _decode(raw, resource.get("encoding"))
    if fmt["reader"] == "csv":
        dialect, notes = detect_dialect(text)
        resource["dialect"] = dialect
        for topic, note in notes:
            ob.findings.append((topic, note))
    resource["bytes"] = len(raw)
    resource["hash"] = f"sha256:{sha}"

    desc = _descriptor(slug, file, resource, fmt["reader"])
    source = Source(slug, work, desc)
    from .readers import PARSERS

    try:
        table = PARSERS[fmt["reader"]](source, dest)
    except SourceError as e:
        raise AddError(f"the file cannot be read as {fmt['format']}: {e}") from None
    columns = _columns(table.rows)
    n_rows = len(table.rows)
    ob.findings.append(("rows", f"{n_rows:,} data rows" + (f" ({_geometry_summary(table.rows)})"
                                                           if fmt["reader"] != "csv" else "")))
    schema = infer_schema(columns)
    if schema:
        resource["schema"] = {"fields": schema}
        sample = f" (first {SCHEMA_ROWS:,} rows)" if n_rows > SCHEMA_ROWS else ""
        ob.findings.append(("schema", f"frictionless{sample}: "
                            + ", ".join(f"{f['name']} {f['type']}" for f in schema)))

    vocab = _vocabulary(spec)
    mapping, layer, row_ids = propose_mapping(columns, n_rows, fmt["reader"], table.rows, vocab, ob,
                                             (spec or {}).get("fields") or {})
    fm = desc["facilitymap"]
    fm["layer"] = layer
    if row_ids:
        fm["row_ids"] = True
        if fmt["reader"] == "geojson":
            with_id = sum(1 for f in json.loads(text).get("features") or [] if isinstance(f, dict) and "id" in f)
            if with_id:
                ob.findings.append(("feature ids", f"{with_id:,} features have a top-level `id`, which the geojson "
                                    "reader does not read (it reads properties): copy it into a property in a "
                                    "copy of the file if it is the stable id"))
    fm["fields"] = mapping
    unmapped = [c for c in columns if c not in {v for v in mapping.values()}]
    if unmapped:
        ob.findings.append(("not mapped", ", ".join(f"`{c}`" for c in unmapped)
                            + " (kept in records.csv's original row; map them to fields the map spec declares)"))
    ob.descriptor = desc
    (work / "datapackage.json").write_text(json.dumps(desc, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    (work / "README.md").write_text(_readme(desc, file, ob), encoding="utf-8")
    return ob


# --- detection ---------------------------------------------------------------------------------------------------

def slugify(text: str) -> str:
    """Lower case, [a-z0-9-] only, no leading, trailing or double hyphens ("Mes Données" → "mes-donnees")."""
    import unicodedata

    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", t)).strip("-")


def _stem(file: Path) -> str:
    name = file.name
    for ext in (".geo.json", ".geojson", ".json", ".geoparquet", ".parquet", ".osm", ".xml", ".csv", ".tsv",
                ".txt", ".tab"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return file.stem


def _resource_name(file: Path) -> str:
    return slugify(_stem(file)) or "data"


def detect_format(file: Path, raw: bytes) -> dict:
    """Format, reader and media type from the file's first bytes (its name only breaks ties)."""
    name = file.name.lower()
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if raw[:4] == b"PAR1":
        return dict(format="parquet", reader="geoparquet", mediatype="application/vnd.apache.parquet",
                    why="starts with the Parquet magic bytes PAR1")
    if head.startswith(b"<"):
        if re.search(rb"<osm[\s>]", raw[:4096]):
            return dict(format="osm", reader="osm", mediatype="application/vnd.openstreetmap.data+xml",
                        why="an XML file whose root element is <osm>")
        raise AddError(f"{file}: XML, but not OSM XML (no <osm> root element)")
    if head.startswith(b"{"):
        if b"FeatureCollection" in raw[:1 << 20] or name.endswith((".geojson", ".geo.json")):
            return dict(format="geojson", reader="geojson", mediatype="application/geo+json",
                        why="JSON with a FeatureCollection")
        raise AddError(f"{file}: JSON, but not a GeoJSON FeatureCollection")
    tsv = name.endswith((".tsv", ".tab"))
    return dict(format="tsv" if tsv else "csv", reader="csv",
                mediatype="text/tab-separated-values" if tsv else "text/csv",
                why="text, read as a delimited table")


def detect_encoding(raw: bytes) -> tuple[str, str]:
    """The file's encoding and the evidence: a BOM, else charset-normalizer's cleanest candidates, of which the
    most common encoding (`PREFERRED_ENCODINGS`) is taken."""
    import charset_normalizer

    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", "UTF-8 byte order mark"
    try:
        raw.decode("utf-8")
        return "utf-8", "every byte sequence is valid UTF-8" + (" (plain ASCII)" if raw.isascii() else "")
    except UnicodeDecodeError:
        pass
    results = list(charset_normalizer.from_bytes(raw))
    if not results:
        raise AddError("charset-normalizer finds no encoding that decodes this file: is it text?")
    best = min(r.chaos for r in results)
    clean = [r for r in results if r.chaos <= best + 0.01]
    candidates = []
    for r in clean:
        for enc in [r.encoding] + list(r.could_be_from_charset):
            if enc not in candidates:
                candidates.append(enc)
    chosen = next((e for e in PREFERRED_ENCODINGS if e in candidates), clean[0].encoding)
    others = [_ENC_NAMES.get(e, e) for e in candidates if e != chosen][:6]
    if chosen == "cp1252" and not any(0x80 <= b <= 0x9F for b in raw):
        others = ["latin-1 (the same text here: no byte in 0x80-0x9F)"] + [o for o in others if o != "latin-1"]
    sample = _non_ascii_words(raw.decode(chosen))
    why = (f"charset-normalizer: equally clean decodings {', '.join([_ENC_NAMES.get(chosen, chosen)] + others)}"
           f"{', ...' if len(candidates) > 7 else ''}; took the most common one"
           + (f"; check these words read right: {', '.join(sample)}" if sample else ""))
    return _ENC_NAMES.get(chosen, chosen), why


def _non_ascii_words(text: str, n: int = 5) -> list[str]:
    out = []
    for w in re.findall(r"[^\s,;|\"']*[^\x00-\x7f][^\s,;|\"']*", text):
        w = w[:40]
        if w not in out:
            out.append(w)
        if len(out) == n:
            break
    return out


def _decode(raw: bytes, encoding: str | None) -> str:
    if encoding is None:
        return ""
    return raw.decode("utf-8-sig" if encoding in ("utf-8", "utf-8-sig") else encoding)


def detect_dialect(text: str) -> tuple[dict, list[tuple[str, str]]]:
    """Frictionless ``dialect`` (delimiter, quoteChar, doubleQuote, header) and findings: the delimiter that
    splits every non-blank line into the same number (> 1) of fields, the quoting, the header, blank rows."""
    lines = text.splitlines()
    blank = [i for i, line in enumerate(lines, start=1) if not line.strip()]
    scores = {}
    for d in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=d, strict=True) if r and r != [""]]
        except csv.Error:
            continue
        counts = {len(r) for r in rows}
        if rows and len(counts) == 1 and len(rows[0]) > 1:
            scores[d] = (len(rows[0]), len(rows))
    if not scores:
        _preamble(text)
        widths = {}
        for d in DELIMITERS:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=d))
            widths[d] = sorted({len(r) for r in rows if r})[:4]
        raise AddError("no delimiter (comma, tab, semicolon, pipe) splits every line into the same number of "
                       "fields: " + "; ".join(f"{_show(d)} gives {w} fields" for d, w in widths.items()))
    delim = max(scores, key=lambda d: (scores[d][0], -DELIMITERS.index(d)))
    width, n = scores[delim]
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim) if r and r != [""]]
    quoted = sum(1 for line in lines if '"' in line)
    notes = [("dialect", f"delimiter {_show(delim)}: every one of {n:,} rows (header included) splits into "
                         f"{width} fields"
              + "".join(f"; {_show(d)} also does, into {scores[d][0]}" for d in scores if d != delim)
              + f"; quote char '\"' (in {quoted:,} line(s))")]
    header = rows[0]
    numeric = [h for h in header if _number(h) is not None]
    dups = sorted({h.strip() for h in header if [x.strip() for x in header].count(h.strip()) > 1})
    first = next(i for i, line in enumerate(lines, start=1) if line.strip())
    htext = f"line {first}: " + ", ".join(f"`{h.strip()}`" for h in header)
    if numeric or any(not h.strip() for h in header):
        htext += (" (looks like data, not names: the csv reader takes the first non-blank row as the header; "
                  "add a header row naming the columns)")
    if dups:
        htext += f" (columns {dups} appear twice: the csv reader refuses this; rename them in a copy)"
    notes.append(("header", htext))
    empty_rows = [r for r in rows[1:] if all(not c.strip() for c in r)]
    notes.append(("blank rows", (f"{len(blank)} blank line(s) (line {', '.join(map(str, blank[:10]))}"
                                 f"{', ...' if len(blank) > 10 else ''}), skipped by the reader" if blank
                                 else "none")
                  + (f"; {len(empty_rows)} row(s) of empty fields only, which the reader rejects (no record id)"
                     if empty_rows else "")))
    return {"delimiter": delim, "quoteChar": '"', "doubleQuote": True, "header": True}, notes


def _preamble(text: str) -> None:
    """Stop with a clear message when lines before the table (a title, notes) keep the dialect from being found."""
    lines = text.splitlines()
    for d in DELIMITERS:
        rows = [(i, r) for i, r in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=d), start=1)
                if r and r != [""]]
        for k in range(1, min(6, len(rows) - 1)):
            rest = {len(r) for _, r in rows[k:]}
            if len(rest) == 1 and rest.pop() > 1:
                first = rows[k][0]
                raise AddError(f"lines 1-{first - 1} come before the table ({lines[0][:60]!r} ...): the csv reader "
                               f"needs the header row first. Save a copy without those lines (the {_show(d)} table "
                               f"starts at line {first}), add that, and say so in the source's README")


def _show(d: str) -> str:
    return {"\t": "tab", ",": "comma ','", ";": "semicolon ';'", "|": "pipe '|'"}[d]


def _number(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v) if v == v else None
    try:
        f = float(str(v).strip())
    except ValueError:
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _columns(rows) -> dict[str, list]:
    """Column → values in row order (None where a row lacks it); nested objects as dotted paths (``names.cn``)."""
    cols: dict[str, list] = {}
    for i, r in enumerate(rows):
        flat = {}
        _flatten(r.original, "", flat)
        for k, v in flat.items():
            cols.setdefault(k, [None] * i)
        for k in cols:
            cols[k].append(flat.get(k))
    return cols


def _flatten(obj: dict, prefix: str, out: dict) -> None:
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            _flatten(v, key + ".", out)
        else:
            out[key] = v


def _geometry_summary(rows) -> str:
    kinds: dict[str, int] = {}
    for r in rows:
        g = r.geometry.geom_type if r.geometry is not None else "no geometry"
        kinds[g] = kinds.get(g, 0) + 1
    return ", ".join(f"{n:,} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))


def infer_schema(columns: dict[str, list]) -> list[dict]:
    """A Frictionless Table Schema (name, type) for the columns, inferred by `frictionless` from the values."""
    import frictionless

    names = list(columns)
    if not names:
        return []
    cells = [[_cell(v) for v in vals[:SCHEMA_ROWS]] for vals in columns.values()]
    data = [names] + [list(row) for row in zip(*cells)]
    res = frictionless.Resource(data=data, detector=frictionless.Detector(sample_size=SCHEMA_ROWS))
    res.infer()
    return [{"name": n, "type": f.type} for n, f in zip(names, res.schema.fields)]


def _cell(v):
    if v is None:
        return ""  # frictionless's missing value (with None cells it infers `yearmonth` for mostly-empty columns)
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


# --- the mapping -------------------------------------------------------------------------------------------------

def _norm(name: str) -> str:
    """A column name for comparison: accents folded, lower case, letters and digits only ("Région" → "region")."""
    return slugify(name).replace("-", "")


def _vocabulary(spec: dict | None) -> dict:
    """Field name → Field: the package's roles plus the fields the map spec declares (``fields.vocabulary``)."""
    vocab = getattr(fieldsmod, "vocabulary", None)
    if vocab is not None:
        return dict(vocab(spec))
    out = dict(_roles())
    for name, decl in ((spec or {}).get("fields") or {}).items():
        if name not in out and isinstance(decl, dict):
            out[name] = fieldsmod.Field(name, str(decl.get("label") or name), str(decl.get("type") or "string"))
    return out


def _roles() -> dict:
    """The field names the package itself knows (``fields.ROLES``; ``fields.FIELDS`` before the open vocabulary)."""
    return getattr(fieldsmod, "ROLES", None) or getattr(fieldsmod, "FIELDS")


def _known(vocab: dict, name: str) -> bool:
    """A descriptor may map `name`: in the vocabulary, or a role such as ``name_<any language tag>``."""
    lookup = getattr(fieldsmod, "lookup", None)
    return lookup(vocab, name) is not None if lookup is not None else name in vocab


def _present(v) -> bool:
    return not fieldsmod.is_missing(v)


def propose_mapping(columns: dict[str, list], n_rows: int, reader: str, rows, vocab: dict, ob: Onboarding,
                    declared: dict | None = None):
    """Our field → column, guessed from names and values; the evidence of each guess goes into ``ob.findings``.

    `declared`: the map spec's ``fields`` (name → {label, type}), proposed for columns named like them.
    Returns (fields, layer, row_ids)."""
    declared = declared or {}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    has_geometry = any(r.geometry is not None for r in rows)
    polygons = sum(1 for r in rows if r.geometry is not None and r.geometry.geom_type.endswith("Polygon"))
    layer = "outlines" if has_geometry and polygons * 2 > len(rows) else "sites"
    ob.findings.append(("layer", f"{layer} ("
                        + (f"{polygons:,} of {len(rows):,} rows are polygons" if has_geometry
                           else "points from latitude/longitude columns") + ")"))

    # coordinates
    if not has_geometry or reader == "csv":
        lat, lon = _coordinates(columns, ob)
        if lat and lon:
            mapping["lat"], mapping["lon"] = lat, lon
            used |= {lat, lon}
        elif not has_geometry:
            ob.findings.append(("lat/lon", "no pair of latitude/longitude columns found (names like lat, "
                                "latitude, y / lon, lng, longitude, x with values in range): map them by hand in "
                                "facilitymap.fields, or every row is rejected"))
    else:
        ob.findings.append(("lat/lon", "points and shapes come from the file's geometry"))

    # record id
    row_ids = False
    if reader == "osm":
        ob.findings.append(("record_id", "the OSM element (e.g. way/123), given by the osm reader"))
    else:
        rid, why = _record_id(columns, n_rows, used)
        if rid:
            mapping["record_id"] = rid
            used.add(rid)
            ob.findings.append(("record_id", why))
        else:
            row_ids = True
            ob.findings.append(("record_id", f"row numbers ({why}): facilitymap.row_ids is true, so a record's id "
                                "is its line (feature) number, which changes when the publisher adds or removes a "
                                "row; map a stable id column in facilitymap.fields if the file has one"))

    # names, place and description
    for ours, names in (("name", NAME_NAMES), ("county", COUNTY_NAMES),
                        ("region" if "region" in vocab else "prefecture", REGION_NAMES),
                        ("description", DESCRIPTION_NAMES)):
        if not _known(vocab, ours):
            continue
        cands = _by_name(columns, names, used, contains="name" if ours == "name" else None)
        if cands:
            filled = {c: sum(1 for v in columns[c] if _present(v)) for c in cands}
            # the first by name, unless it is mostly empty and another is fuller
            col = cands[0] if filled[cands[0]] * 2 >= n_rows else max(cands, key=lambda c: filled[c])
            mapping[ours] = col
            used.add(col)
            others = "".join(f"; also `{c}`, {filled[c]:,} non-empty" for c in cands if c != col)
            ob.findings.append((ours, f"column `{col}` (its name), {filled[col]:,} of {n_rows:,} rows "
                                      f"non-empty{others}"))
    for col in columns:
        tag = _lang_tag(col)
        if tag and col not in used:
            ours = "name_" + tag
            if _known(vocab, ours) and ours not in mapping:
                mapping[ours] = col
                used.add(col)
                ob.findings.append((ours, f"column `{col}` (a name with a language tag)"))
    # fields declared by the map spec
    for ours, f in vocab.items():
        if ours in mapping or (ours in _roles() and ours not in declared):
            continue
        label = getattr(f, "label", "") or ""
        for col in columns:
            if col not in used and _norm(col) in {_norm(ours), _norm(label)}:
                mapping[ours] = col
                used.add(col)
                ob.findings.append((ours, f"column `{col}` (named like the map's field {ours!r})"))
                break
    return mapping, layer, row_ids


def _by_name(columns, names, used, contains=None) -> list[str]:
    """Free columns named like the role: exact names in the order of `names`, then (for `contains`) columns
    whose name starts or ends with it (``name_official``, ``well_name``) and is not a name with a language tag
    (``name_en``, ``name:zh``)."""
    free = [c for c in columns if c not in used]
    out = [c for want in names for c in free if _norm(c) == want]
    if contains:
        out += [c for c in free if c not in out and _norm(c).startswith(contains) and not _lang_tag(c)]
        out += [c for c in free if c not in out and _norm(c).endswith(contains) and not _lang_tag(c)]
    return out


def _lang_tag(col: str) -> str | None:
    """The language tag of a name column (``name_en``, ``name:zh-Hans``, ``names.cn``) as in ``name_<tag>``."""
    m = re.fullmatch(r"names?[:_.\s-]([a-z]{2,3}(?:[_-][a-z]+)?)", col.lower())
    if not m:
        return None
    tag = m.group(1).replace("-", "_")
    if _norm(tag) in ID_NAMES or tag in ("key", "ref", "uid", "fid"):
        return None  # `name_id` is an id or a code, not a name in Indonesian
    return LANG_ALIASES.get(tag, tag)


def _coordinates(columns, ob) -> tuple[str | None, str | None]:
    """The latitude and longitude columns: by name, checked by value ranges; swapped columns detected."""
    def stats(col):
        vals = [v for v in columns[col] if _present(v)]
        nums = [x for x in (_number(v) for v in vals) if x is not None]
        return len(vals), nums

    def pick(names, prefixes):
        for want in names:
            for c in columns:
                if _norm(c) == want:
                    return c
        for c in columns:
            n = _norm(c)
            if any(n.startswith(p) for p in prefixes) and "name" not in n:
                return c
        return None

    lat = pick(LAT_NAMES, ("lat",))
    lon = pick(LON_NAMES, ("lon", "lng"))
    if not lat or not lon or lat == lon:
        return None, None
    (nlat, lat_nums), (nlon, lon_nums) = stats(lat), stats(lon)
    if not lat_nums or not lon_nums:
        ob.findings.append(("lat/lon", f"columns `{lat}`/`{lon}` are named like coordinates but hold no numbers"))
        return None, None
    lat_in = sum(1 for x in lat_nums if -90 <= x <= 90)
    lon_in = sum(1 for x in lon_nums if -180 <= x <= 180)
    lon_as_lat = sum(1 for x in lon_nums if -90 <= x <= 90)
    if lat_in * 2 < len(lat_nums) and lon_as_lat == len(lon_nums):
        ob.findings.append(("swapped", f"column `{lat}` has {len(lat_nums) - lat_in:,} of {len(lat_nums):,} values "
                            f"beyond ±90 and every value of `{lon}` fits a latitude: the columns are swapped, so "
                            f"lat ← `{lon}`, lon ← `{lat}`"))
        lat, lon = lon, lat
        (nlat, lat_nums), (nlon, lon_nums) = (nlon, lon_nums), (nlat, lat_nums)
        lat_in = sum(1 for x in lat_nums if -90 <= x <= 90)
        lon_in = sum(1 for x in lon_nums if -180 <= x <= 180)
    ob.findings.append(("lat", f"column `{lat}`, {lat_in:,} of {nlat:,} values in −90..90"
                        + _not_numbers(nlat, lat_nums)))
    ob.findings.append(("lon", f"column `{lon}`, {lon_in:,} of {nlon:,} values in −180..180"
                        + _not_numbers(nlon, lon_nums)))
    commas = sum(1 for v in columns[lat] if isinstance(v, str) and re.fullmatch(r"\s*-?\d+,\d+\s*", v))
    if commas:
        ob.findings.append(("decimal comma", f"{commas:,} values of `{lat}` use a decimal comma (e.g. 48,1): the "
                            "reader needs a decimal point, so those rows would be rejected"))
    return lat, lon


def _not_numbers(n, nums) -> str:
    return f" ({n - len(nums):,} are not numbers: those rows are rejected)" if n - len(nums) else ""


def _record_id(columns, n_rows, used) -> tuple[str | None, str]:
    """A column whose values are all present and unique, id-like names first; (None, why) when none is."""
    unique = []
    for c, vals in columns.items():
        if c in used or n_rows == 0:
            continue
        keys = [str(v).strip() for v in vals if _present(v)]
        if len(keys) == n_rows and len(set(keys)) == n_rows:
            unique.append(c)
    if not unique:
        return None, "no column is unique and non-empty in every row"

    def rank(c):
        n = _norm(c)
        nameish = "name" in n or n in NAME_NAMES
        idlike = not nameish and (n.endswith("id") or n.startswith("id") or n.endswith("code"))
        return (0 if n in ID_NAMES else 1 if idlike else 3 if nameish else 2, list(columns).index(c))

    best = min(unique, key=rank)
    if rank(best)[0] == 3 or rank(best)[0] == 2 and rank(best)[1] != 0:
        # a unique name, or a unique value column (a capacity, a date) other than the first: not an id to trust
        return None, (f"no column named like an id is unique; unique by chance or by name: "
                      f"{', '.join(f'`{c}`' for c in unique[:5])}")
    others = [c for c in unique if c != best]
    return best, (f"column `{best}`, unique and non-empty in all {n_rows:,} rows"
                  + (f" (also unique: {', '.join(f'`{c}`' for c in others[:4])})" if others else ""))


# --- what is written ---------------------------------------------------------------------------------------------

def _descriptor(slug: str, file: Path, resource: dict, reader: str) -> dict:
    mtime = datetime.fromtimestamp(file.stat().st_mtime, tz=timezone.utc).date().isoformat()
    return {
        "name": slug,
        "title": f"{PLACEHOLDER} title of the dataset (added from {file.name})",
        "description": f"{PLACEHOLDER} what the dataset lists, who made it and how",
        "licenses": [{"name": "TODO", "title": f"{PLACEHOLDER} the licence of this data as the publisher states "
                      "it (e.g. name CC-BY-4.0 with its path), or name no-licence-stated"}],
        "sources": [{"title": f"{PLACEHOLDER} the publisher's page about this data (add its URL as path)"}],
        "resources": [resource],
        "facilitymap": {
            "layer": "sites",
            "reader": reader,
            "resource": resource["name"],
            "publisher": f"{PLACEHOLDER} who published this data",
            "citation": f"{PLACEHOLDER} how the publisher asks to be cited",
            "retrieved": None,
            "retrieved_note": f"{PLACEHOLDER} the date the file was downloaded, as YYYY-MM-DD in retrieved "
                              f"(the file's modification time is {mtime})",
            "upstream": None,
            "upstream_note": f"{PLACEHOLDER} the URL to download this file again, in upstream",
        },
    }


def _readme(desc: dict, file: Path, ob: Onboarding) -> str:
    res = desc["resources"][0]
    fm = desc["facilitymap"]
    mapping = "\n".join(f"- `{k}` ← `{v}`" for k, v in fm["fields"].items()) or "- (none)"
    found = "\n".join(f"- {k}: {t}" for k, t in ob.findings)
    return f"""# {PLACEHOLDER} title of the dataset

{PLACEHOLDER} what the dataset lists, who made it, when and how (in your words, or quoted).

**Licence.** {PLACEHOLDER} the licence as the publisher states it, with a link.

## Provenance
| | |
|---|---|
| File | `{res['path']}` ({res['format']}, {res.get('encoding', 'binary')}, {res['bytes']:,} bytes) |
| sha256 | `{res['hash'].split(':', 1)[1]}` |
| Publisher | {PLACEHOLDER} who published it |
| Downloaded from | {PLACEHOLDER} the URL |
| Retrieved | {PLACEHOLDER} the date (YYYY-MM-DD) |
| Cite as | {PLACEHOLDER} the publisher's preferred citation |

## Notes on the data
{PLACEHOLDER} quote the publisher's own caveats (coverage, accuracy of the coordinates, what a row is, what
each value means), and add what you notice.

## How we read it
Written by `facilitymap add` from `{file.name}`; check each guess and correct `datapackage.json` where it is wrong.

Field mapping (`facilitymap.fields`, our field ← column):
{mapping}

What `facilitymap add` detected:
{found}
"""


def write_spec(maps_dir: Path, name: str, slug: str) -> Path:
    """A minimal map spec ``maps_dir/<name>.yaml`` with this one source, for a map that does not exist yet."""
    path = Path(maps_dir) / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Written by `facilitymap add`: give the map a title and description, add sources.\n"
                    f"name: {name}\ntitle: \"{PLACEHOLDER} title of the map\"\n"
                    f"description: \"{PLACEHOLDER} what the map shows\"\nsources:\n  - {slug}\n", encoding="utf-8")
    return path
