"""The outputs of a map: the files of ``maps/<map>/`` written from a `pipeline.MapData`, and the build report.

`write_outputs` writes into an empty folder (the builder's temporary one) and returns the build report it wrote,
so nothing is read back. `site_collection` is the one place the sites become sites.geojson's FeatureCollection,
which sites.csv, the build report and the page payload all read.
"""
from __future__ import annotations

from pathlib import Path

from . import export
from .errors import BuildError
from .fields import vocabulary


def site_collection(data) -> dict:
    """sites.geojson: one feature per site, its reconciled columns plus its imagery entry and its claims (only
    when claims target it)."""
    fc = export.feature_collection(data.sites)
    claims_for_site = data.annotations.get("claims_for_site") or {}
    for f in fc["features"]:
        props = f["properties"]
        sid = props["site_id"]
        props["imagery"] = data.imagery.get(sid)
        if claims_for_site.get(sid):
            props["claims"] = claims_for_site[sid]
    return fc


def build_report(data, sites_fc: dict) -> dict:
    """The build report: every source's rows, records and rejected rows, the sites and the matching report."""
    sources = {}
    for slug, rr in sorted(data.reads.items()):
        sources[slug] = {
            "rows": int(rr.rows),
            "records": int(len(rr.records)),
            "rejected": export.jsonable(rr.rejected),
            "notes": export.jsonable(rr.notes),
        }
    for slug, stats in sorted(data.scene_stats.items()):
        sources[slug] = stats
    for slug, stats in sorted(data.annotations.get("source_stats", {}).items()):
        sources[slug] = stats
    feats = sites_fc["features"]
    by_kind: dict[str, int] = {}
    multi = 0
    for f in feats:
        p = f["properties"]
        by_kind[p["kind"]] = by_kind.get(p["kind"], 0) + 1
        if len({r["source"] for r in p["records"]}) >= 2:
            multi += 1
    return export.jsonable({
        "map": data.spec["name"],
        "sources": sources,
        "sites": len(feats),
        "sites_by_kind": by_kind,
        "sites_multi_source": multi,
        "matching": data.reconciled.report,
        "annotations": data.annotations.get("report", {}),
    })


def page_payload(data, sites_fc: dict | None = None) -> dict:
    """The dict `render.render_map` turns into the page: `page.build_payload` over the build's outputs."""
    from . import page
    from .layers import LayerError

    try:
        return page.build_payload(
            data.spec, sources=data.sources, sites=sites_fc if sites_fc is not None else site_collection(data),
            claims=data.annotations["claims"], citations=data.annotations["csl"], tiles=data.tiles,
            scene_detail=data.scenes_detail, scene_geoms=data.scene_geoms, rasters=data.rasters,
            record_urls=data.record_urls, review=export.jsonable(data.reconciled.report.get("to_review") or []))
    except LayerError as exc:
        raise BuildError(f"maps/{data.spec['name']}.yaml: {exc}") from None


def write_outputs(data, out: Path, basemap: str, csv_raw: bool = False) -> dict:
    """Write every output file of the map into ``out`` (an empty folder); return the build report.

    ``csv_raw``: write the CSVs' text cells as the sources give them, without the formula neutralisation."""
    from .footprints import imagery
    from .render import render_embed, render_map

    spec = data.spec
    fc = site_collection(data)
    ann = data.annotations
    types = {n: f.type for n, f in vocabulary(spec).items()}
    export.write_json(export.with_intervals(fc, types), out / "sites.geojson")  # dates with their intervals
    sourced = data.site_value_fields()
    export.write_csv(export.sites_csv_rows(fc["features"], sourced), out / "sites.csv",
                     export.sites_csv_fields(sourced), raw=csv_raw)
    export.write_csv(export.records_csv_rows(data.reconciled.records), out / "records.csv",
                     export.RECORDS_CSV_FIELDS, raw=csv_raw)
    export.write_json(data.sources, out / "sources.json")
    export.write_json(ann["geojson"], out / "annotations.geojson")
    export.write_json(ann["csl"], out / "citations.json")

    coverage = {"tiles": {f["properties"]["site_id"]: f["properties"]["imagery"] for f in fc["features"]}}
    detail = data.scenes_detail
    if detail is not None and len(detail) > imagery.DETAIL_JSON_MAX_ROWS:
        # a large harvest: the (site, scene) pairs go to Parquet; coverage.json says where
        imagery.write_detail_parquet(detail, out / "coverage.parquet")
        coverage["scenes_file"] = {"path": "coverage.parquet", "rows": int(len(detail))}
    elif detail is not None:
        coverage["scenes"] = export.jsonable(detail.to_dict(orient="records"))
    export.write_json(coverage, out / "coverage.json")
    report = build_report(data, fc)
    export.write_json(report, out / "build-report.json")

    payload = page_payload(data, fc)
    (out / "index.html").write_text(render_map(payload, basemap=basemap), encoding="utf-8", newline="\n")
    (out / "embed.html").write_text(render_embed(spec["title"], "index.html"), encoding="utf-8", newline="\n")
    return report
