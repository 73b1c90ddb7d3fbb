"""The build: a function from source folders and a map spec to the files of ``maps/<map>/``.

``build`` reads only local files (fetching is a separate verb), writes everything into a temporary folder beside the
output and swaps it in at the end, so a failed build leaves the previous outputs exactly as they were.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import export
from .errors import BuildError, SourceError
from .fields import vocabulary
from .spec import SpecError, load_map_spec, select_sources, site_fields, source_field_problems, spec_path

SITE_LAYERS = ("sites", "outlines")
PAGE_WARN_MB = 25  # a page larger than this is built, with a warning (inlined rasters and scenes grow it)


@dataclass
class BuildResult:
    map_name: str
    out_dir: Path
    report: dict
    seconds: float
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a placeholder licence: printed, not fatal

    def summary(self) -> str:
        r = self.report
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(r["sites_by_kind"].items()))
        rejected = sum(len(s["rejected"]) for s in r["sources"].values())
        return (f"built {self.out_dir}: {r['sites']} sites ({kinds}); {r['sites_multi_source']} with records from "
                f"two or more sources; {rejected} rows rejected (see build-report.json); {self.seconds:.1f} s")


# --- the pipeline ------------------------------------------------------------------------------------------------

def assemble(spec: dict, sources: list, scheduler: str | None = None) -> dict[str, Any]:
    """Read, reconcile and enrich: everything the outputs need, as plain data (no files written).

    `scheduler`: address of a Dask scheduler; the scene coverage join then runs there over the scene sources'
    GeoParquet (footprints.distributed); without it the join runs in memory.
    """
    from .readers import read_source
    from .reconcile import reconcile
    from .registry import source_summary

    vocab = vocabulary(spec)
    reads = {}
    for src in sources:
        if src.layer in ("claims", "scenes"):
            continue  # claims are read by annotations, scenes by footprints.imagery (once, below)
        reads[src.slug] = read_source(src, vocab)

    site_slugs = [s.slug for s in sources if s.layer in SITE_LAYERS]
    if not any(len(reads[slug].records) for slug in site_slugs):
        # nothing to put on a map: say which files gave nothing, instead of failing somewhere downstream
        why = "; ".join(f"{s.path}: {reads[s.slug].rows} data row(s), {len(reads[s.slug].rejected)} rejected"
                        for s in sources if s.slug in site_slugs)
        raise BuildError(f"map {spec.get('name')!r} has no sites: " + (why or "none of its sources is a sites or "
                                                                         "outlines layer"))
    rec = reconcile({slug: reads[slug].records for slug in site_slugs}, site_slugs, match_options(spec, sources))
    sites = rec.sites  # unnamed sites are named (and marked `name_generated`) by reconcile
    fc = export.feature_collection(sites)
    props_by_id = {f["properties"]["site_id"]: f["properties"] for f in fc["features"]}

    # Imagery: MGRS tiles from the grid, the reference month (the field `imagery_reference_field` of the spec names),
    # harvested scenes and local rasters where a scenes source is in the spec (joined in memory, or on a Dask
    # cluster when `scheduler` is given).
    from .footprints import coverage as cov
    from .footprints import grid as gridmod

    tiles_fc = {"type": "FeatureCollection", "features": []}
    grid_sources = [s for s in sources if s.layer == "grid"]
    site_tiles: dict[str, list[str]] = {}
    if grid_sources:
        grid = reads[grid_sources[0].slug].records.rename(columns={"record_id": "tile"})[["tile", "geometry"]]
        site_tiles = gridmod.site_tiles(sites, grid)
        tiles_fc = export.feature_collection(gridmod.tiles_for_map(grid, sites))
    scene_sources = [s for s in sources if s.layer == "scenes"]
    refs = {sid: reference_month(p, spec.get("imagery_reference_field")) for sid, p in props_by_id.items()}
    reference_months = {sid: month for sid, (month, _) in refs.items() if month}
    scenes_detail, scene_summary, scene_stats, scene_geoms, rasters, site_rasters = None, {}, {}, {}, {}, {}
    if scene_sources:
        from .footprints import imagery

        rasters = imagery.read_rasters(scene_sources)
        scenes_detail, scene_summary, scene_stats, scene_geoms = imagery.join_scene_sources(
            sites, scene_sources, spec.get("cloud_threshold", 20), reference_months, scheduler=scheduler,
            extra_ids=set(rasters))
        site_rasters = imagery.rasters_by_site(scenes_detail, rasters)
    for sid, props in props_by_id.items():
        entry = {
            "s2_tiles": site_tiles.get(sid, []),
            "reference_month": refs[sid][0],
            "reference_source": refs[sid][1],
            "links": cov.imagery_links(props["lon"], props["lat"], refs[sid][0]),
        }
        if sid in scene_summary:
            entry["scenes"] = scene_summary[sid]
        if site_rasters.get(sid):
            entry["rasters"] = site_rasters[sid]
        props["imagery"] = entry

    # Annotations: the claims sources of the spec, and claims generated from disagreements between datasets.
    from . import annotations as ann

    source_summaries = [source_summary(s) for s in sources]
    claim_sources = [s for s in sources if s.layer == "claims"]
    claims_out = ann.build_annotations(claim_sources, sites, rec.records, source_summaries,
                                       distance_m=spec.get("disagreement_distance_m", 500),
                                       rules=spec.get("rules") or (), canonical=place_canonical(spec),
                                       place_label=place_label(spec))
    for sid, ids in claims_out["claims_for_site"].items():
        if sid in props_by_id:
            props_by_id[sid]["claims"] = ids

    return {
        "spec": spec,
        "reads": reads,
        "reconciled": rec,
        "sites_fc": fc,
        "tiles_fc": tiles_fc,
        "scenes_detail": scenes_detail,
        "scene_stats": scene_stats,
        "scene_geoms": scene_geoms,
        "rasters": rasters,
        "sources": source_summaries,
        "record_urls": {s.slug: s.fm["record_url"] for s in sources if s.fm.get("record_url")},
        "annotations": claims_out,
    }


def build_report(spec: dict, data: dict) -> dict:
    """The build report: every source's rows, records and rejected rows, the sites and the matching report."""
    sources = {}
    for slug, rr in sorted(data["reads"].items()):
        sources[slug] = {
            "rows": int(rr.rows),
            "records": int(len(rr.records)),
            "rejected": export.jsonable(rr.rejected),
            "notes": export.jsonable(rr.notes),
        }
    for slug, stats in sorted(data["scene_stats"].items()):
        sources[slug] = stats
    for slug, stats in sorted(data["annotations"].get("source_stats", {}).items()):
        sources[slug] = stats
    feats = data["sites_fc"]["features"]
    by_kind: dict[str, int] = {}
    multi = 0
    for f in feats:
        p = f["properties"]
        by_kind[p["kind"]] = by_kind.get(p["kind"], 0) + 1
        if len({r["source"] for r in p["records"]}) >= 2:
            multi += 1
    return {
        "map": spec["name"],
        "sources": sources,
        "sites": len(feats),
        "sites_by_kind": by_kind,
        "sites_multi_source": multi,
        "matching": export.jsonable(data["reconciled"].report),
        "annotations": export.jsonable(data["annotations"].get("report", {})),
    }


def reference_month(props: dict, field: str | None) -> tuple[str | None, str | None]:
    """(month, slug of the dataset giving it) of a site's reference month for imagery, or (None, None).

    The site's reconciled value of `field` when it has one, else the first value its datasets give.
    """
    if not field:
        return None, None
    values = [v for v in (props.get("attributes") or {}).get(field) or [] if v.get("value")]
    month = props.get(field) or (values[0]["value"] if values else None)
    if not isinstance(month, str) or not month:
        return None, None
    source = next((v.get("source") for v in values if v["value"] == month), None)
    return month, source


def match_options(spec: dict, sources: list | None = None) -> dict:
    """The options reconcile gets: the spec's ``match`` block, the fields sites carry, the spec's place table and
    the sources' declared crosswalks."""
    opts = dict(spec.get("match") or {})
    opts["site_fields"] = site_level_fields(spec)
    if spec.get("places_table") is not None:
        opts["places"] = spec["places_table"]
    declared = {s.slug: s.fm["crosswalks"] for s in (sources or []) if s.fm.get("crosswalks")}
    if declared:
        opts["crosswalks"] = declared
    return opts


def site_level_fields(spec: dict) -> list[str]:
    """The fields a site carries as columns of its own: the roles (names, county, region; not free text) and the
    declared fields the map uses for whole sites (layers' `color_by`, rules, the imagery reference month). Every
    other value stays in the site's `attributes`, with its source."""
    from .fields import ROLES, vocabulary

    vocab = vocabulary(spec)
    roles = [f for f in site_fields(spec) if (f in ROLES or f in ("name_en", "name_zh", "name_ug"))
             and getattr(vocab.get(f), "type", None) != "text"]
    used = [layer.get("color_by") for layer in spec.get("layers") or [] if isinstance(layer, dict)]
    for rule in spec.get("rules") or []:
        if isinstance(rule, dict):  # the fields a rule matches sites on (its `unless` fields are read per record)
            used += [c.get("field") for c in rule.get("when") or [] if isinstance(c, dict)]
    used.append(spec.get("imagery_reference_field"))
    out = list(roles)
    for f in used:
        if isinstance(f, str) and f in (spec.get("fields") or {}) and f not in out:
            out.append(f)
    return out


def place_label(spec: dict):
    """A reader's name for a place ("Konasheher (Shufu) County") from the spec's place table, or None."""
    table = spec.get("places_table")
    return table.label if table is not None else None


def place_canonical(spec: dict):
    """The spec's place-name lookup for annotations (None: names compared as written, normalised)."""
    table = spec.get("places_table")
    return table.canonical if table is not None else None


def field_labels(spec: dict) -> dict:
    """{field: {"label"}} for the page: the roles and the fields the map declares."""
    return {name: {"label": f.label} for name, f in vocabulary(spec).items()}


def page_payload(data: dict) -> dict:
    """The dict `render.render_map` turns into the page: `page.build_payload` over the build's outputs."""
    from . import page
    from .layers import LayerError

    try:
        return page.build_payload(
            data["spec"], sources=data["sources"], sites=data["sites_fc"], claims=data["annotations"]["claims"],
            citations=data["annotations"]["csl"], tiles=data["tiles_fc"], scene_detail=data["scenes_detail"],
            scene_geoms=data["scene_geoms"], rasters=data["rasters"], record_urls=data.get("record_urls"),
            review=export.jsonable(data["reconciled"].report.get("to_review") or []))
    except LayerError as exc:
        raise BuildError(f"maps/{data['spec']['name']}.yaml: {exc}") from None


def write_outputs(data: dict, out: Path, basemap: str) -> list[str]:
    """Write every output file of the map into ``out`` (an empty folder)."""
    from .render import render_embed, render_map

    spec = data["spec"]
    fc = data["sites_fc"]
    ann = data["annotations"]
    export.write_json(fc, out / "sites.geojson")
    export.write_csv(export.sites_csv_rows(fc["features"]), out / "sites.csv")
    export.write_csv(export.records_csv_rows(data["reconciled"].records), out / "records.csv")
    export.write_json(data["sources"], out / "sources.json")
    export.write_json(ann["geojson"], out / "annotations.geojson")
    export.write_json(ann["csl"], out / "citations.json")
    from .footprints import imagery

    coverage = {"tiles": {f["properties"]["site_id"]: f["properties"]["imagery"] for f in fc["features"]}}
    detail = data["scenes_detail"]
    if detail is not None and len(detail) > imagery.DETAIL_JSON_MAX_ROWS:
        # a large harvest: the (site, scene) pairs go to Parquet; coverage.json says where
        imagery.write_detail_parquet(detail, out / "coverage.parquet")
        coverage["scenes_file"] = {"path": "coverage.parquet", "rows": int(len(detail))}
    elif detail is not None:
        coverage["scenes"] = export.jsonable(detail.to_dict(orient="records"))
    export.write_json(coverage, out / "coverage.json")
    export.write_json(build_report(spec, data), out / "build-report.json")

    payload = page_payload(data)
    (out / "index.html").write_text(render_map(payload, basemap=basemap), encoding="utf-8", newline="\n")
    (out / "embed.html").write_text(render_embed(spec["title"], "index.html"), encoding="utf-8", newline="\n")
    return sorted(p.name for p in out.iterdir())


def build(map_name: str, sources_dir: Path = Path("sources"), maps_dir: Path = Path("maps"),
          basemap: str | None = None, scheduler: str | None = None) -> BuildResult:
    """Build ``maps/<map_name>/`` from ``sources/``; on any error the previous outputs stay intact.

    `scheduler`: a Dask scheduler address ("tcp://host:8786") for the scene coverage join; None joins in memory.
    """
    from .registry import load_sources, source_warnings, validate_sources

    t0 = time.perf_counter()
    sources_dir, maps_dir = Path(sources_dir), Path(maps_dir)
    try:
        spec = load_map_spec(maps_dir, map_name)
        # only the map's own folders are read: a broken folder the map does not use is `validate`'s to report
        selected = select_sources(load_sources(sources_dir, spec["sources"]), spec, str(spec_path(maps_dir, map_name)))
    except SpecError as exc:
        raise BuildError(str(exc)) from None
    problems = validate_sources(selected) + source_field_problems(spec, selected, spec_path(maps_dir, map_name))
    if problems:
        raise BuildError("sources failed validation:\n  " + "\n  ".join(problems))
    warnings = source_warnings(selected)
    data = assemble(spec, selected, scheduler=scheduler)

    out = maps_dir / map_name
    tmp = maps_dir / f".{map_name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        files = write_outputs(data, tmp, basemap or spec.get("basemap", "default"))
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report = json.loads((out / "build-report.json").read_text(encoding="utf-8"))
    page_mb = (out / "index.html").stat().st_size / 1e6
    if page_mb > PAGE_WARN_MB:
        warnings.append(f"{out / 'index.html'} is {page_mb:.0f} MB (over {PAGE_WARN_MB} MB): readers on phones and "
                        "slow links will wait; consider fewer local rasters, smaller web images (max_size) or a "
                        "shorter scene period")
    return BuildResult(map_name, out, report, time.perf_counter() - t0, files, warnings)


def _swap(new: Path, out: Path) -> None:
    """Put ``new`` in the place of ``out`` with two renames, so readers never see a half-written map."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(new, out)
    if old.exists():
        shutil.rmtree(old)


# --- validate / sources verbs ------------------------------------------------------------------------------------

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
        from .readers import read_source
        from .reconcile import reconcile

        vocab = vocabulary(spec)
        try:
            reads = {s.slug: read_source(s, vocab).records for s in site_srcs}
            rec = reconcile(reads, [s.slug for s in site_srcs], match_options(spec, site_srcs))
        except SourceError as exc:
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

