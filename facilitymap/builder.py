"""The build: a function from source folders and a map spec to the files of ``maps/<map>/``.

``build`` reads only local files (fetching is a separate verb), writes everything into a temporary folder beside the
output and swaps it in at the end, so a failed build leaves the previous outputs exactly as they were.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import export
from .errors import SourceError

SITE_LAYERS = ("sites", "outlines")
PAGE_WARN_MB = 25  # a page larger than this is built, with a warning (inlined rasters and scenes grow it)


class BuildError(Exception):
    """The build cannot go on; the message says which file or source and why."""


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


# --- map specs ---------------------------------------------------------------------------------------------------

def load_map_spec(maps_dir: Path, name: str) -> dict:
    """Read ``maps/<name>.yaml``: title, description, the sources in priority order, options."""
    path = maps_dir / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in maps_dir.glob("*.yaml"))
        raise BuildError(f"{path}: no such map spec (known maps: {', '.join(known) or 'none'})")
    from .limits import check_file_size

    too_big = check_file_size(path)  # the defaults: the spec is what could raise them
    if too_big:
        raise BuildError(f"{path}: {too_big}")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise BuildError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("sources"), list) or not spec["sources"]:
        raise BuildError(f"{path}: a map spec needs a non-empty list `sources`")
    known_keys = {"name", "title", "description", "sources", "basemap", "match", "disagreement_distance_m",
                  "cite_as", "cloud_threshold", "limits", "csv_raw"}
    unknown = sorted(set(spec) - known_keys)
    if unknown:
        raise BuildError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known_keys))})")
    spec.setdefault("name", name)
    spec.setdefault("title", name)
    spec.setdefault("description", "")
    spec.setdefault("basemap", "default")
    spec.setdefault("match", {})
    return spec


def select_sources(all_sources: list, spec: dict, spec_path: str) -> list:
    """The spec's sources, in the spec's (priority) order; a missing one stops the build."""
    by_slug = {s.slug: s for s in all_sources}
    missing = [slug for slug in spec["sources"] if slug not in by_slug]
    if missing:
        raise BuildError(f"{spec_path}: source(s) not found in sources/: {', '.join(missing)}")
    return [by_slug[slug] for slug in spec["sources"]]


# --- the pipeline ------------------------------------------------------------------------------------------------

def assemble(spec: dict, sources: list, scheduler: str | None = None) -> dict[str, Any]:
    """Read, reconcile and enrich: everything the outputs need, as plain data (no files written).

    `scheduler`: address of a Dask scheduler; the scene coverage join then runs there over the scene sources'
    GeoParquet (footprints.distributed); without it the join runs in memory.
    """
    from .readers import read_source
    from .reconcile import reconcile
    from .registry import source_summary

    reads = {}
    for src in sources:
        if src.layer in ("claims", "scenes"):
            continue  # claims are read by annotations, scenes by footprints.imagery (once, below)
        reads[src.slug] = read_source(src)

    site_slugs = [s.slug for s in sources if s.layer in SITE_LAYERS]
    rec = reconcile({slug: reads[slug].records for slug in site_slugs}, site_slugs, spec.get("match") or {})
    sites = rec.sites
    fc = export.feature_collection(sites)
    props_by_id = {f["properties"]["site_id"]: f["properties"] for f in fc["features"]}
    for props in props_by_id.values():
        if not props.get("name"):
            # Some datasets leave a location unnamed (61 BuzzFeed rows, 46 OSM outlines). The site still needs a
            # label; it is ours, not a source's, so it says so and `name_generated` marks it.
            first = props["records"][0]
            props["name"] = f"Unnamed site ({first['source']} {first['record_id']})"
            props["name_generated"] = True

    # Imagery: MGRS tiles from the grid, ASPI's date, harvested scenes and local rasters where a scenes source is
    # in the spec (joined in memory, or on a Dask cluster when `scheduler` is given).
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
    aspi_dates = {sid: p.get("latest_imagery") for sid, p in props_by_id.items() if p.get("latest_imagery")}
    scenes_detail, scene_summary, scene_stats, scene_geoms, rasters, site_rasters = None, {}, {}, {}, {}, {}
    if scene_sources:
        from .footprints import imagery

        rasters = imagery.read_rasters(scene_sources)
        scenes_detail, scene_summary, scene_stats, scene_geoms = imagery.join_scene_sources(
            sites, scene_sources, spec.get("cloud_threshold", 20), aspi_dates, scheduler=scheduler,
            extra_ids=set(rasters))
        site_rasters = imagery.rasters_by_site(scenes_detail, rasters)
    for sid, props in props_by_id.items():
        entry = {
            "s2_tiles": site_tiles.get(sid, []),
            "aspi_latest_imagery": props.get("latest_imagery"),
            "links": cov.imagery_links(props["lon"], props["lat"], props.get("latest_imagery")),
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
                                       distance_m=spec.get("disagreement_distance_m", 500))
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


def field_labels() -> dict:
    from .fields import FIELDS

    return {name: {"label": f.label} for name, f in FIELDS.items()}


def page_payload(data: dict) -> dict:
    """The dict `render.render_map` turns into the page (DESIGN.md, "The page payload")."""
    from .footprints import imagery

    spec, fc, ann, detail = data["spec"], data["sites_fc"], data["annotations"], data["scenes_detail"]
    payload = {
        "map": {"name": spec["name"], "title": spec["title"], "description": spec["description"],
                "cite_as": spec.get("cite_as")},
        "sources": data["sources"],
        "fields": field_labels(),
        "sites": imagery.slim_sites(fc) if detail is not None else fc,
        "claims": ann["claims"],
        "citations": ann["csl"],
        "tiles": data["tiles_fc"],
    }
    if detail is not None:
        payload["scenes"] = imagery.page_scenes(fc, detail, data["scene_geoms"], data["rasters"])
    return payload


def write_outputs(data: dict, out: Path, basemap: str, csv_raw: bool = False) -> list[str]:
    """Write every output file of the map into ``out`` (an empty folder).

    ``csv_raw``: write the CSVs' text cells as the sources give them, without the formula neutralisation."""
    from .render import render_embed, render_map

    spec = data["spec"]
    fc = data["sites_fc"]
    ann = data["annotations"]
    export.write_json(fc, out / "sites.geojson")
    export.write_csv(export.sites_csv_rows(fc["features"]), out / "sites.csv", export.SITES_CSV_FIELDS,
                     raw=csv_raw)
    export.write_csv(export.records_csv_rows(data["reconciled"].records), out / "records.csv",
                     export.RECORDS_CSV_FIELDS, raw=csv_raw)
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


def build(map_name: str = "xinjiang", sources_dir: Path = Path("sources"), maps_dir: Path = Path("maps"),
          basemap: str | None = None, scheduler: str | None = None, csv_raw: bool | None = None,
          limits: dict | None = None) -> BuildResult:
    """Build ``maps/<map_name>/`` from ``sources/``; on any error the previous outputs stay intact.

    `scheduler`: a Dask scheduler address ("tcp://host:8786") for the scene coverage join; None joins in memory.
    `csv_raw`: CSV text cells as the sources give them (default: the spec's `csv_raw`, else neutralised).
    `limits`: {name: value} over the spec's `limits:` over the defaults of `facilitymap.limits.Limits`.
    """
    from . import limits as limmod

    sources_dir, maps_dir = Path(sources_dir), Path(maps_dir)
    spec = load_map_spec(maps_dir, map_name)
    spec_path = maps_dir / f"{map_name}.yaml"
    try:
        lim = limmod.DEFAULTS.with_overrides(spec.get("limits"), str(spec_path))
        lim = lim.with_overrides(limits, "--limit")
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    if csv_raw is None:
        csv_raw = spec.get("csv_raw", False)
        if not isinstance(csv_raw, bool):
            raise BuildError(f"{spec_path}: csv_raw must be true or false")
    with limmod.applied(lim):
        return _build(map_name, spec, sources_dir, maps_dir, basemap, scheduler, csv_raw)


def _build(map_name: str, spec: dict, sources_dir: Path, maps_dir: Path, basemap: str | None,
           scheduler: str | None, csv_raw: bool) -> BuildResult:
    from .registry import load_sources, source_warnings, validate_sources

    t0 = time.perf_counter()
    selected = select_sources(load_sources(sources_dir), spec, str(maps_dir / f"{map_name}.yaml"))
    problems = validate_sources(selected)
    if problems:
        raise BuildError("sources failed validation:\n  " + "\n  ".join(problems))
    warnings = source_warnings(selected)
    data = assemble(spec, selected, scheduler=scheduler)

    out = maps_dir / map_name
    tmp = maps_dir / f".{map_name}.tmp-{os.getpid()}"
    try:  # from the mkdir on: an error, Ctrl-C or SIGTERM (cli.py raises it) removes the temp folder
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        files = write_outputs(data, tmp, basemap or spec.get("basemap", "default"), csv_raw=csv_raw)
        with _signals_deferred():
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


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT/SIGTERM during the two renames of the swap (an interruption between them would leave no map);
    a signal that arrived meanwhile is delivered when the block ends."""
    import signal

    sigs = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask on this platform
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


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
    """Every problem `facilitymap validate` reports: descriptors, hashes, licences, mappings, annotations."""
    from .registry import load_sources, validate_sources

    try:
        sources = load_sources(Path(sources_dir))
    except SourceError as exc:
        return [str(exc)]
    problems = list(validate_sources(sources))
    claim_sources = [s for s in sources if s.layer == "claims"]
    if problems or not claim_sources:
        return problems
    # Annotations can only be checked against sites, so reconcile the map that uses them.
    names = [map_name] if map_name else sorted(p.stem for p in Path(maps_dir).glob("*.yaml"))
    from . import annotations as ann

    for name in names:
        spec = load_map_spec(Path(maps_dir), name)
        selected = select_sources(sources, spec, str(Path(maps_dir) / f"{name}.yaml"))
        site_srcs = [s for s in selected if s.layer in SITE_LAYERS]
        from .readers import read_source
        from .reconcile import reconcile

        try:
            reads = {s.slug: read_source(s).records for s in site_srcs}
            rec = reconcile(reads, [s.slug for s in site_srcs], spec.get("match") or {})
        except SourceError as exc:
            problems.append(str(exc))
            continue
        problems += ann.check_annotation_sources([s for s in selected if s.layer == "claims"], rec.sites,
                                                 rec.records)
    return problems


def validate_warnings(sources_dir: Path) -> list[str]:
    """Warnings `facilitymap validate` prints without failing (e.g. a licence still to be stated)."""
    from .registry import load_sources, source_warnings

    try:
        return source_warnings(load_sources(Path(sources_dir)))
    except SourceError:
        return []  # validate_all reports it


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

