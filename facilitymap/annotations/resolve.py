"""Resolve claim targets against the sites: which sites a claim is about, and where to draw it.

Targets: `sites` (site ids or "<source-slug>:<record_id>"), `area` ({county: name}, matched to the sites' county
through the map's place-name table (`facilitymap.places`, given as `canonical`), so "Shufu" finds "Konasheher"),
`geometry`, or "map".
An area claim is never drawn as if it were about one facility: without its own geometry it is drawn at the sites
of the area and marked `level: "area"`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

from facilitymap.errors import SourceError

from .model import ClaimSet, structure_problems
from .csl import claim_works, reference_text, work_fields, work_id


def _default_canonical() -> Callable[[str], Any]:
    """Without a place table: names compared normalised (case, accents, punctuation)."""
    from facilitymap.places import normalise

    return normalise


def _county_key(canonical: Callable, name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return None
    key = canonical(name)
    return key if key else name.strip().casefold()


def _cell(value):
    """A DataFrame cell as plain data: NaN/None -> None."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class SiteIndex:
    """Lookups over the sites and records GeoDataFrames that target resolution needs."""

    def __init__(self, sites, records=None, canonical: Callable | None = None):
        self.canonical = canonical or _default_canonical()
        self.site_ids: list[str] = [str(s) for s in sites["site_id"]]
        self.points: dict[str, tuple[float, float]] = {}
        self.by_county: dict[str, list[str]] = {}
        self.record_site: dict[tuple[str, str], str] = {}
        has_lonlat = "lon" in sites.columns and "lat" in sites.columns
        for i, sid in enumerate(self.site_ids):
            row = sites.iloc[i]
            lon = _cell(row["lon"]) if has_lonlat else None
            lat = _cell(row["lat"]) if has_lonlat else None
            if lon is None or lat is None:
                p = row.geometry.representative_point()
                lon, lat = p.x, p.y
            self.points[sid] = (round(float(lon), 6), round(float(lat), 6))
            key = _county_key(self.canonical, _cell(row.get("county")))
            if key:
                self.by_county.setdefault(key, []).append(sid)
            for rec in _cell(row.get("records")) or []:
                self.record_site[(str(rec["source"]), str(rec["record_id"]))] = sid
        self.known_records: set[tuple[str, str]] = set(self.record_site)
        self.sources: set[str] = {s for s, _ in self.known_records}
        if records is not None and len(records):
            pairs = zip(records["source"].astype(str), records["record_id"].astype(str))
            self.known_records |= set(pairs)
            self.sources |= set(records["source"].astype(str))
            if "site_id" in records.columns:
                for (src, rid), sid in zip(pairs_of(records), records["site_id"]):
                    if _cell(sid) is not None:
                        self.record_site.setdefault((src, rid), str(sid))
        self._ids = set(self.site_ids)

    def has_site(self, site_id: str) -> bool:
        return site_id in self._ids

    def county_sites(self, name: str) -> list[str]:
        return sorted(self.by_county.get(_county_key(self.canonical, name), []))


def pairs_of(records) -> Iterable[tuple[str, str]]:
    return zip(records["source"].astype(str), records["record_id"].astype(str))


def _site_ref(ref: str, index: SiteIndex) -> tuple[str | None, str | None]:
    """(site_id, problem) for one entry of `target.sites`."""
    if index.has_site(ref):
        return ref, None
    if ":" in ref:
        slug, rid = ref.split(":", 1)
        if (slug, rid) in index.record_site:
            return index.record_site[(slug, rid)], None
        if (slug, rid) in index.known_records:
            return None, f"record '{ref}' exists but belongs to no site"
        if slug not in index.sources:
            return None, f"target '{ref}': no source '{slug}' among the sites' records"
        return None, f"target '{ref}': source '{slug}' has no record '{rid}'"
    return None, f"target '{ref}' is not a site id (and not '<source-slug>:<record_id>')"


def target_problems(cs: ClaimSet, index: SiteIndex) -> list[SourceError]:
    """Targets that do not resolve: unknown site ids or records, counties with no site and no geometry."""
    errors = []
    for i, claim in enumerate(cs.claims):
        target = claim.get("target") if isinstance(claim, dict) else None
        if not isinstance(target, dict):
            continue
        if isinstance(target.get("sites"), list):
            for j, ref in enumerate(target["sites"]):
                if isinstance(ref, str):
                    _, problem = _site_ref(ref, index)
                    if problem:
                        errors.append(cs.error(("claims", i, "target", "sites", j), problem))
        area = target.get("area")
        if isinstance(area, dict) and isinstance(area.get("county"), str) and "geometry" not in area:
            if not index.county_sites(area["county"]):
                errors.append(cs.error(("claims", i, "target", "area", "county"),
                                       f"county '{area['county']}' matches no site's county (through the alias "
                                       "table) and the area has no geometry of its own"))
    return errors


def claim_problems(cs: ClaimSet, sites=None, records=None, *, canonical: Callable | None = None,
                   index: SiteIndex | None = None) -> list[SourceError]:
    """Every problem in a claim set: its shape, and (given the sites) whether its targets resolve."""
    errors = structure_problems(cs)
    if index is None and sites is not None:
        index = SiteIndex(sites, records, canonical)
    if index is not None:
        errors += target_problems(cs, index)
    return errors


def validate_claims(cs: ClaimSet, sites=None, records=None, *, canonical: Callable | None = None) -> None:
    """Raise the first problem of `claim_problems` as a SourceError (file, line, claim id); None when clean."""
    raise_first(claim_problems(cs, sites, records, canonical=canonical))


def raise_first(errors: list[SourceError]) -> None:
    """Raise the first error, its message counting the others; nothing when the list is empty."""
    if not errors:
        return
    first = errors[0]
    if len(errors) > 1:
        more = len(errors) - 1
        first = SourceError(first.path, first.line, f"{first.problem} (and {more} more "
                                                    f"problem{'s' if more > 1 else ''}: run `facilitymap validate`)")
    raise first


def duplicate_ids(claim_sets: list[ClaimSet]) -> list[SourceError]:
    """Claim ids used in more than one claims source (ids are unique across a map)."""
    seen: dict[str, ClaimSet] = {}
    errors = []
    for cs in claim_sets:
        for i, claim in enumerate(cs.claims):
            cid = claim.get("id") if isinstance(claim, dict) else None
            if not isinstance(cid, str):
                continue
            other = seen.get(cid)
            if other is not None and other is not cs:
                errors.append(cs.error(("claims", i, "id"), f"id is also used in {other.path}"))
            seen.setdefault(cid, cs)
    return errors


def _points_geometry(site_ids: list[str], index: SiteIndex) -> dict | None:
    pts = [list(index.points[s]) for s in site_ids]
    if not pts:
        return None
    if len(pts) == 1:
        return {"type": "Point", "coordinates": pts[0]}
    return {"type": "MultiPoint", "coordinates": pts}


def _sites_in(geom: dict, index: SiteIndex) -> list[str]:
    from shapely.geometry import Point, shape
    from shapely.prepared import prep

    g = prep(shape(geom))
    return sorted(s for s, (x, y) in index.points.items() if g.covers(Point(x, y)))


def numbered_citations(cs: ClaimSet, claim: dict) -> list[dict]:
    """The claim's citations numbered from 1: CSL item id, plain-text reference, the work's display fields
    (title, author, publisher, published, url, ...) and the citation's own locator, quote and note."""
    out = []
    for n, (cit, work_key, work) in enumerate(claim_works(cs, claim), start=1):
        item = {"n": n, "id": work_id(cs.slug, work_key), "reference": reference_text(work), **work_fields(work)}
        for k in ("locator", "quote", "note"):
            if cit.get(k) not in (None, ""):
                item[k] = str(cit[k])
        out.append(item)
    return out


def area_name(county: str, label: Callable | None = None) -> str:
    """A reader's name for a county: 'Konasheher (Shufu) County' from the place table's `label`, else as written."""
    return label(county) if label is not None else county


def resolve_claims(claim_sets: ClaimSet | list[ClaimSet], sites, records=None, *,
                   canonical: Callable | None = None, place_label: Callable | None = None) -> list[dict]:
    """Validated, resolved claims (sorted by id), ready for the page and annotations.geojson.

    Each: id, text, date/period, category, status, generated (False), source (slug), target_kind and level
    (site | area | geometry | map), site_ids, area (name as written) or None, drawn_at (sites | area | geometry |
    None), geometry (GeoJSON or None for map-level), citations [{n, id, reference, url?, archived_url?, locator?,
    quote?, note?}]. Raises SourceError on the first problem (see `validate_claims`).
    """
    if isinstance(claim_sets, ClaimSet):
        claim_sets = [claim_sets]
    index = SiteIndex(sites, records, canonical)
    for cs in claim_sets:
        raise_first(claim_problems(cs, index=index))
    raise_first(duplicate_ids(claim_sets))
    out = []
    for cs in claim_sets:
        for claim in cs.claims:
            out.append(_resolve_one(cs, claim, index, place_label))
    return sorted(out, key=lambda c: c["id"])


def _resolve_one(cs: ClaimSet, claim: dict, index: SiteIndex, place_label: Callable | None = None) -> dict:
    target = claim["target"]
    res: dict[str, Any] = {
        "id": claim["id"],
        "text": claim["text"].strip(),
        "status": claim["status"],
        "category": claim.get("category"),
        "generated": False,
        "source": cs.slug,
        "area": None,
    }
    for k in ("date", "period"):
        if k in claim:
            res[k] = str(claim[k])
    if target == "map":
        kind, site_ids, geom, drawn = "map", [], None, None
        norm: Any = "map"
    elif "sites" in target:
        site_ids = sorted({_site_ref(ref, index)[0] for ref in target["sites"]})
        kind, geom, drawn = "site", _points_geometry(site_ids, index), "sites"
        norm = {"type": "site", "site_ids": site_ids}
    elif "area" in target:
        area = target["area"]
        kind = "area"
        res["area"] = area["county"]
        site_ids = index.county_sites(area["county"])
        norm = {"type": "area", "county": area["county"], "name": area_name(area["county"], place_label)}
        if "geometry" in area:
            geom, drawn = area["geometry"], "area"
        else:
            geom, drawn = _points_geometry(site_ids, index), "sites"
    else:
        kind, geom, drawn = "geometry", target["geometry"], "geometry"
        site_ids = _sites_in(geom, index)
        norm = {"type": "geometry"}
    res.update(target=norm, target_kind=kind, level=kind, site_ids=site_ids, geometry=geom, drawn_at=drawn,
               citations=numbered_citations(cs, claim))
    return res


def claims_for_site(resolved: list[dict]) -> dict[str, list[str]]:
    """{site_id: [claim ids]} for every site a claim applies to (site, area and geometry claims)."""
    out: dict[str, list[str]] = {}
    for c in resolved:
        for sid in c["site_ids"]:
            out.setdefault(sid, []).append(c["id"])
    return {sid: sorted(ids) for sid, ids in sorted(out.items())}


def annotations_geojson(resolved: list[dict]) -> dict:
    """annotations.geojson: one Feature per claim (geometry null for map-level claims), sorted by id."""
    feats = []
    for c in sorted(resolved, key=lambda c: c["id"]):
        props = {k: v for k, v in c.items() if k != "geometry"}
        feats.append({"type": "Feature", "id": c["id"], "geometry": c["geometry"], "properties": props})
    return {"type": "FeatureCollection", "features": feats}
