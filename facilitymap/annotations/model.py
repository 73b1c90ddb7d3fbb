"""Claims as data: read a claims file (YAML or GeoJSON) with line numbers, and check its shape.

A claims file is our own work, so every mistake in it is an error that names the file, the YAML line and the
claim id: unknown keys (typos), missing citations, bad dates, non-http(s) links, long quotes, duplicate ids.
Checks that need the sites (do targets resolve?) live in `resolve.py`.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from facilitymap import safeyaml
from facilitymap.errors import SourceError

STATUSES = ("reported", "corroborated", "disputed")
WORK_TYPES = (
    "article-journal", "article-magazine", "article-newspaper", "book", "chapter",
    "dataset", "interview", "report", "webpage",
)
MAX_QUOTE_WORDS = 50

CLAIM_KEYS = ("id", "target", "text", "date", "period", "category", "status", "citations")
TARGET_KEYS = ("sites", "area", "geometry")
AREA_KEYS = ("county", "geometry")
WORK_KEYS = (
    "type", "title", "author", "publisher", "published", "url", "archived_url",
    "container_title", "volume", "issue", "pages", "doi", "note",
)
PRINT_KEYS = ("container_title", "volume", "issue", "pages", "doi")
CITATION_REF_KEYS = ("work", "locator", "quote", "note")
CITATION_KEYS = tuple(sorted(set(WORK_KEYS) | set(CITATION_REF_KEYS)))
FILE_KEYS = ("works", "claims")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_URL = re.compile(r"\Ahttps?://[^\s/?#]+[^\s]*\Z", re.IGNORECASE)  # \Z: a trailing newline is not allowed


@dataclass
class ClaimSet:
    """The claims of one annotation source: `works` (citation registry), `claims`, and YAML line numbers.

    `lines` maps a key path such as ("claims", 3, "citations", 0, "url") to its 1-based line in `path`.
    """

    slug: str
    path: Path
    works: dict[str, dict] = field(default_factory=dict)
    claims: list[dict] = field(default_factory=list)
    lines: dict[tuple, int] = field(default_factory=dict)

    def line(self, *keys) -> int | None:
        """The line of the deepest known prefix of `keys` (None when the file has no line marks)."""
        for n in range(len(keys), -1, -1):
            if keys[:n] in self.lines:
                return self.lines[keys[:n]]
        return None

    def error(self, keys: tuple, problem: str) -> SourceError:
        """A SourceError at `keys`, prefixed with the claim id when `keys` is inside a claim."""
        if len(keys) >= 2 and keys[0] == "claims" and isinstance(keys[1], int):
            claim = self.claims[keys[1]] if keys[1] < len(self.claims) else {}
            cid = claim.get("id") if isinstance(claim, dict) else None
            label = f"claim '{cid}'" if isinstance(cid, str) and cid else f"claim #{keys[1] + 1} (no id)"
            problem = f"{label}: {problem}"
        elif len(keys) >= 2 and keys[0] == "works":
            problem = f"work '{keys[1]}': {problem}"
        return SourceError(str(self.path), self.line(*keys), problem)


# ---------------------------------------------------------------- reading


class _Loader(safeyaml.Loader):
    """The safe loader (aliases capped, no recursive documents) that keeps dates as text ("2022-05-24" stays a
    string: we check date formats ourselves)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _plain(node, loader, path: tuple, lines: dict, dupes: list):
    """Turn a composed YAML node into plain Python, recording each key path's line."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            key = key if isinstance(key, str) else str(key)
            kline = knode.start_mark.line + 1
            if key in out:
                dupes.append((path + (key,), kline))
            lines[path + (key,)] = kline
            out[key] = _plain(vnode, loader, path + (key,), lines, dupes)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, loader, path + (i,), lines, dupes) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _compose(text: str, path: Path) -> tuple[Any, dict, list]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SourceError(str(path), line, f"not valid YAML: {problem}") from None
    except RecursionError:
        raise SourceError(str(path), None, "not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    if node is None:
        return None, {}, []
    lines: dict = {}
    dupes: list = []
    try:
        return _plain(node, _Loader(""), (), lines, dupes), lines, dupes
    except yaml.YAMLError as exc:  # e.g. an unknown tag such as !!python/object
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise SourceError(str(path), line, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


def load_claims_file(path: str | Path, slug: str) -> ClaimSet:
    """Read a claims file (`.yaml`/`.yml`, or `.geojson`/`.json`) into a ClaimSet without checking claims.

    Raises SourceError only when the file cannot be read as claims at all (bad YAML/JSON, wrong top level).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(str(path), None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SourceError(str(path), None, f"cannot read: {exc.strerror}") from None
    if path.suffix.lower() in (".geojson", ".json"):
        return _load_geojson(text, path, slug)
    data, lines, dupes = _compose(text, path)
    cs = ClaimSet(slug=slug, path=path, lines=lines)
    for keys, line in dupes:
        raise SourceError(str(path), line, f"key '{keys[-1]}' appears twice in the same mapping")
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise SourceError(str(path), 1, "a claims file is a mapping with a 'claims' list (and optionally 'works')")
    unknown = [k for k in data if k not in FILE_KEYS]
    if unknown:
        raise SourceError(str(path), lines.get((unknown[0],)), _unknown_key(unknown[0], FILE_KEYS, "top level"))
    works = data.get("works") or {}
    if not isinstance(works, dict):
        raise SourceError(str(path), lines.get(("works",)), "'works' must be a mapping of key -> work")
    cs.works = {str(k): v for k, v in works.items()}
    cs.claims = data["claims"]
    return cs


def _load_geojson(text: str, path: Path, slug: str) -> ClaimSet:
    """A FeatureCollection whose features' properties are claims and whose geometry is the target."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(str(path), exc.lineno, f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise SourceError(str(path), None, "not valid JSON: nested too deeply") from None
    try:  # JSON is YAML: compose it again only to learn line numbers
        _, raw_lines, _ = _compose(text, path)
    except SourceError:
        raw_lines = {}
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(
        data.get("features"), list
    ):
        raise SourceError(str(path), 1, "a GeoJSON claims file is a FeatureCollection")
    lines: dict = {}
    for keys, line in raw_lines.items():
        if keys[:1] == ("works",):
            lines[keys] = line
        elif len(keys) >= 2 and keys[0] == "features":
            rest = keys[2:]
            if rest[:1] == ("properties",):
                lines[("claims", keys[1]) + rest[1:]] = line
            elif rest[:1] == ("geometry",):
                lines[("claims", keys[1], "target")] = line
            elif not rest:
                lines[("claims", keys[1])] = line
    cs = ClaimSet(slug=slug, path=path, lines=lines)
    works = data.get("works") or {}  # a foreign member, allowed by RFC 7946
    if not isinstance(works, dict):
        raise SourceError(str(path), lines.get(("works",)), "'works' must be a mapping of key -> work")
    cs.works = {str(k): v for k, v in works.items()}
    for i, feat in enumerate(data["features"]):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise SourceError(str(path), lines.get(("claims", i)), f"feature #{i + 1} is not a GeoJSON Feature")
        claim = dict(feat.get("properties") or {})
        geom = feat.get("geometry")
        if geom is not None:
            if "target" in claim:
                cs.claims.append(claim)
                raise cs.error(("claims", i, "target"), "has both a geometry and a 'target' property: give one")
            claim["target"] = {"geometry": geom}
        cs.claims.append(claim)
    return cs


# ---------------------------------------------------------------- checking


def _unknown_key(key: str, allowed, where: str) -> str:
    near = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    return f"unknown key '{key}' in {where}{hint}; allowed: {', '.join(allowed)}"


def parse_date(value: Any) -> tuple[int, ...] | None:
    """'2022', '2022-05' or '2022-05-24' -> (2022,), (2022, 5), (2022, 5, 24); None when not a valid date."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    m = _DATE.match(value.strip())
    if not m:
        return None
    parts = tuple(int(p) for p in m.groups() if p is not None)
    try:
        _dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        return None
    return parts


def parse_period(value: Any) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """'2017/2018' (ISO 8601 interval of dates) -> ((2017,), (2018,)); None unless both ends parse, start <= end."""
    if not isinstance(value, str) or value.count("/") != 1:
        return None
    start, end = (parse_date(p) for p in value.split("/"))
    if start is None or end is None:
        return None
    first = start + (1, 1)[len(start) - 1:]  # earliest day of START
    last = end + (12, 31)[len(end) - 1:]  # latest day of END (31 is enough for ordering)
    return (start, end) if first <= last else None


def is_http_url(value: Any) -> bool:
    """True for an absolute http:// or https:// URL without spaces."""
    return isinstance(value, str) and bool(_URL.match(value))


_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def word_count(text: str) -> int:
    """Words separated by spaces; each Chinese/Japanese character counts as a word (those scripts use no spaces)."""
    return len(_WORD.findall(text))


def _text(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _check_work_fields(cs: ClaimSet, keys: tuple, work: dict, errors: list) -> None:
    """Fields shared by a registry work and an inline citation."""
    if not _text(work.get("title")):
        errors.append(cs.error(keys, "needs a 'title'"))
    if "type" not in work:
        errors.append(cs.error(keys, f"needs a 'type' (one of {', '.join(WORK_TYPES)})"))
    elif work["type"] not in WORK_TYPES:
        errors.append(cs.error(keys + ("type",), f"type '{work['type']}' is not one of {', '.join(WORK_TYPES)}"))
    author = work.get("author")
    if author is not None:
        names = author if isinstance(author, list) else [author]
        if not names or not all(_text(a) for a in names):
            errors.append(cs.error(keys + ("author",), "'author' is a name or a list of names"))
    if author is None and not _text(work.get("publisher")):
        errors.append(cs.error(keys, "needs an 'author' or a 'publisher'"))
    if "published" not in work:
        errors.append(cs.error(keys, "needs 'published' (YYYY, YYYY-MM, YYYY-MM-DD, or \"n.d.\" when unknown)"))
    elif work["published"] != "n.d." and parse_date(work["published"]) is None:
        errors.append(cs.error(keys + ("published",),
                               f"published '{work['published']}' is not YYYY, YYYY-MM, YYYY-MM-DD or \"n.d.\""))
    for k in ("url", "archived_url"):
        if k in work and not is_http_url(work[k]):
            errors.append(cs.error(keys + (k,), f"{k} '{work[k]}' is not an http:// or https:// link"))
    if "doi" in work and not (isinstance(work["doi"], str) and _DOI.match(work["doi"])):
        errors.append(cs.error(keys + ("doi",), f"doi '{work['doi']}' is not a DOI such as 10.1234/abc"))
    if "url" not in work and not any(k in work for k in PRINT_KEYS):
        errors.append(cs.error(keys, "needs a 'url' or, for a printed work, its details "
                                     f"({', '.join(PRINT_KEYS)})"))
    for k in ("container_title", "volume", "issue", "pages", "note", "publisher"):
        if k in work and not (_text(work[k]) or isinstance(work[k], int) and not isinstance(work[k], bool)):
            errors.append(cs.error(keys + (k,), f"'{k}' must be text"))


def _check_work(cs: ClaimSet, key: str, work, errors: list) -> None:
    keys = ("works", key)
    if not isinstance(work, dict):
        errors.append(cs.error(keys, "a work is a mapping (title, author/publisher, published, url, ...)"))
        return
    for k in work:
        if k not in WORK_KEYS:
            errors.append(cs.error(keys + (k,), _unknown_key(k, WORK_KEYS, "a work")))
    _check_work_fields(cs, keys, work, errors)


def _check_citation(cs: ClaimSet, keys: tuple, cit, errors: list) -> None:
    if not isinstance(cit, dict):
        errors.append(cs.error(keys, "a citation is a mapping: {work: KEY, locator: ...} or a full reference"))
        return
    if "work" in cit:
        for k in cit:
            if k not in CITATION_REF_KEYS:
                where = "a citation that refers to a work (put work details under 'works')"
                errors.append(cs.error(keys + (k,), _unknown_key(k, CITATION_REF_KEYS, where)))
        if str(cit["work"]) not in cs.works:
            known = ", ".join(sorted(cs.works)) or "none defined"
            errors.append(cs.error(keys + ("work",), f"cites work '{cit['work']}', which is not under 'works' "
                                                     f"(known: {known})"))
    else:
        for k in cit:
            if k not in CITATION_KEYS:
                errors.append(cs.error(keys + (k,), _unknown_key(k, CITATION_KEYS, "a citation")))
        _check_work_fields(cs, keys, cit, errors)
    if "quote" in cit:
        if not _text(cit["quote"]):
            errors.append(cs.error(keys + ("quote",), "'quote' must be text"))
        elif word_count(cit["quote"]) > MAX_QUOTE_WORDS:
            errors.append(cs.error(keys + ("quote",), f"quote has {word_count(cit['quote'])} words; "
                                                      f"at most {MAX_QUOTE_WORDS}"))
    if "locator" in cit and not (_text(cit["locator"]) or isinstance(cit["locator"], int)):
        errors.append(cs.error(keys + ("locator",), "'locator' must be text (page, paragraph, figure)"))


def _check_geometry(cs: ClaimSet, keys: tuple, geom, errors: list) -> None:
    from shapely.geometry import shape

    try:
        g = shape(geom)
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        errors.append(cs.error(keys, f"not a GeoJSON geometry ({exc})"))
        return
    if g.is_empty:
        errors.append(cs.error(keys, "geometry is empty"))
        return
    minx, miny, maxx, maxy = g.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        errors.append(cs.error(keys, "geometry is outside longitude ±180 / latitude ±90 ([lon, lat] order)"))
    elif not g.is_valid:
        from shapely.validation import explain_validity

        errors.append(cs.error(keys, f"geometry is not valid: {explain_validity(g)}"))


def _check_target(cs: ClaimSet, keys: tuple, target, errors: list) -> None:
    if target == "map":
        return
    if not isinstance(target, dict):
        errors.append(cs.error(keys, "target is \"map\" or a mapping with one of: sites, area, geometry"))
        return
    for k in target:
        if k not in TARGET_KEYS:
            errors.append(cs.error(keys + (k,), _unknown_key(k, TARGET_KEYS, "a target")))
    given = [k for k in TARGET_KEYS if k in target]
    if len(given) != 1:
        errors.append(cs.error(keys, "target needs exactly one of: sites, area, geometry"))
        return
    kind = given[0]
    value = target[kind]
    if kind == "sites":
        if not isinstance(value, list) or not value or not all(_text(s) for s in value):
            errors.append(cs.error(keys + ("sites",), "sites is a non-empty list of site ids or "
                                                      "'<source-slug>:<record_id>'"))
    elif kind == "area":
        if not isinstance(value, dict):
            errors.append(cs.error(keys + ("area",), "area is a mapping such as {county: Tekes}"))
            return
        for k in value:
            if k not in AREA_KEYS:
                errors.append(cs.error(keys + ("area", k), _unknown_key(k, AREA_KEYS, "an area")))
        if not _text(value.get("county")):
            errors.append(cs.error(keys + ("area",), "area needs a 'county' name"))
        if "geometry" in value:
            _check_geometry(cs, keys + ("area", "geometry"), value["geometry"], errors)
    else:
        _check_geometry(cs, keys + ("geometry",), value, errors)


def _check_claim(cs: ClaimSet, i: int, claim, errors: list) -> None:
    keys = ("claims", i)
    if not isinstance(claim, dict):
        errors.append(cs.error(keys, "a claim is a mapping (id, target, text, status, citations, ...)"))
        return
    for k in claim:
        if k not in CLAIM_KEYS:
            errors.append(cs.error(keys + (k,), _unknown_key(k, CLAIM_KEYS, "a claim")))
    cid = claim.get("id")
    if not (isinstance(cid, str) and _ID.match(cid)):
        errors.append(cs.error(keys + ("id",), "needs an 'id' of letters, digits, '.', '_' or '-'"))
    if not _text(claim.get("text")):
        errors.append(cs.error(keys + ("text",), "needs a 'text' (plain text)"))
    if "target" not in claim:
        errors.append(cs.error(keys, "needs a 'target': sites, area, geometry or \"map\""))
    else:
        _check_target(cs, keys + ("target",), claim["target"], errors)
    status = claim.get("status")
    if status not in STATUSES:
        errors.append(cs.error(keys + ("status",), f"status '{status}' is not one of {', '.join(STATUSES)}"
                               if "status" in claim else f"needs a 'status' ({', '.join(STATUSES)})"))
    if "category" in claim and not _text(claim["category"]):
        errors.append(cs.error(keys + ("category",), "'category' must be text"))
    if "date" in claim and "period" in claim:
        errors.append(cs.error(keys + ("period",), "give a 'date' or a 'period', not both"))
    if "date" in claim and parse_date(claim["date"]) is None:
        errors.append(cs.error(keys + ("date",), f"date '{claim['date']}' is not YYYY, YYYY-MM or YYYY-MM-DD"))
    if "period" in claim and parse_period(claim["period"]) is None:
        errors.append(cs.error(keys + ("period",), f"period '{claim['period']}' is not START/END "
                                                   "(e.g. 2017/2018, 2018-03/2018-09) with START <= END"))
    cits = claim.get("citations")
    if not isinstance(cits, list) or not cits:
        errors.append(cs.error(keys + ("citations",), "needs at least one citation"))
    else:
        for j, cit in enumerate(cits):
            _check_citation(cs, keys + ("citations", j), cit, errors)


def structure_problems(cs: ClaimSet) -> list[SourceError]:
    """Every shape problem in a claim set (no sites needed), in file order."""
    errors: list[SourceError] = []
    for key, work in cs.works.items():
        _check_work(cs, key, work, errors)
    seen: dict[str, int] = {}
    for i, claim in enumerate(cs.claims):
        _check_claim(cs, i, claim, errors)
        cid = claim.get("id") if isinstance(claim, dict) else None
        if isinstance(cid, str):
            if cid in seen:
                errors.append(cs.error(("claims", i, "id"), f"id is not unique (also claim #{seen[cid] + 1}, "
                                                            f"line {cs.line('claims', seen[cid])})"))
            else:
                seen[cid] = i
    return errors
