"""The pipeline: read → reconcile → enrich, from a map spec and its checked sources to one `MapData` (no file
written; `outputs` writes the files).

`MapData` holds one copy of the sites: reconcile's GeoDataFrame. What enrichment adds to a site (imagery, claims) is
kept beside it by site id, and `outputs.site_collection` turns the three into sites.geojson's FeatureCollection in
one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from .errors import BuildError
from .fields import vocabulary
from .spec import site_fields

SITE_LAYERS = ("sites", "outlines")  # the layers whose records become sites


@dataclass
class MapData:
    """Everything the outputs of one map need, as plain data."""
    spec: dict
    reads: dict[str, Any]                 # slug -> rows.ReadResult (records, rejected, notes, rows)
    reconciled: Any                       # reconcile.Reconciled: .sites (the one copy of the sites), .records, .report
    imagery: dict[str, dict]              # site_id -> coverage entry (tiles, reference month, links, scenes, rasters)
    annotations: dict                     # annotations.build_annotations(): claims, claims_for_site, geojson, csl ...
    sources: list[dict]                   # sources.json entries
    tiles: dict = field(default_factory=lambda: {"type": "FeatureCollection", "features": []})
    scenes_detail: pd.DataFrame | None = None  # the (site, scene) pairs of the scene coverage join
    scene_stats: dict = field(default_factory=dict)
    scene_geoms: dict = field(default_factory=dict)
    rasters: dict = field(default_factory=dict)
    record_urls: dict = field(default_factory=dict)  # slug -> descriptor's `record_url` template

    @property
    def sites(self) -> gpd.GeoDataFrame:
        return self.reconciled.sites

    def site_value_fields(self) -> list[str]:
        """The fields whose reconciled value each site carries, in sites.csv's order: `name`, the map's declared
        fields, then the place roles (`county`, `prefecture`). Names in other languages have columns of their own."""
        from .fields import ROLES

        carried = [f for f in site_fields(self.spec) if f in self.sites.columns]
        declared = [f for f in carried if f not in ROLES and not f.startswith("name_")]
        return ["name"] + declared + [f for f in ("county", "prefecture") if f in carried]


def assemble(spec: dict, sources: list, scheduler: str | None = None) -> MapData:
    """Read, reconcile and enrich the map's sources (already selected and validated).

    `scheduler`: address of a Dask scheduler; the scene coverage join then runs there over the scene sources'
    GeoParquet (footprints.distributed); without it the join runs in memory.
    """
    from .registry import source_summary

    reads = read_sources(spec, sources)
    rec = reconcile_reads(spec, sources, reads)
    source_summaries = [source_summary(s) for s in sources]
    data = MapData(spec=spec, reads=reads, reconciled=rec, imagery={}, annotations={}, sources=source_summaries,
                   record_urls={s.slug: s.fm["record_url"] for s in sources if s.fm.get("record_url")})
    enrich_imagery(data, sources, scheduler)
    annotate(data, sources)
    return data


def read_sources(spec: dict, sources: list) -> dict:
    """{slug: ReadResult} of every source but claims (read by annotations) and scenes (by footprints.imagery)."""
    from .readers import read_source

    vocab = vocabulary(spec)
    return {s.slug: read_source(s, vocab) for s in sources if s.layer not in ("claims", "scenes")}


def reconcile_reads(spec: dict, sources: list, reads: dict):
    """Sites from the records of the map's sites and outlines sources, in the spec's priority order."""
    from .reconcile import reconcile

    site_slugs = [s.slug for s in sources if s.layer in SITE_LAYERS]
    if not any(len(reads[slug].records) for slug in site_slugs):
        # nothing to put on a map: say which files gave nothing, instead of failing somewhere downstream
        why = "; ".join(f"{s.path}: {reads[s.slug].rows} data row(s), {len(reads[s.slug].rejected)} rejected"
                        for s in sources if s.slug in site_slugs)
        raise BuildError(f"map {spec.get('name')!r} has no sites: " + (why or "none of its sources is a sites or "
                                                                         "outlines layer"))
    # reconcile names the sites no source names, marked `name_generated`
    return reconcile({slug: reads[slug].records for slug in site_slugs}, site_slugs, match_options(spec, sources))


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
    from .fields import ROLES

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
    """A reader's name for a place (the place table's label columns and level: "Northgate (Nordtor) District"),
    or None without a place table."""
    table = spec.get("places_table")
    return table.label if table is not None else None


def place_canonical(spec: dict):
    """The spec's place-name lookup for annotations (None: names compared as written, normalised)."""
    table = spec.get("places_table")
    return table.canonical if table is not None else None


def enrich_imagery(data: MapData, sources: list, scheduler: str | None = None) -> None:
    """Each site's imagery entry: MGRS tiles from the grid, the reference month (the field the spec's
    `imagery_reference_field` names), "search imagery here" links, and harvested scenes and local rasters when a
    scenes source is in the spec (joined in memory, or on a Dask cluster when `scheduler` is given)."""
    from . import export
    from .footprints import coverage as cov
    from .footprints import grid as gridmod

    sites, spec = data.sites, data.spec
    grid_sources = [s for s in sources if s.layer == "grid"]
    site_tiles: dict[str, list[str]] = {}
    if grid_sources:
        grid = data.reads[grid_sources[0].slug].records.rename(columns={"record_id": "tile"})[["tile", "geometry"]]
        site_tiles = gridmod.site_tiles(sites, grid)
        data.tiles = export.feature_collection(gridmod.tiles_for_map(grid, sites))
    ref_field = spec.get("imagery_reference_field")
    refs = {}
    for site in _site_rows(sites, ref_field):
        refs[site["site_id"]] = reference_month(site, ref_field)
    reference_months = {sid: month for sid, (month, _) in refs.items() if month}
    scene_summary, site_rasters = {}, {}
    scene_sources = [s for s in sources if s.layer == "scenes"]
    if scene_sources:
        from .footprints import imagery

        data.rasters = imagery.read_rasters(scene_sources)
        data.scenes_detail, scene_summary, data.scene_stats, data.scene_geoms = imagery.join_scene_sources(
            sites, scene_sources, spec.get("cloud_threshold", 20), reference_months, scheduler=scheduler,
            extra_ids=set(data.rasters))
        site_rasters = imagery.rasters_by_site(data.scenes_detail, data.rasters)
    lons, lats = (export.jsonable(v) for v in sites["lon"]), (export.jsonable(v) for v in sites["lat"])
    for sid, lon, lat in zip(sites["site_id"], lons, lats):
        entry = {
            "s2_tiles": site_tiles.get(sid, []),
            "reference_month": refs[sid][0],
            "reference_source": refs[sid][1],
            "links": cov.imagery_links(lon, lat, refs[sid][0]),
        }
        if sid in scene_summary:
            entry["scenes"] = scene_summary[sid]
        if site_rasters.get(sid):
            entry["rasters"] = site_rasters[sid]
        data.imagery[sid] = entry


def _site_rows(sites: gpd.GeoDataFrame, field: str | None):
    """{site_id, attributes, <field>} per site: what `reference_month` reads."""
    from .export import jsonable

    values = sites[field] if field and field in sites.columns else [None] * len(sites)
    for sid, attrs, value in zip(sites["site_id"], sites["attributes"], values):
        yield {"site_id": sid, "attributes": attrs, **({field: jsonable(value)} if field else {})}


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


def annotate(data: MapData, sources: list) -> None:
    """The claims sources of the spec, and claims generated from disagreements between datasets."""
    from . import annotations as ann

    spec = data.spec
    claim_sources = [s for s in sources if s.layer == "claims"]
    data.annotations = ann.build_annotations(claim_sources, data.sites, data.reconciled.records, data.sources,
                                             distance_m=spec.get("disagreement_distance_m", 500),
                                             rules=spec.get("rules") or (), canonical=place_canonical(spec),
                                             place_label=place_label(spec))
