"""The `validate` and `sources` verbs: every problem of the source folders and map specs, said at once, and a
table of the sources.

Nothing here writes a file; the build itself (`builder.build`) checks the same things for one map and stops.
"""
from __future__ import annotations

from pathlib import Path

from .errors import BuildError, SourceError
from .pipeline import SITE_LAYERS
from .spec import SpecError, load_map_spec, select_sources, source_field_problems, spec_path


def validate_all(sources_dir: Path, maps_dir: Path, map_name: str | None = None) -> list[str]:
    """Every problem `facilitymap validate` reports: descriptors, hashes, licences, mappings, annotations.

    With `map_name`, the fields the map's sources map onto are checked against that map's vocabulary (roles and
    the spec's declared fields); without it only their form is checked (``validate_notes`` says so).
    """
    from .registry import load_sources_report, validate_sources

    sources, problems = load_sources_report(Path(sources_dir))  # a folder that does not load is one problem
    problems += validate_sources(sources)
    if map_name:
        try:
            spec = load_map_spec(Path(maps_dir), map_name)
            selected = select_sources(sources, spec, str(spec_path(maps_dir, map_name)))
        except SpecError as exc:
            return problems + [str(exc)]
        problems += source_field_problems(spec, selected, spec_path(maps_dir, map_name))
    claim_sources = [s for s in sources if s.layer == "claims"]
    if problems or not claim_sources:
        return problems
    # Annotations can only be checked against sites, so reconcile the map that uses them.
    names = [map_name] if map_name else sorted(p.stem for p in Path(maps_dir).glob("*.yaml"))
    from . import annotations as ann

    for name in names:
        try:
            spec = load_map_spec(Path(maps_dir), name)
            selected = select_sources(sources, spec, str(spec_path(maps_dir, name)))
        except SpecError as exc:
            problems.append(str(exc))
            continue
        site_srcs = [s for s in selected if s.layer in SITE_LAYERS]
        from .pipeline import place_canonical, read_sources, reconcile_reads

        try:
            reads = read_sources(spec, site_srcs)
            rec = reconcile_reads(spec, site_srcs, reads)
        except (SourceError, BuildError) as exc:  # BuildError: a map with no sites
            problems.append(str(exc))
            continue
        problems += ann.check_annotation_sources([s for s in selected if s.layer == "claims"], rec.sites,
                                                 rec.records, canonical=place_canonical(spec))
    return problems


def validate_notes(map_name: str | None) -> list[str]:
    """What `facilitymap validate` did not check, said once (never a failure)."""
    if map_name:
        return []
    return ["note: field names were checked for their form only; `facilitymap validate --map MAP` checks them "
            "against the fields MAP declares"]


def validate_warnings(sources_dir: Path) -> list[str]:
    """Warnings `facilitymap validate` prints without failing (e.g. a licence still to be stated)."""
    from .registry import load_sources_report, source_warnings

    return source_warnings(load_sources_report(Path(sources_dir))[0])  # validate_all reports what does not load


def sources_table(sources_dir: Path) -> list[dict]:
    """One row per source: slug, layer, records, rejected rows, licence, retrieval date."""
    from .readers import read_source
    from .registry import load_sources

    rows = []
    for src in load_sources(Path(sources_dir)):
        if src.layer == "claims":
            from . import annotations as ann

            n, rejected = ann.count_claims(src), 0
        else:
            rr = read_source(src)
            n, rejected = len(rr.records), len(rr.rejected)
        rows.append({"slug": src.slug, "layer": src.layer, "records": n, "rejected": rejected,
                     "licence": src.licence.get("name", "") if isinstance(src.licence, dict) else str(src.licence),
                     "retrieved": src.retrieved or "unknown"})
    return rows

