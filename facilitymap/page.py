"""The page payload: the one dict the map page reads (DESIGN.md, "The page payload"), and its compact form in
the page (one core row per site parsed at start, the rest in lazily parsed detail blocks).

`build_payload` is called by the builder and by the tests' payload factory alike, so the page the tests open is
the page the build makes. `render` only turns a payload into HTML.
"""
from __future__ import annotations

import copy
import json
import re

import pandas as pd
import shapely

from . import layers as layers_mod
from . import timeline
from .footprints.coverage import IMAGERY_LINKS, imagery_links, scene_viewer_template
from .footprints.imagery import referenced_ids

# The page's copy of the sites (see page_sites): these properties are parsed when the page starts (drawing, search,
# filters, list); everything else about a site is parsed when its panel first opens.
CORE = ("site_id", "name", "name_en", "name_zh", "name_ug", "kind", "county", "prefecture", "lon", "lat")
SEARCH_FIELDS = ("name", "name_en", "name_zh", "name_ug", "county", "prefecture")  # attribute values searched too
DETAIL_CHUNK = 500  # sites per lazily parsed detail block
DETAIL_ONLY = ("review",)  # payload keys page_sites moves into the sites' detail blocks (not in fm-data)
FOOTPRINT_DECIMALS = 5  # about 1 m
FOOTPRINT_TOLERANCE = 0.002  # simplification, as a share of the footprint's larger side


# -- the payload -----------------------------------------------------------------------------------------------

def payload_fields(spec: dict) -> dict:
    """{field: {label, type, min?, max?, description?}}: the map's vocabulary (roles + the spec's fields)."""
    from .fields import vocabulary

    out = {}
    for name, f in vocabulary(spec).items():
        entry = {"label": f.label, "type": f.type}
        for k in ("min", "max", "description"):
            v = getattr(f, k, None)
            if v is not None:
                entry[k] = v
        out[name] = entry
    return out


def build_payload(spec: dict, *, sources: list[dict], sites: dict, claims: list | None = None,
                  citations: list | None = None, tiles: dict | None = None, scene_detail: pd.DataFrame | None = None,
                  scene_geoms: dict | None = None, rasters: dict | None = None,
                  record_urls: dict | None = None, fields: dict | None = None,
                  review: list | None = None) -> dict:
    """The page payload from a map spec and the build's outputs.

    sources: sources.json entries; sites: the sites.geojson FeatureCollection; claims/citations: resolved claims
    and CSL-JSON; tiles: the Sentinel-2 tiles FeatureCollection; scene_detail/scene_geoms/rasters: the scene
    coverage join, the footprints it names and the local rasters (absent without a scenes source);
    record_urls: {slug: URL template with "{record_id}"} from the descriptors' `record_url`; review: the build
    report's `matching.to_review` entries (links and near misses under the review threshold), shown in the
    panels of the sites they concern.
    """
    fields = fields if fields is not None else payload_fields(spec)
    site_fc = slim_sites(sites) if scene_detail is not None else sites
    resolved = layers_mod.resolve(spec.get("layers"), site_fc.get("features") or [], fields)
    out_sources = []
    for s in sources:
        url = (record_urls or {}).get(s.get("slug"))
        out_sources.append(dict(s, record_url=url) if url else s)
    payload = {
        "map": {"name": spec.get("name"), "title": spec.get("title"), "description": spec.get("description"),
                "cite_as": spec.get("cite_as"), "about": spec.get("about")},
        "sources": out_sources,
        "fields": fields,
        "layers": layers_mod.public(resolved),
        "sites": site_fc,
        "claims": list(claims or []),
        "citations": list(citations or []),
        "tiles": tiles or {"type": "FeatureCollection", "features": []},
    }
    if review:
        payload["review"] = list(review)
    if scene_detail is not None:
        payload["scenes"] = page_scenes(sites, scene_detail, scene_geoms or {}, rasters or {})
    if spec.get("time"):
        payload["time"] = time_block(spec["time"], site_fc, payload["claims"], out_sources)
    return payload


# -- time ------------------------------------------------------------------------------------------------------

def site_records(props: dict) -> list[dict]:
    """A site's records as timeline reads them ({source, record_id, site_id, attrs}), rebuilt from the site's
    `attributes` (every value every record gives, with its source and record id): the page needs no other input."""
    recs = []
    for r in props.get("records") or []:
        if not isinstance(r, dict):
            continue
        key = (r.get("source"), r.get("record_id"))
        attrs = {}
        for field, values in (props.get("attributes") or {}).items():
            for a in values if isinstance(values, list) else []:
                if isinstance(a, dict) and (a.get("source"), a.get("record_id")) == key and field not in attrs:
                    attrs[field] = a.get("value")
        recs.append({"source": key[0], "record_id": key[1], "site_id": props.get("site_id"), "attrs": attrs})
    return recs


def time_block(time_spec: dict, site_fc: dict, claims: list, sources: list) -> dict:
    """payload["time"]: `timeline.time_payload` over the sites, plus "site_rows" ({site_id: timeline.site_rows}),
    which `page_sites` moves into the sites' detail blocks (parsed when a panel opens; `page_time` drops it from
    the core block)."""
    props = [f.get("properties") or {} for f in site_fc.get("features") or []]
    records = [r for p in props for r in site_records(p)]
    out = timeline.time_payload(time_spec, [{"site_id": p.get("site_id"), "kind": p.get("kind")} for p in props],
                                records, claims)
    titles = {s.get("slug"): s.get("title") or s.get("slug") for s in sources}
    by_id = {c.get("id"): c for c in claims}
    by_site: dict = {}
    for r in records:
        by_site.setdefault(r["site_id"], []).append(r)
    rows = {}
    for p in props:
        sid = p.get("site_id")
        mine = [by_id[c] for c in p.get("claims") or [] if c in by_id]
        r = timeline.site_rows(time_spec, by_site.get(sid, []), mine, titles)
        if r:
            rows[str(sid)] = r
    out["site_rows"] = rows
    return out


def time_tables(time: dict) -> tuple[list[str], dict[str, list]]:
    """(strings, dates) shared by the page's compact time rows: every source, field and label the rows name, sorted,
    and {canonical date: [display text, first day, last day, precision]} of every dated event, so that a site's rows
    name each once per page instead of once per mark."""
    strings, dates_ = set(), {}
    for rows in (time.get("site_rows") or {}).values():
        for row in rows:
            if row.get("source") is not None:
                strings.add(row["source"])
            for mark in (row.get("series") or []) + (row.get("events") or []):
                strings.update(t for t in (mark["label"], mark["field"]) if isinstance(t, str))
            for e in row.get("events") or []:
                dates_[e["date"]] = [e["text"], e["start"], e["end"], e["precision"]]
    return sorted(strings), {k: dates_[k] for k in sorted(dates_)}


def page_time(time: dict) -> dict:
    """payload["time"] as the page's core block carries it (static/js/65-timeline.js expands it): the per-site rows
    left out (they are in the detail blocks, `page_time_rows`), each site's states as two strings, one character
    per year (exists: "1" yes, "0" no, "-" unknown; basis: the rule's index, "-" none), plus the tables of
    `time_tables`."""
    strings, dates_ = time_tables(time)
    out = {k: v for k, v in time.items() if k not in ("site_rows", "sites")}
    out["sites"] = {sid: ["".join("-" if e is None else "1" if e else "0" for e in st["exists"]),
                          "".join("-" if b is None else _base36(b) for b in st["basis"])]
                    for sid, st in (time.get("sites") or {}).items()}
    out["strings"], out["dates"] = strings, dates_
    return out


def _base36(n: int) -> str:
    return "0123456789abcdefghijklmnopqrstuvwxyz"[n]


def page_time_rows(rows: list[dict], strings: list[str]) -> list:
    """One site's `timeline.site_rows` as its detail block carries them: a source's row as [source, series, events]
    with series [[field, label, record id, values]] and events [[date, field, label, record id]] (source, field and
    label as indexes into `page_time`'s "strings"), the claims row as {"claims": [claim id]}; titles and date texts
    come back from the sources and the "dates" table. A series rule's per-year fields (a list) are not compacted."""
    index = {t: i for i, t in enumerate(strings)}
    key = lambda f: index[f] if isinstance(f, str) else f  # noqa: E731
    out = []
    for row in rows:
        if row.get("source") is None and "claims" in row:
            out.append({"claims": [e["claim"] for e in row["claims"]]})
            continue
        out.append([index[row["source"]],
                    [[key(sr["field"]), index[sr["label"]], sr["record_id"], sr["values"]] for sr in row.get("series") or []],
                    [[e["date"], key(e["field"]), index[e["label"]], e["record_id"]] for e in row.get("events") or []]])
    return out


# -- scenes ----------------------------------------------------------------------------------------------------

def slim_summary(summary: dict) -> dict:
    """A site's coverage summary for the page: every scene dict replaced by its id, and each month as
    [scenes, best_cloud, best id] (the page looks scenes up once in payload["scenes"]["items"])."""
    out = copy.deepcopy(summary)
    for k in ("first", "last"):
        if out.get(k):
            out[k] = out[k]["id"]
    for y in out.get("years", {}).values():
        if y.get("best"):
            y["best"] = y["best"]["id"]
    near = out.get("nearest_to_reference")
    if near and near.get("scene"):
        near["scene"] = near["scene"]["id"]
    out["months"] = {m: [v["scenes"], v.get("best_cloud"), v.get("best")] for m, v in out.get("months", {}).items()}
    return out


def slim_sites(fc: dict) -> dict:
    """The sites FeatureCollection for the page: sites.geojson's, with slim scene summaries."""
    feats = []
    for f in fc["features"]:
        im = (f["properties"].get("imagery") or {})
        if not im.get("scenes"):
            feats.append(f)
            continue
        props = dict(f["properties"])
        props["imagery"] = dict(im, scenes=slim_summary(im["scenes"]))
        feats.append(dict(f, properties=props))
    return dict(fc, features=feats)


def footprint_json(geom) -> dict | None:
    """A footprint for the page: simplified by a small share of its size, coordinates rounded (GeoJSON)."""
    if geom is None or geom.is_empty:
        return None
    x0, y0, x1, y1 = geom.bounds
    tol = FOOTPRINT_TOLERANCE * max(x1 - x0, y1 - y0)
    g = shapely.set_precision(shapely.simplify(geom, tol, preserve_topology=True), 10 ** -FOOTPRINT_DECIMALS)
    if g.is_empty:
        g = geom
    mapping = shapely.geometry.mapping(g)
    return json.loads(json.dumps(mapping, allow_nan=False))  # tuples -> lists


def page_scenes(fc: dict, detail: pd.DataFrame, geoms: dict, rasters: dict) -> dict:
    """payload["scenes"] for the scenes the site summaries name, and the local rasters:

    - "items": {id: {collection, datetime, cloud_cover, platform, tile, url, viewer}}, where `viewer` is an index
      into "viewers" (URL templates with "{lat}", "{lon}", "{day}": coverage.VIEWERS) and `url` is either the URL or an index into "urls"
      (templates with "{id}", for the many STAC self links that end in the item id);
    - "footprints": {id: GeoJSON geometry, simplified and rounded};
    - "rasters": {id: {source, datetime, bounds, image (data: URI)}}.
    """
    wanted = set()
    for f in fc["features"]:
        sc = (f["properties"].get("imagery") or {}).get("scenes")
        if sc:
            wanted |= referenced_ids({"": sc})
    wanted |= set(rasters)
    rows = detail[detail["id"].isin(sorted(wanted))].drop_duplicates("id")
    recs = {}
    for r in rows.itertuples(index=False):
        when = None if pd.isna(r.datetime) else r.datetime.strftime("%Y-%m-%dT%H:%M:%SZ")
        recs[str(r.id)] = {"collection": _s(r.collection), "datetime": when,
                           "cloud_cover": None if pd.isna(r.cloud_cover) else round(float(r.cloud_cover), 2),
                           "platform": _s(r.platform), "tile": _s(r.tile), "url": _s(r.url)}
    viewers = sorted({v for v in (scene_viewer_template(rec) for rec in recs.values()) if v})
    urls = sorted({_url_template(i, rec["url"]) for i, rec in recs.items() if _url_template(i, rec["url"])})
    v_index, u_index = {v: k for k, v in enumerate(viewers)}, {u: k for k, u in enumerate(urls)}
    items = {}
    for i, rec in recs.items():
        v, u = scene_viewer_template(rec), _url_template(i, rec["url"])
        items[i] = dict(rec, viewer=v_index.get(v), url=u_index[u] if u else rec["url"])
    footprints = {}
    for i in sorted(items):
        fj = footprint_json(geoms.get(i))
        if fj is not None:
            footprints[i] = fj
    return {"items": items, "footprints": footprints, "viewers": viewers, "urls": urls,
            "rasters": {k: rasters[k] for k in sorted(rasters)}}


def _url_template(scene_id: str, url: str | None) -> str | None:
    """"https://.../items/{id}" when the URL ends with "/<scene id>", else None (the URL is kept whole)."""
    if url and scene_id and url.endswith("/" + scene_id) and "{" not in url:
        return url[: -len(scene_id)] + "{id}"
    return None


def _s(v):
    return None if v is None or pd.isna(v) else str(v)




# -- the page's compact copy of the sites ----------------------------------------------------------------------

def slim_links(props: dict) -> dict | None:
    """{"t": date or None} when a site's imagery links are exactly IMAGERY_LINKS filled at its lon/lat and that
    date (the page fills the same templates), else None (the page keeps the links whole)."""
    im = props.get("imagery") or {}
    links = im.get("links")
    if not isinstance(links, list) or props.get("lon") is None or props.get("lat") is None:
        return None
    if any(str(props[k]).startswith("-0") and float(props[k]) == 0 for k in ("lon", "lat")):
        return None  # -0.000000 in Python, 0.000000 in JavaScript
    dates = []
    for d in (im.get("reference_month"), None):
        if d not in dates and (d is None or (isinstance(d, str) and _LINK_DATE.fullmatch(d))):
            dates.append(d)
    for d in dates:
        try:
            if imagery_links(props["lon"], props["lat"], d) == links:
                return {"t": d}
        except (ValueError, TypeError, IndexError):
            continue
    return None


_LINK_DATE = re.compile(r"[12][0-9]{3}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?")  # dates the page fills alike


def _compact_attributes(attributes: dict, records: list) -> dict:
    """{field: [[value, record index], ...]}: a value given by one of the site's records points to it instead of
    repeating its source and id; any other entry (extra keys, unknown record) stays a whole dict."""
    index = {}
    for j, r in enumerate(records or []):
        if isinstance(r, dict):
            index.setdefault((r.get("source"), r.get("record_id")), j)
    out = {}
    for field, values in attributes.items():
        if not isinstance(values, list):
            out[field] = values
            continue
        vals = []
        for a in values:
            j = index.get((a.get("source"), a.get("record_id"))) if isinstance(a, dict) and set(a) == {
                "value", "source", "record_id"} else None
            vals.append([a["value"], j] if j is not None else a)
        out[field] = vals
    return out


def site_reviews(review: list, features: list) -> dict:
    """{site_id: [to_review entries]}: each entry (build report `matching.to_review`) goes to the site it was scored
    against (`site_id`) and to the site holding its record, with "record_site" (that site's id, or None), so
    both panels say that the link is to be reviewed and point at each other."""
    holder = {}
    for f in features:
        p = f.get("properties") or {}
        for r in p.get("records") or []:
            if isinstance(r, dict):
                holder.setdefault((r.get("source"), str(r.get("record_id"))), p.get("site_id"))
    out: dict = {}
    for e in review:
        if not isinstance(e, dict):
            continue
        own = holder.get((e.get("source"), str(e.get("record_id"))))
        entry = dict(e, record_site=own)
        for sid in dict.fromkeys((e.get("site_id"), own)):
            if sid is not None:
                out.setdefault(sid, []).append(entry)
    return out


def page_sites(payload: dict) -> tuple[dict, list[dict]]:
    """The payload's sites as the page carries them: (core, details).

    core = {"cols", "rows", "slugs", "chunk", "links"}: one row per site with the CORE properties (and the fields
    the layers colour by, when at least half the sites carry them) and "_src"
    (indexes into "slugs" of the sources that list it), "_geom" (null: a Point at lon/lat; 0: no geometry; else the
    geometry), "_alt" (other names and places its sources give, for search), "_layer" (index into payload
    "layers" of the layer drawing its point), "_class" (index into that layer's legend, or null) and "_outline"
    (index of the outline layer drawing its outline, or null). "links" = coverage.IMAGERY_LINKS.
    details[i] = the site's other properties, with attributes compacted (`_compact_attributes`), imagery links
    as {"t": date} when IMAGERY_LINKS filled give them exactly, "~absent" listing CORE keys the site does not have,
    "~feature" any other Feature member and "~review" the payload's `review` entries that concern the site (see
    `site_reviews`). The page script expands a detail to the exact properties (and keeps "~review" beside them).
    """
    resolved = layers_mod.indexed(payload.get("layers") or [])
    features = (payload.get("sites") or {}).get("features") or []
    core_keys = list(CORE)
    for layer in resolved:  # the fields the layers colour by, when most sites carry them: shorter in a row
        cb = layer.get("color_by")
        if cb and cb not in core_keys and 2 * sum(cb in (f.get("properties") or {}) for f in features) >= len(features):
            core_keys.append(cb)
    cols = core_keys + ["_src", "_geom", "_alt", "_layer", "_class", "_outline"]
    slugs: list[str] = []
    slug_index: dict[str, int] = {}
    rows, details = [], []
    reviews = site_reviews(payload.get("review") or [], features)
    time_rows = (payload.get("time") or {}).get("site_rows") or {}
    time_strings = time_tables(payload["time"])[0] if time_rows else []
    for f in features:
        p = f.get("properties") or {}
        attrs = p.get("attributes") if isinstance(p.get("attributes"), dict) else {}
        src = []
        for r in p.get("records") or []:
            slug = r.get("source") if isinstance(r, dict) else None
            if slug not in slug_index:
                slug_index[slug] = len(slugs)
                slugs.append(slug)
            src.append(slug_index[slug])
        g = f.get("geometry")
        if g is None:
            geom = 0
        elif (g.get("type") == "Point" and p.get("lon") is not None and p.get("lat") is not None
              and g.get("coordinates") == [p.get("lon"), p.get("lat")] and len(g) == 2):
            geom = None
        else:
            geom = g
        seen = {json.dumps(p.get(k), sort_keys=True) for k in SEARCH_FIELDS + ("site_id",)}
        alt = []
        for k in SEARCH_FIELDS:
            for a in attrs.get(k) or []:
                v = a.get("value") if isinstance(a, dict) else None
                key = json.dumps(v, sort_keys=True)
                if v not in (None, "") and key not in seen:
                    seen.add(key)
                    alt.append(v)
        layer, cls, outline = layers_mod.assign(resolved, f) if resolved else (None, None, None)
        rows.append([p.get(k) for k in core_keys] + [src, geom, alt or None, layer, cls, outline])

        d = {k: v for k, v in p.items() if k not in core_keys}
        absent = [k for k in core_keys if k not in p]
        if absent:
            d["~absent"] = absent
        extra = {k: v for k, v in f.items() if k not in ("type", "properties", "geometry")}
        if extra:
            d["~feature"] = extra
        if attrs:
            d["attributes"] = _compact_attributes(attrs, p.get("records"))
        links = slim_links(p)
        if links is not None:
            d["imagery"] = dict(p["imagery"], links=links)
        if reviews.get(p.get("site_id")):
            d["~review"] = reviews[p.get("site_id")]
        if str(p.get("site_id")) in time_rows:
            d["~time"] = page_time_rows(time_rows[str(p.get("site_id"))], time_strings)
        details.append(d)
    core = {"cols": cols, "rows": rows, "slugs": slugs, "chunk": DETAIL_CHUNK, "links": IMAGERY_LINKS}
    return core, details
