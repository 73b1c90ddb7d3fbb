"""The map spec: ``maps/<name>.yaml`` read, checked and given its defaults; the sources it selects.

A spec names the sources of one map in priority order and declares what the package cannot know about them: the
fields beyond the package roles (``fields``), the layers of the page (``layers``), matching options (``match``,
``places``), generated-annotation rules (``rules``) and time options (``time``). This module checks the keys it
owns (``fields``, ``rules``) and passes the others through to the module that owns each. Problems are
``file: key: problem`` strings, all at once, so a person fixes them in one go.
"""
from __future__ import annotations

from pathlib import Path

from . import safeyaml
from .errors import SourceError, SpecError  # noqa: F401  (SpecError: a BuildError, importable from here)
from .schema import check_spec

#: Every top-level key of a map spec; DESIGN.md "Map spec" documents each one.
KNOWN_KEYS = ("name", "title", "description", "cite_as", "about", "sources", "basemap", "fields", "layers",
              "match", "places", "rules", "time", "disagreement_distance_m", "cloud_threshold", "imagery_reference_field",
              "limits", "csv_raw")


def spec_path(maps_dir: Path, name: str) -> Path:
    return Path(maps_dir) / f"{name}.yaml"


def default_map(maps_dir: Path) -> str:
    """The map a verb works on when none is named: the only spec in ``maps_dir``; otherwise say which to name."""
    known = sorted(p.stem for p in Path(maps_dir).glob("*.yaml"))
    if len(known) == 1:
        return known[0]
    raise SpecError(f"{maps_dir}: name a map ({'known maps: ' + ', '.join(known) if known else 'no map specs here'})")


def load_map_spec(maps_dir: Path, name: str) -> dict:
    """Read ``maps/<name>.yaml``: title, description, the sources in priority order, fields, rules, options."""
    path = spec_path(maps_dir, name)
    if not path.exists():
        known = sorted(p.stem for p in Path(maps_dir).glob("*.yaml"))
        raise SpecError(f"{path}: no such map spec (known maps: {', '.join(known) or 'none'})")
    from .limits import check_file_size

    too_big = check_file_size(path)  # the default cap: the spec itself is what could raise it
    if too_big:
        raise SpecError(f"{path}: {too_big}")
    try:  # duplicate keys, alias bombs and deep nesting are refused with the line (safeyaml)
        spec = safeyaml.load(path.read_text(encoding="utf-8"), path)
    except SourceError as exc:
        raise SpecError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    check_spec(spec, path)  # schemas/map-spec.schema.json: wrong types and unknown keys are `file: key.path: problem`
    if not isinstance(spec, dict) or not isinstance(spec.get("sources"), list) or not spec["sources"]:
        raise SpecError(f"{path}: a map spec needs a non-empty list `sources`")
    unknown = sorted(set(spec) - set(KNOWN_KEYS))
    if unknown:
        raise SpecError(f"{path}: unknown key(s) {', '.join(map(str, unknown))} "
                        f"(known: {', '.join(sorted(KNOWN_KEYS))})")
    problems = spec_problems(spec, path)
    if problems:
        raise SpecError("\n".join(problems))
    spec.setdefault("name", name)
    spec.setdefault("title", name)
    spec.setdefault("description", "")
    spec.setdefault("basemap", "default")
    spec.setdefault("match", {})
    spec.setdefault("fields", {})
    spec.setdefault("layers", [])
    spec.setdefault("rules", [])
    from .places import from_spec  # the place-name table, a path beside the spec

    try:
        spec["places_table"] = from_spec(spec, Path(maps_dir))
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: places: {exc}") from None
    return spec


def spec_problems(spec: dict, path: Path | str) -> list[str]:
    """Problems of the keys this module owns: ``fields`` declarations and ``rules``."""
    from .annotations.generate import rule_problems
    from .fields import declaration_problems, lookup, vocabulary

    fields = declaration_problems(spec.get("fields"))
    out = [f"{path}: {p}" for p in fields]
    layers = spec.get("layers")
    if layers is not None and not isinstance(layers, list):
        out.append(f"{path}: layers: is not a list")
    if not fields:  # rules name fields: judged once the fields are sound
        vocab = vocabulary(spec)
        rules = spec.get("rules")
        named = {c.get("field") for r in rules or [] if isinstance(r, dict) for c in r.get("when") or []
                 if isinstance(c, dict)} | {f for r in rules or [] if isinstance(r, dict)
                                           for f in (r.get("unless") if isinstance(r.get("unless"), list) else [])}
        known = set(vocab) | {n for n in named if isinstance(n, str) and lookup(vocab, n) is not None}
        out += [f"{path}: {p}" for p in rule_problems(rules, known)]
        out += [f"{path}: {p}" for p in time_problems(spec.get("time"), spec, vocab)]
        ref = spec.get("imagery_reference_field")
        if ref is not None and (not isinstance(ref, str) or lookup(vocab, ref) is None
                                or lookup(vocab, ref).type != "yearmonth"):
            out.append(f"{path}: imagery_reference_field: {ref!r} is not a field of type yearmonth of this map")
    return out


def time_problems(time_spec, spec: dict, vocab: dict) -> list[str]:
    """Problems of the ``time:`` block: its keys and sources (``timeline.spec_problems``), then the fields its rules
    and events name, each of the map's vocabulary and of a type the rule can read."""
    from .fields import DATE_TYPES, lookup
    from .timeline import spec_problems as time_spec_problems

    if time_spec is None:
        return []
    out = time_spec_problems(time_spec, [s for s in spec.get("sources") or [] if isinstance(s, str)])
    if out:
        return out
    dated = set(DATE_TYPES) - {"series"}

    def check(at, name, types, what):
        f = lookup(vocab, name) if isinstance(name, str) else None
        if f is None:
            out.append(f"{at}: {name!r} is not a field of this map (declare it under `fields:`)")
        elif types and f.type not in types:
            out.append(f"{at}: {name!r} is of type {f.type}; {what}")

    for i, r in enumerate(time_spec["rules"]):
        at = f"time.rules[{i}]"
        if isinstance(r.get("series"), str):
            check(f"{at}.series", r["series"], {"series"}, "a series rule needs a field of type series")
        elif isinstance(r.get("series"), dict):
            for y, name in r["series"].items():
                check(f"{at}.series.{y}", name, None, "")
        for k in ("seen", "from", "until"):
            if k in r:
                check(f"{at}.{k}", r[k], dated, f"`{k}` needs a date field ({', '.join(sorted(dated))})")
    for i, e in enumerate(time_spec.get("events") or []):
        check(f"time.events[{i}].field", e["field"], set(DATE_TYPES),
              f"an event needs a date or series field ({', '.join(DATE_TYPES)})")
    return out


def select_sources(all_sources: list, spec: dict, spec_path: str) -> list:
    """The spec's sources, in the spec's (priority) order; a missing one stops the build."""
    by_slug = {s.slug: s for s in all_sources}
    missing = [slug for slug in spec["sources"] if slug not in by_slug]
    if missing:
        raise SpecError(f"{spec_path}: source(s) not found in sources/: {', '.join(map(str, missing))}")
    return [by_slug[slug] for slug in spec["sources"]]


def source_field_problems(spec: dict, sources: list, spec_file: Path | str) -> list[str]:
    """Descriptor fields the map does not know: each names the descriptor, the field and where to declare it."""
    from .fields import lookup, vocabulary

    vocab = vocabulary(spec)
    out = []
    for src in sources:
        fm = getattr(src, "fm", None) or {}
        mapped = fm.get("fields") if isinstance(fm.get("fields"), dict) else {}
        for ours in mapped:
            if lookup(vocab, ours) is None:
                out.append(f"{src.descriptor_path}: facilitymap.fields.{ours}: {ours!r} is not a field of map "
                           f"{spec.get('name')!r} (a package role, or declared under `fields:` in {spec_file})")
    return out


def site_fields(spec: dict) -> list[str]:
    """The field names sites are reconciled on: the roles (but id, coordinates and kind, which sites have
    their own way) and then the fields the spec declares."""
    from .fields import ROLES

    names = [n for n in ROLES if n not in ("record_id", "lat", "lon", "kind")]
    return names + [n for n in spec.get("fields") or {} if n not in names]
