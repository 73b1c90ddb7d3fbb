"""Sourced annotations: claims with citations, checked at build, resolved to sites, exported as GeoJSON and CSL-JSON.

An annotation source is a folder under ``sources/`` whose descriptor says ``layer: claims, reader: claims`` and
whose resource is a claims file (YAML, or GeoJSON with claims as feature properties). See docs/annotations.md.

The build calls ``build_annotations``; ``facilitymap validate`` calls ``check_annotation_sources``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from facilitymap.errors import SourceError

from .csl import citations_csl, source_to_csl, work_to_csl
from .generate import generate_disagreement_claims, rule_problems
from .model import STATUSES, ClaimSet, load_claims_file, structure_problems
from .resolve import (
    SiteIndex,
    annotations_geojson,
    claim_problems,
    claims_for_site,
    duplicate_ids,
    resolve_claims,
    validate_claims,
)

__all__ = [
    "ClaimSet", "STATUSES", "rule_problems",
    "load_claims", "load_claims_file", "count_claims",
    "validate_claims", "claim_problems", "structure_problems", "check_annotation_sources",
    "resolve_claims", "claims_for_site", "generate_disagreement_claims",
    "annotations_geojson", "citations_csl", "work_to_csl", "source_to_csl",
    "build_annotations",
]


def load_claims(source: Any) -> ClaimSet:
    """Read an annotation source (a registry Source, or the path of its folder) into a ClaimSet.

    With a registry Source the file is first checked against the descriptor's bytes and sha256.
    """
    if isinstance(source, (str, Path)):
        from facilitymap.registry import load_source

        source = load_source(Path(source))  # slug, descriptor schema: as for every source folder
    from facilitymap.registry import check_resource_file

    path = check_resource_file(source)
    return load_claims_file(path, source.slug)


def count_claims(source: Any) -> int:
    """How many claims an annotation source holds (for `facilitymap sources`)."""
    return len(load_claims(source).claims)


def check_annotation_sources(sources: Iterable[Any], sites, records=None, *, canonical=None) -> list[str]:
    """Every problem of the given annotation sources against the sites, one `path:line: problem` string each."""
    problems: list[str] = []
    loaded: list[ClaimSet] = []
    index = None
    for src in sources:
        try:
            cs = load_claims(src)
        except SourceError as exc:
            problems.append(str(exc))
            continue
        if index is None:
            index = SiteIndex(sites, records, canonical)
        problems += [str(e) for e in claim_problems(cs, index=index)]
        loaded.append(cs)
    problems += [str(e) for e in duplicate_ids(loaded)]
    return problems


def build_annotations(claim_sources: Iterable[Any], sites, records, sources: Iterable[Any], *,
                      distance_m: float = 500, rules: Iterable[dict] = (), canonical=None,
                      place_label=None) -> dict:
    """Everything the build needs from annotations, as plain data.

    Returns {"claims": resolved + generated claims (by id), "claims_for_site": {site_id: [ids]},
    "geojson": annotations.geojson, "csl": citations.json items, "source_stats": {slug: {rows, records,
    rejected}}, "report": {...}}. Raises SourceError (file, line, claim id) on the first bad claim.
    `rules`: the map spec's generated-annotation rules (generate.py).
    """
    sources, rules = list(sources), list(rules or ())
    claim_sets = [load_claims(s) for s in claim_sources]
    resolved = resolve_claims(claim_sets, sites, records, canonical=canonical, place_label=place_label)
    generated = generate_disagreement_claims(sites, records, sources, distance_m=distance_m, rules=rules)
    taken = {c["id"] for c in resolved}
    clash = [c["id"] for c in generated if c["id"] in taken]
    if clash:
        cs = next(cs for cs in claim_sets if any(c.get("id") == clash[0] for c in cs.claims))
        i = next(i for i, c in enumerate(cs.claims) if c.get("id") == clash[0])
        raise cs.error(("claims", i, "id"), "id is reserved for a generated claim ('generated-...')")
    claims = sorted(resolved + generated, key=lambda c: c["id"])
    gen_counts: dict[str, int] = {}
    kinds = sorted(["location"] + [r["id"] for r in rules], key=len, reverse=True)  # longest prefix first
    for c in generated:
        kind = next(k for k in kinds if c["id"].startswith(f"generated-{k}-"))
        gen_counts[kind] = gen_counts.get(kind, 0) + 1
    stats = {cs.slug: {"rows": len(cs.claims), "records": len(cs.claims), "rejected": []} for cs in claim_sets}
    report = {
        "claims": len(resolved),
        "claims_by_source": {cs.slug: len(cs.claims) for cs in claim_sets},
        "claims_by_kind": _count(c["target_kind"] for c in resolved),
        "generated": len(generated),
        "generated_by_kind": dict(sorted(gen_counts.items())),
        "disagreement_distance_m": distance_m,
        "rules": rules,
    }
    return {
        "claims": claims,
        "claims_for_site": claims_for_site(claims),
        "geojson": annotations_geojson(claims),
        "csl": citations_csl(claim_sets, sources),
        "source_stats": stats,
        "report": report,
    }


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))
