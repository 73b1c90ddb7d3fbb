"""Records to sites: which records of which sources describe the same real-world place.

Sources are taken in priority order. The first source's points found sites; every later point source is linked
onto existing sites by the probabilistic matcher (`linkage.py`: a Fellegi-Sunter model per source pair, estimated
by EM without labels, one-to-one by probability), after the map's forced pairs, same-id links between releases of
one list and publishers' crosswalks (`crosswalks.py`); `match: {method: rules}` keeps the former rule matcher (name,
then distance with place agreement). Outline sources join by containment or distance to the outline. Nothing here
names a source: every per-source setting comes from `options` (the map spec's `match:` and `places:`). Every
decision is counted in the report; links under the review threshold are listed in `to_review`. The reconciled value
of a field comes from the highest-priority source that gives it, and every value stays in `attributes`.
See DESIGN.md "Matching options" and docs/matching-evaluation.md for the measured precision and recall.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import crosswalks, linkage, places

EARTH_RADIUS_M = 6_371_008.8

# General settings. Everything about one source is under `sources: {slug: {...}}` (SOURCE_DEFAULTS); a map spec's
# `match:` block overlays both. See DESIGN.md "match".
DEFAULTS: dict[str, Any] = {
    # slug -> per-source settings (keys of SOURCE_DEFAULTS)
    "sources": {},
    # distance matching of a source that sets none: accepted up to strict_m; up to place_m only if places agree
    "default_distance": {"strict_m": 100, "place_m": 100},
    # a record left over after one-to-one matching, this close to a site that already holds a record of its own
    # source, joins that site (a duplicate listing of one place) instead of founding a new site
    "duplicate_m": 50,
    # an outline joins a site whose point it contains, or else the nearest site point within this distance
    "outline_m": 100,
    # points of one site further apart than this are a `location` disagreement
    "disagreement_m": 100,
    # fields never listed as disagreements: coordinates (compared as `location` instead) and free text, whose
    # wording differs between releases without the facts differing
    "no_disagreement": ["lat", "lon", "description"],
    # sources whose names are compared for disagreements (they share one naming scheme); besides these, every
    # source whose settings say `compare_names: true`
    "compare_names": [],
    # fields holding place names: compared for disagreements through the place table
    "place_fields": ["county", "prefecture"],
    # how point records are matched: "probabilistic" (linkage.py: a Fellegi–Sunter model per source pair, estimated
    # from the data) or "rules" (name and distance thresholds per source, as set under `sources`)
    "method": "probabilistic",
    # probabilistic: a pair is linked from this probability up; linked pairs below `review_below` are listed in
    # the report's `to_review`, as are unlinked records whose best candidate reaches `review_from`
    "accept": 0.5,
    "review_below": 0.9,
    "review_from": 0.1,
    # probabilistic: pairs further apart than this are never compared (metres)
    "block_m": 3000,
    # [{records: ["<slug>:<id>", "<slug>:<id>"], reason: "..."}]: pairs always linked / never linked
    "force": [],
    "forbid": [],
    # {slug: [{column, source, separator}]}: the descriptors' crosswalks (given by the builder)
    "crosswalks": {},
    # kinds of site whose records take part in no matching: each founds a site of its own (e.g. cultural sites
    # listed beside the facilities of a map). Every other kind is matched, whatever it is.
    "standalone_kinds": [],
}
NO_KIND = "site"  # the kind of a record whose source states none

SOURCE_DEFAULTS: dict[str, Any] = {
    "site_id_prefix": None,    # prefix of the ids of sites this source founds; None: "<slug>-"
    "name_match_m": None,      # match equal normalised names up to this many metres apart; None: no name stage
    "distance": None,          # {strict_m, place_m}; None: default_distance
    "place_from_name": False,  # the record's county is the head of its label ("Shufu - I" -> Shufu)
    "place_scheme": None,      # naming scheme of its place names (a scheme of the places table); None: default
    "compare_names": False,    # its names are compared for disagreements
}

# Fields reconciled when the builder gives none (`options["site_fields"]`): the package's name and place roles;
# a map's own fields come from its spec (pipeline.site_level_fields).
SITE_FIELDS = ("name", "name_en", "name_zh", "name_ug", "county", "prefecture")
NAME_FIELDS = ("name", "name_en", "name_zh", "name_ug")
RECORD_TEXT_FIELDS = ("name", "name_en", "name_zh", "name_ug", "county", "prefecture")
LEAD_COLUMNS = ("site_id", "name", "name_en", "name_zh", "name_ug", "kind", "county", "prefecture", "lon", "lat")
TAIL_COLUMNS = ("name_generated", "records", "attributes", "disagreements", "match", "near_outlines")


@dataclass
class Reconciled:
    """Sites, all records with their `site_id`, and the match report."""
    sites: gpd.GeoDataFrame
    records: gpd.GeoDataFrame
    report: dict


@dataclass
class _Rec:
    source: str
    record_id: str
    rank: int  # position of the source in the priority order
    kind: str
    name: str | None
    county: str | None  # place key (places.PlaceTable.canonical)
    geometry: Any
    row: dict

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.record_id)


@dataclass
class _Site:
    site_id: str
    primary: _Rec
    kind: str
    point: Any  # representative shapely Point (None when the record has no geometry)
    members: list[_Rec] = field(default_factory=list)
    match: list[dict] = field(default_factory=list)
    outline: Any = None
    # outlines that contain or touch this site's point but went to a neighbouring site (one outline per site)
    near_outlines: list[dict] = field(default_factory=list)

    def sources(self) -> set[str]:
        return {m.source for m in self.members}

    def county(self) -> str | None:
        for m in sorted(self.members, key=lambda r: r.rank):
            if m.county:
                return m.county
        return None


# --- small helpers -------------------------------------------------------------------------------------------------

def options_with_defaults(options: dict | None) -> dict:
    """DEFAULTS overlaid with `options` (dict values merged one level deep; each source's settings over
    SOURCE_DEFAULTS). `site_fields` and `places` are passed through; unknown keys are an error."""
    options = dict(options or {})
    site_fields = options.pop("site_fields", None)
    places = options.pop("places", None)
    opts = copy.deepcopy(DEFAULTS)
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown matching option(s): {', '.join(unknown)} (known: "
                         f"{', '.join(sorted(set(DEFAULTS) | {'site_fields', 'places'}))})")
    for key, value in options.items():
        if isinstance(value, dict) and isinstance(opts.get(key), dict):
            opts[key] = {**opts[key], **copy.deepcopy(value)}
        else:
            opts[key] = copy.deepcopy(value)
    per_source = {}
    for slug, conf in (opts["sources"] or {}).items():
        bad = sorted(set(conf or {}) - set(SOURCE_DEFAULTS))
        if bad:
            raise ValueError(f"match.sources.{slug}: unknown setting(s) {', '.join(bad)} "
                             f"(known: {', '.join(sorted(SOURCE_DEFAULTS))})")
        per_source[slug] = {**SOURCE_DEFAULTS, **copy.deepcopy(conf or {})}
    opts["sources"] = per_source
    opts["site_fields"] = list(site_fields) if site_fields else list(SITE_FIELDS)
    opts["places"] = places
    return opts


def source_setting(opts: dict, source: str, key: str):
    """One setting of one source (SOURCE_DEFAULTS when the spec gives none)."""
    return opts["sources"].get(source, SOURCE_DEFAULTS).get(key, SOURCE_DEFAULTS[key])


def place_key(opts: dict, name, source: str | None = None) -> str | None:
    """The place key of a county name, read in the source's naming scheme."""
    table = opts.get("places")
    scheme = source_setting(opts, source, "place_scheme") if source else None
    return table.canonical(name, scheme) if table is not None else places.normalise(name)


def name_key(name: Any) -> str | None:
    """A name for exact comparison: case, spaces and punctuation ignored ("Hotan County Facility #1")."""
    if _missing(name):
        return None
    key = re.sub(r"[\W_]+", " ", str(name).casefold()).strip()
    return key or None


def natural_key(text: str) -> tuple:
    """Sort key that orders "2" before "10"."""
    return _natural_key(str(text))


@functools.lru_cache(maxsize=1_000_000)
def _natural_key(text: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p)


def haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres (numpy-broadcasting)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def point_outline_m(point, outline) -> float:
    """Metres from a point to an outline (0 inside), in a local equirectangular plane around the point."""
    lon0, lat0 = point.x, point.y
    kx = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    ky = math.radians(1) * EARTH_RADIUS_M

    def local(coords):
        return np.column_stack([(coords[:, 0] - lon0) * kx, (coords[:, 1] - lat0) * ky])

    return float(shapely.transform(outline, local).distance(shapely.Point(0, 0)))


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(pd.isna(value)) if np.ndim(value) == 0 else False
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """numpy scalars to Python values, so attribute values compare and serialise plainly."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _comparable(fld: str, value: Any, source: str, opts: dict) -> Any:
    """A value as compared for disagreements (the published value is kept as it is): place names through the
    place table; text after NFKC, dash and quote folding, diacritics, case and whitespace (linkage.fold)."""
    if fld in opts["place_fields"]:
        return place_key(opts, linkage.fold(value) if isinstance(value, str) else value, source)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = linkage.fold(value) or ""
        try:
            return float(text)
        except ValueError:
            return text
    return repr(value)


def _site_id(rec: _Rec, opts: dict) -> str:
    prefix = source_setting(opts, rec.source, "site_id_prefix") or f"{rec.source}-"
    return prefix + re.sub(r"[^0-9A-Za-z._-]+", "-", rec.record_id)


def _is_point(geom) -> bool:
    return geom is not None and not geom.is_empty and geom.geom_type == "Point"


def _is_outline(geom) -> bool:
    return geom is not None and not geom.is_empty and geom.geom_type in ("Polygon", "MultiPolygon")


def _round(d: float) -> float:
    return round(float(d), 1)


# --- the matcher ---------------------------------------------------------------------------------------------------

class _Matcher:
    def __init__(self, opts: dict, order: list[str]):
        self.opts = opts
        self.order = order
        self.standalone = {str(k) for k in opts.get("standalone_kinds") or []}
        self.sites: dict[str, _Site] = {}
        self.rules: dict[str, dict[str, int]] = {s: {} for s in order}
        self.ambiguities: list[dict] = []
        self.rejected_names: list[dict] = []
        self.unmatched: dict[str, list[str]] = {s: [] for s in order}
        self.to_review: list[dict] = []
        self.models: dict[str, dict] = {}
        self.overrides: list[dict] = []
        self._features: dict[tuple[str, str], dict] = {}
        self.forced = _pairs_of(opts.get("force") or [], "force")
        self.forbidden = _pairs_of(opts.get("forbid") or [], "forbid")
        self.extra_links: dict[frozenset, dict] = {}  # crosswalk links used as evidence (method `crosswalk`)
        self.ids_of: dict[str, set[str]] = {}  # record ids of each source read so far
        self.releases: set[str] = set()  # "<new> ~ <earlier>": pairs of lists found to be releases of one list

    # bookkeeping
    def count(self, source: str, rule: str) -> None:
        self.rules[source][rule] = self.rules[source].get(rule, 0) + 1

    def found(self, rec: _Rec, rule: str) -> _Site:
        sid = _site_id(rec, self.opts)
        if sid in self.sites:
            raise ValueError(f"two records give the same site id {sid!r} ({rec.source} {rec.record_id})")
        point = rec.geometry if _is_point(rec.geometry) else (
            rec.geometry.representative_point() if _is_outline(rec.geometry) else None)
        site = _Site(sid, rec, rec.kind, point, [rec])
        if _is_outline(rec.geometry):
            site.outline = rec.geometry
        self.sites[sid] = site
        self.count(rec.source, rule)
        if rule == "new-site" and rec.rank > 0:
            self.unmatched[rec.source].append(rec.record_id)
        return site

    def join(self, site: _Site, rec: _Rec, method: str, distance: float, rule: str, **extra) -> None:
        site.members.append(rec)
        site.match.append({"source": rec.source, "record_id": rec.record_id, "method": method,
                           "distance_m": _round(distance), **extra})
        if method in ("containment", "outline-distance"):
            site.outline = rec.geometry
        self.count(rec.source, rule)

    def matchable_sites(self) -> list[_Site]:
        """Sites with a point whose kind takes part in matching (not a standalone kind)."""
        return [s for _, s in sorted(self.sites.items()) if s.kind not in self.standalone and s.point is not None]

    # point sources
    def match_points(self, source: str, recs: list[_Rec]) -> list[_Rec]:
        """Name, distance and duplicate stages; returns the records left for new sites."""
        opts = self.opts
        free = [s for s in self.matchable_sites() if source not in s.sources()]
        if not free or not recs:
            return recs
        lon = np.array([s.point.x for s in free])
        lat = np.array([s.point.y for s in free])
        dist = {r.key: haversine_m(r.geometry.x, r.geometry.y, lon, lat) for r in recs}
        taken: set[str] = set()
        done: set[tuple[str, str]] = set()

        # 1. name
        max_name = source_setting(opts, source, "name_match_m")
        if max_name is not None:
            by_name: dict[str, list[int]] = {}
            for i, s in enumerate(free):
                k = name_key(s.primary.name)
                if k:
                    by_name.setdefault(k, []).append(i)
            pairs = []
            for r in recs:
                cands = by_name.get(name_key(r.name) or "", [])
                for i in cands:
                    d = float(dist[r.key][i])
                    if d <= max_name:
                        pairs.append((d, free[i].site_id, natural_key(r.record_id), r, i))
                    else:
                        self.rejected_names.append({"source": source, "record_id": r.record_id,
                                                    "site_id": free[i].site_id, "name": r.name,
                                                    "distance_m": _round(d), "max_m": max_name})
                if len(cands) > 1:
                    self.ambiguities.append({
                        "source": source, "record_id": r.record_id, "stage": "name",
                        "candidates": [{"site_id": free[i].site_id, "distance_m": _round(dist[r.key][i])}
                                       for i in sorted(cands, key=lambda i: free[i].site_id)],
                        "rule": "same name: pairs taken one-to-one in order of distance"})
            for d, sid, _, r, i in sorted(pairs, key=lambda p: p[:3]):
                if r.key in done or sid in taken:
                    continue
                self.join(free[i], r, "name", d, "name")
                taken.add(sid)
                done.add(r.key)

        # 2. distance, one-to-one, nearest first; beyond strict_m only with county agreement
        cfg = {**opts["default_distance"], **(source_setting(opts, source, "distance") or {})}
        strict, county_m = float(cfg["strict_m"]), float(max(cfg["place_m"], cfg["strict_m"]))
        pairs = []
        eligible: dict[tuple[str, str], list[tuple[float, int, bool | None]]] = {}
        for r in recs:
            if r.key in done:
                continue
            for i in np.flatnonzero(dist[r.key] <= county_m):
                d = float(dist[r.key][i])
                sc = free[i].county()
                agree = None if (not r.county or not sc) else (r.county == sc)
                if d <= strict or agree:
                    eligible.setdefault(r.key, []).append((d, int(i), agree))
                    pairs.append((d, free[i].site_id, natural_key(r.record_id), r, int(i), agree))
        chosen: dict[tuple[str, str], str] = {}
        for d, sid, _, r, i, agree in sorted(pairs, key=lambda p: p[:3]):
            if r.key in done or sid in taken:
                continue
            rule = "distance" if d <= strict else "distance+county"
            self.join(free[i], r, "distance", d, rule, county_agrees=agree)
            taken.add(sid)
            done.add(r.key)
            chosen[r.key] = sid
        for r in recs:
            cands = eligible.get(r.key, [])
            if len(cands) > 1 or (cands and r.key not in chosen):
                self.ambiguities.append({
                    "source": source, "record_id": r.record_id, "stage": "distance",
                    "candidates": [{"site_id": free[i].site_id, "distance_m": _round(d), "county_agrees": a}
                                   for d, i, a in sorted(cands, key=lambda c: (c[0], free[c[1]].site_id))],
                    "chosen": chosen.get(r.key),
                    "rule": ("one-to-one, nearest pair first: joined the nearest candidate still free"
                             if r.key in chosen else
                             "one-to-one, nearest pair first: every candidate was taken by a nearer record")})

        # 3. duplicates: a leftover record on top of a site that already holds a record of this source
        left = []
        dup_m = float(opts["duplicate_m"])
        holders = [s for s in self.matchable_sites() if source in s.sources()]
        for r in recs:
            if r.key in done:
                continue
            best = None
            for s in holders:
                d = float(haversine_m(r.geometry.x, r.geometry.y, s.point.x, s.point.y))
                if d <= dup_m and (best is None or (d, s.site_id) < (best[0], best[1].site_id)):
                    best = (d, s)
            if best is None:
                left.append(r)
                continue
            self._join_duplicate(source, r, *best, dup_m)
        return left

    # point sources, probabilistic
    def features(self, rec: _Rec) -> dict:
        """Comparison features of a record (cached): place key, facility number, rest of the name, folded name."""
        f = self._features.get(rec.key)
        if f is None:
            scheme = source_setting(self.opts, rec.source, "place_scheme")
            f = linkage.features(rec.name, rec.county, self.opts.get("places"), scheme)
            f["lon"], f["lat"] = rec.geometry.x, rec.geometry.y
            self._features[rec.key] = f
        return f

    def match_points_probabilistic(self, source: str, recs: list[_Rec]) -> list[_Rec]:
        """Overrides, same record id, then one Fellegi–Sunter model per earlier source, one-to-one by probability;
        then duplicates. Returns the records left for new sites."""
        opts = self.opts
        free = [s for s in self.matchable_sites() if source not in s.sources()]
        recs = [r for r in recs if _is_point(r.geometry)]
        if not free or not recs:
            return self.match_duplicates(source, recs)
        # every point record already in a candidate site is compared, not just the site's point
        members: dict[str, list[tuple[_Rec, _Site]]] = {}
        for site in free:
            for mem in site.members:
                if mem.kind not in self.standalone and (mem.key in self._features or _is_point(mem.geometry)):
                    members.setdefault(mem.source, []).append((mem, site))
        block = float(opts["block_m"])
        best: dict[tuple, dict] = {}  # (record key, site id) -> the best-scoring pair with a member of the site
        new_df = pd.DataFrame([self.features(r) for r in recs], dtype=object)  # plain objects: fast to iterate
        for other in sorted(members, key=lambda s: self.order.index(s)):
            olds = members[other]
            old_df = pd.DataFrame([self.features(m) for m, _ in olds], dtype=object)
            i, j, d = linkage.candidate_pairs(new_df, old_df, block)
            lv = linkage.levels(new_df.iloc[i].reset_index(drop=True), old_df.iloc[j].reset_index(drop=True), d)
            model = linkage.estimate(lv, block)
            self.models[f"{source} ~ {other}"] = model.as_report()
            prob = model.probability(lv)
            for k in range(len(i)):
                r, (mem, site) = recs[i[k]], olds[j[k]]
                if self._forbidden(r, site):
                    continue
                cand = {"p": float(prob[k]), "d": float(d[k]), "member": mem, "site": site,
                        "levels": {c: int(lv[c][k]) for c in linkage.COMPARISONS}}
                key = (r.key, site.site_id)
                old = best.get(key)
                if old is None or (-cand["p"], cand["d"]) < (-old["p"], old["d"]):
                    best[key] = cand
        taken: set[str] = set()
        done: set[tuple[str, str]] = set()
        by_key = {r.key: r for r in recs}
        # 1. forced pairs, then the same record id a few metres apart (two releases: always), then crosswalks
        site_of_member = {_ref_str(m): site for site in free for m in site.members}
        linked_refs: dict[str, list[str]] = {}
        for pair in list(self.forced) + list(self.extra_links):
            a, b = sorted(pair)
            linked_refs.setdefault(a, []).append(b)
            linked_refs.setdefault(b, []).append(a)

        def linked_by(method: str) -> None:
            for r in recs:
                partners = sorted({site_of_member[x].site_id: site_of_member[x]
                                   for x in linked_refs.get(_ref_str(r), []) if x in site_of_member}.items())
                for _, site in partners:
                    if r.key in done or site.site_id in taken:
                        continue
                    link = self._override(r, site)
                    if link is not None and link["method"] == method:
                        cand = best.get((r.key, site.site_id))
                        d = _point_distance(r, site, link["member"])
                        self.join(site, r, method, d, method, compared_with=_ref(link["member"]), **_scored(cand),
                                  **{k: v for k, v in link.items() if k in ("reason", "cited", "matcher_agrees")})
                        taken.add(site.site_id)
                        done.add(r.key)

        linked_by("forced")
        dup_m = float(opts["duplicate_m"])
        nat = {r.key: natural_key(r.record_id) for r in recs}
        same_id = [(k, c) for k, c in best.items() if c["member"].record_id == k[0][1] and c["d"] <= dup_m]
        # only between releases of one list: most ids the two lists share sit within duplicate_m of each other
        # (two unrelated lists may share a number by chance, rarely at the same place)
        releases = set()
        own_ids = {r.record_id for r in recs}
        for other in members:
            shared = own_ids & self.ids_of.get(other, set())
            close = {k[0][1] for k, c in same_id if c["member"].source == other}
            if close and len(close) >= 0.5 * len(shared):
                releases.add(other)
        self.releases.update(f"{source} ~ {other}" for other in releases)
        same_id = [(k, c) for k, c in same_id if c["member"].source in releases]
        for key, cand in sorted(same_id, key=lambda kv: (kv[1]["d"], kv[0][1], nat[kv[0][0]])):
            r = by_key[key[0]]
            # always: even into a site that already holds a record of this list (a second listing there)
            if r.key in done:
                continue
            self.join(cand["site"], r, "same-id", cand["d"], "same-id", compared_with=_ref(cand["member"]),
                      **_scored(cand))
            taken.add(cand["site"].site_id)
            done.add(r.key)
        linked_by("crosswalk")
        # 2. the model, one-to-one: the most probable pair first (ties: nearer, then ids)
        accept = float(opts["accept"])
        order = sorted(((k, c) for k, c in best.items() if c["p"] >= accept),
                       key=lambda kv: (-round(kv[1]["p"], 9), round(kv[1]["d"], 3), kv[0][1], nat[kv[0][0]]))
        chosen: dict[tuple[str, str], str] = {}
        for key, cand in order:
            r = by_key[key[0]]
            if cand["p"] < accept or r.key in done or cand["site"].site_id in taken:
                continue
            self.join(cand["site"], r, "probabilistic", cand["d"], "probabilistic",
                      compared_with=_ref(cand["member"]), **_scored(cand))
            taken.add(cand["site"].site_id)
            done.add(r.key)
            chosen[r.key] = cand["site"].site_id
            if cand["p"] < float(opts["review_below"]):
                self.to_review.append(self._review(r, cand, linked=True))
        per_rec: dict[tuple[str, str], list[dict]] = {}
        near_miss: dict[tuple[str, str], dict] = {}
        for (rk, _), cand in best.items():
            per_rec.setdefault(rk, []).append(cand)
        for r in recs:
            cands = sorted(per_rec.get(r.key, []), key=lambda c: (-c["p"], c["d"], c["site"].site_id))
            strong = [c for c in cands if c["p"] >= accept]
            if len(strong) > 1 or (strong and r.key not in done):
                self.ambiguities.append({
                    "source": source, "record_id": r.record_id, "stage": "probabilistic",
                    "candidates": [{"site_id": c["site"].site_id, "distance_m": _round(c["d"]),
                                    "probability": round(c["p"], 4)} for c in strong],
                    "chosen": chosen.get(r.key),
                    "rule": ("one-to-one, most probable pair first: joined the most probable candidate still free"
                             if r.key in chosen else
                             "one-to-one, most probable pair first: every candidate was taken by a likelier record")})
            if r.key in done:
                continue
            # a second listing of one facility in one list (a sub-compound under the same name): the likely site
            # already holds a record of this source with the same name
            own = linkage.fold(r.name)
            second = next((c for c in strong if own and any(
                mem.source == source and linkage.fold(mem.name) == own for mem in c["site"].members)), None)
            if second is not None:
                holder = [mem.record_id for mem in second["site"].members
                          if mem.source == source and linkage.fold(mem.name) == own]
                self.join(second["site"], r, "probabilistic", second["d"], "duplicate",
                          compared_with=_ref(second["member"]), second_listing_of=holder, **_scored(second))
                done.add(r.key)
                self.ambiguities.append({
                    "source": source, "record_id": r.record_id, "stage": "duplicate",
                    "candidates": [{"site_id": second["site"].site_id, "distance_m": _round(second["d"]),
                                    "probability": round(second["p"], 4)}], "chosen": second["site"].site_id,
                    "rule": f"the likeliest site already holds {source} record(s) {', '.join(holder)} of the same "
                            "name: joined it as a second listing of the same place"})
                continue
            if cands and cands[0]["p"] >= float(opts["review_from"]):
                near_miss[r.key] = cands[0]
        left = self.match_duplicates(source, [r for r in recs if r.key not in done])
        for r in left:  # founds a site although a candidate was likely enough to look at
            if r.key in near_miss:
                self.to_review.append(self._review(r, near_miss[r.key], linked=False))
        return left

    def _review(self, r: _Rec, cand: dict, linked: bool) -> dict:
        mem = cand["member"]
        return {"source": r.source, "record_id": r.record_id, "site_id": cand["site"].site_id, "linked": linked,
                "probability": round(cand["p"], 4), "distance_m": _round(cand["d"]),
                "evidence": linkage.evidence(cand["p"], cand["d"], cand["levels"]),
                "records": [_side(r), _side(mem)]}

    def _forbidden(self, r: _Rec, site: _Site) -> bool:
        return any(frozenset((_ref_str(r), _ref_str(m))) in self.forbidden for m in site.members)

    def _override(self, r: _Rec, site: _Site) -> dict | None:
        for m in site.members:
            pair = frozenset((_ref_str(r), _ref_str(m)))
            if pair in self.forced:
                return {"method": "forced", "member": m, "reason": self.forced[pair]}
            if pair in self.extra_links:
                return {"method": "crosswalk", "member": m, **self.extra_links[pair]}
        return None

    def match_duplicates(self, source: str, recs: list[_Rec]) -> list[_Rec]:
        """A leftover record on top of a site that already holds a record of this source joins it."""
        left = []
        dup_m = float(self.opts["duplicate_m"])
        holders = [s for s in self.matchable_sites() if source in s.sources()]
        pts = [(m.geometry if m is not None else s.point, s) for s in holders
               for m in ([m for m in s.members if m.source == source and _is_point(m.geometry)] or [None])]
        hx = np.array([p.x for p, _ in pts])
        hy = np.array([p.y for p, _ in pts])
        for r in recs:
            best = None
            if pts:
                dist = haversine_m(r.geometry.x, r.geometry.y, hx, hy)
                for k in np.flatnonzero(dist <= dup_m):
                    d, s = float(dist[k]), pts[k][1]
                    if best is None or (d, s.site_id) < (best[0], best[1].site_id):
                        best = (d, s)
            if best is None:
                left.append(r)
                continue
            self._join_duplicate(source, r, *best, dup_m)
        return left

    def _join_duplicate(self, source: str, r, d: float, s, dup_m: float) -> None:
        """Join a leftover record to the nearby site holding its own source's record: a second listing."""
        holder = [m.record_id for m in s.members if m.source == source]
        self.join(s, r, "distance", d, "duplicate")
        self.ambiguities.append({
            "source": source, "record_id": r.record_id, "stage": "duplicate",
            "candidates": [{"site_id": s.site_id, "distance_m": _round(d)}], "chosen": s.site_id,
            "rule": f"within {dup_m:g} m of a site that already holds {source} record(s) "
                    f"{', '.join(holder)}: joined it as a second listing of the same place"})

    # outline sources
    def match_outlines(self, source: str, recs: list[_Rec]) -> list[_Rec]:
        """Containment, then distance to the outline; one outline per site; returns outlines left over."""
        max_m = float(self.opts["outline_m"])
        cands = [s for s in self.matchable_sites() if s.outline is None]
        if not cands or not recs:
            return recs
        tree = shapely.STRtree([s.point for s in cands])
        pairs = []
        per_outline: dict[tuple[str, str], list[dict]] = {}
        for r in recs:
            geom = r.geometry
            lat_pad = max_m / 111_000 * 1.5
            lon_pad = lat_pad / max(math.cos(math.radians(geom.centroid.y)), 0.1)
            minx, miny, maxx, maxy = geom.bounds
            box = shapely.box(minx - lon_pad, miny - lat_pad, maxx + lon_pad, maxy + lat_pad)
            centroid = geom.centroid
            for i in sorted(tree.query(box)):
                s = cands[int(i)]
                inside = bool(geom.covers(s.point))
                d = 0.0 if inside else point_outline_m(s.point, geom)
                if not inside and d > max_m:
                    continue
                to_centre = float(haversine_m(s.point.x, s.point.y, centroid.x, centroid.y))
                method = "containment" if inside else "outline-distance"
                per_outline.setdefault(r.key, []).append(
                    {"site_id": s.site_id, "method": method, "distance_m": _round(d),
                     "centroid_distance_m": _round(to_centre)})
                pairs.append((0 if inside else 1, d if not inside else to_centre, s.site_id,
                              natural_key(r.record_id), r, s, d, method))
        done: set[tuple[str, str]] = set()
        taken: set[str] = set()
        chosen: dict[tuple[str, str], str] = {}
        for _, _, sid, _, r, s, d, method in sorted(pairs, key=lambda p: p[:4]):
            if r.key in done or sid in taken:
                continue
            self.join(s, r, method, d, method)
            taken.add(sid)
            done.add(r.key)
            chosen[r.key] = sid
        for r in recs:
            c = sorted(per_outline.get(r.key, []), key=lambda x: (x["method"] != "containment",
                                                                  x["centroid_distance_m"], x["site_id"]))
            holder = chosen.get(r.key)
            for cand in c:
                if holder is not None and cand["site_id"] != holder:
                    self.sites[cand["site_id"]].near_outlines.append(
                        {"source": source, "record_id": r.record_id, "site_id": holder, "method": cand["method"],
                         "distance_m": cand["distance_m"]})
            if len(c) > 1 or (c and r.key not in chosen):
                self.ambiguities.append({
                    "source": source, "record_id": r.record_id, "stage": "outline", "candidates": c,
                    "chosen": chosen.get(r.key),
                    "rule": ("one outline per site and one site per outline: sites inside the outline first, "
                             "the one nearest its centroid; the others keep their points")
                    if r.key in chosen else
                    "every candidate site already has an outline nearer to it: this outline founds its own site"})
        return [r for r in recs if r.key not in done]


def _ref(rec: _Rec) -> dict:
    return {"source": rec.source, "record_id": rec.record_id}


def _ref_str(rec: _Rec) -> str:
    return f"{rec.source}:{rec.record_id}"


def _side(rec: _Rec) -> dict:
    """One record of a pair to review, as a person compares it."""
    g = rec.geometry
    return {"source": rec.source, "record_id": rec.record_id, "name": rec.name,
            "county": None if _missing(rec.row.get("county")) else rec.row.get("county"),
            "lon": round(g.x, 6) if _is_point(g) else None, "lat": round(g.y, 6) if _is_point(g) else None}


def _scored(cand: dict | None) -> dict:
    """The model's probability and its evidence in plain words (the comparison levels) of a linked pair (nothing
    when unscored)."""
    if cand is None:
        return {}
    return {"probability": round(cand["p"], 4), "evidence": linkage.evidence(cand["p"], cand["d"], cand["levels"])}


def _point_distance(r: _Rec, site: _Site, member: _Rec) -> float:
    pt = member.geometry if _is_point(member.geometry) else site.point
    if pt is None or not _is_point(r.geometry):
        return 0.0
    return float(haversine_m(r.geometry.x, r.geometry.y, pt.x, pt.y))


def _pairs_of(entries: list, key: str) -> dict[frozenset, str]:
    """force/forbid entries {records: [a, b], reason} as {frozenset((a, b)): reason}."""
    out = {}
    for n, e in enumerate(entries):
        recs = e.get("records") if isinstance(e, dict) else None
        if not (isinstance(recs, list) and len(recs) == 2 and all(isinstance(x, str) and ":" in x for x in recs)):
            raise ValueError(f"match.{key}[{n}]: needs records: [\"<slug>:<id>\", \"<slug>:<id>\"] and a reason")
        if not str(e.get("reason") or "").strip():
            raise ValueError(f"match.{key}[{n}]: needs a reason (it is shown in the build report)")
        out[frozenset(recs)] = str(e["reason"]).strip()
    return out


# --- the public function -------------------------------------------------------------------------------------------

def _records(source: str, rank: int, gdf: gpd.GeoDataFrame, opts: dict) -> list[_Rec]:
    out = []
    derive = bool(source_setting(opts, source, "place_from_name"))
    for row in gdf.to_dict("records"):
        rid = str(row["record_id"])
        kind = NO_KIND if _missing(row.get("kind")) else str(row.get("kind"))
        county = None if _missing(row.get("county")) else row.get("county")
        if county is None and derive:
            county = places.head_of_label(row.get("name"))
            row["_county_from_name"] = county
        name = None if _missing(row.get("name")) else str(row.get("name"))
        out.append(_Rec(source, rid, rank, kind, name,
                        place_key(opts, county, source) if county else None, row.get("geometry"), row))
    return sorted(out, key=lambda r: natural_key(r.record_id))


def _attributes(members: list[_Rec]) -> dict[str, list[dict]]:
    attrs: dict[str, list[dict]] = {}
    for m in members:
        values: dict[str, Any] = {}
        for f in RECORD_TEXT_FIELDS:
            v = m.row.get(f)
            if not _missing(v):
                values[f] = v
        derived = set()
        if "county" not in values and not _missing(m.row.get("_county_from_name")):
            values["county"] = m.row["_county_from_name"]
            derived.add("county")
        for f, v in sorted((m.row.get("attrs") or {}).items()):
            if f not in values and not _missing(v):
                values[f] = v
        for f, v in values.items():
            entry = {"value": _plain(v), "source": m.source, "record_id": m.record_id}
            if f in derived:
                entry["derived_from"] = "name"  # the county part of a label such as "Shufu - I"
            attrs.setdefault(f, []).append(entry)
    return {f: attrs[f] for f in sorted(attrs)}


def _disagreements(site: _Site, attrs: dict, opts: dict) -> list[dict]:
    out = []
    name_sources = set(opts["compare_names"]) | {s for s, c in opts["sources"].items() if c.get("compare_names")}
    skip = set(opts["no_disagreement"])
    for f, entries in attrs.items():
        if f in skip:
            continue
        if f in NAME_FIELDS:
            entries = [e for e in entries if e["source"] in name_sources]
        distinct = []
        for e in entries:
            c = _comparable(f, e["value"], e["source"], opts)
            if c not in distinct:
                distinct.append(c)
        if len(distinct) > 1:
            note = "the sources give different values"
            if f == "county":
                note = "different places after matching spellings through the place-name table"
            out.append({"field": f, "values": entries, "note": note})
    limit = float(opts["disagreement_m"])
    p = site.primary
    if _is_point(p.geometry):
        for m in site.members[1:]:
            if not _is_point(m.geometry):
                continue
            d = float(haversine_m(p.geometry.x, p.geometry.y, m.geometry.x, m.geometry.y))
            if d > limit:
                out.append({"field": "location", "distance_m": _round(d),
                            "values": [{"value": [round(r.geometry.x, 6), round(r.geometry.y, 6)],
                                        "source": r.source, "record_id": r.record_id} for r in (p, m)],
                            "note": f"the two points are {d:,.0f} m apart (more than {limit:g} m)"})
    return out


def reconcile(records_by_source: dict[str, gpd.GeoDataFrame], priority: list[str],
              options: dict | None = None) -> Reconciled:
    """Merge the records of all sources into sites. `priority` orders the sources (first wins a field, founds
    sites, and is matched against by the rest); sources missing from it come after, by slug.

    With crosswalks (options["crosswalks"], from the descriptors) whose cited source is in the map, the matcher
    runs twice: blind, to measure it against each crosswalk (report `crosswalks`), then with the cited pairs as
    links (method `crosswalk`, each saying whether the blind matcher made the same link)."""
    opts = options_with_defaults(options)
    order = [s for s in priority if s in records_by_source]
    order += sorted(s for s in records_by_source if s not in order)
    declared = {slug: crosswalks.check(slug, entries) for slug, entries in sorted((opts["crosswalks"] or {}).items())}
    cws = crosswalks.cited_pairs(records_by_source, declared)
    blind = _reconcile_once(records_by_source, order, opts, {})
    measured = [cw for cw in cws if cw["measured"]]
    if not any(cw["pairs"] for cw in measured):
        blind.report["crosswalks"] = [_crosswalk_report(cw, blind) for cw in cws]
        return blind
    blind_site = {f"{s}:{r}": sid for s, r, sid in zip(blind.records["source"], blind.records["record_id"],
                                                       blind.records["site_id"])}
    links = {}
    for cw in measured:
        for a, b in cw["pairs"]:
            links.setdefault(frozenset((a, b)), {"cited": f"{cw['source']} {cw['column']}",
                                                 "matcher_agrees": blind_site.get(a) == blind_site.get(b)})
    final = _reconcile_once(records_by_source, order, opts, links)
    final.report["crosswalks"] = [_crosswalk_report(cw, blind) for cw in cws]
    final.report["crosswalk_links"] = {
        "used": sum(1 for ms in final.sites["match"] for e in ms if e["method"] == "crosswalk"),
        "matcher_disagrees": sorted(
            ({"site_id": sid, "source": e["source"], "record_id": e["record_id"], "cited": e["cited"]}
             for sid, ms in zip(final.sites["site_id"], final.sites["match"]) for e in ms
             if e["method"] == "crosswalk" and not e["matcher_agrees"]),
            key=lambda x: (x["site_id"], x["source"], natural_key(x["record_id"]))),
    }
    return final


def _crosswalk_report(cw: dict, blind: Reconciled) -> dict:
    """A crosswalk measured against the blind matcher, or listed as not measured (cited source not in the map)."""
    if not cw["measured"]:
        return {"source": cw["source"], "column": cw["column"], "cites": cw["cites"], "measured": False,
                "citing_records": cw["citing_records"],
                "note": f"{cw['cites']} is not a source of this map: the cited ids are kept in the records and "
                        "measured once it is added"}
    recs = blind.records
    site_of = {f"{s}:{r}": sid for s, r, sid in zip(recs["source"], recs["record_id"], recs["site_id"])}
    info, pts = {}, {}
    for s, r, name, geom in zip(recs["source"], recs["record_id"], recs["name"], recs.geometry):
        ref = f"{s}:{r}"
        pt = geom if _is_point(geom) else (geom.representative_point() if geom is not None and not geom.is_empty
                                           else None)
        pts[ref] = pt
        info[ref] = {"source": s, "record_id": str(r), "name": None if _missing(name) else name,
                     "lon": None if pt is None else round(pt.x, 6), "lat": None if pt is None else round(pt.y, 6)}

    def distance(a, b):
        pa, pb = pts.get(a), pts.get(b)
        if pa is None or pb is None:
            return None
        return _round(haversine_m(pa.x, pa.y, pb.x, pb.y))

    return {"measured": True, **crosswalks.measure(cw, site_of, info, distance)}


def _reconcile_once(records_by_source: dict[str, gpd.GeoDataFrame], order: list[str], opts: dict,
                    links: dict) -> Reconciled:
    m = _Matcher(opts, order)
    m.extra_links = links

    all_recs: list[_Rec] = []
    for rank, source in enumerate(order):
        recs = _records(source, rank, records_by_source[source], opts)
        m.ids_of[source] = {r.record_id for r in recs}
        all_recs += recs
        standalone = [r for r in recs if r.kind in m.standalone]
        matched = [r for r in recs if r.kind not in m.standalone]
        points = [r for r in matched if _is_point(r.geometry)]
        outlines = [r for r in matched if _is_outline(r.geometry)]
        other = [r for r in matched if not _is_point(r.geometry) and not _is_outline(r.geometry)]
        for r in standalone:
            m.found(r, "standalone")
        if opts["method"] == "probabilistic":
            left = m.match_points_probabilistic(source, points) if rank > 0 else points
        else:
            left = m.match_points(source, points)
        left = left + m.match_outlines(source, outlines) + other
        for r in sorted(left, key=lambda r: natural_key(r.record_id)):
            m.found(r, "primary" if rank == 0 else "new-site")

    rank_of = {s: i for i, s in enumerate(order)}
    columns_of_sites = [f for f in LEAD_COLUMNS if f not in ("site_id", "kind", "lon", "lat")]
    columns_of_sites += [f for f in opts["site_fields"] if f not in columns_of_sites and f not in ("lon", "lat")]
    site_columns = list(LEAD_COLUMNS) + [f for f in columns_of_sites if f not in LEAD_COLUMNS] + list(TAIL_COLUMNS)
    site_rows, site_of = [], {}
    location_disagreements = []
    for sid, site in sorted(m.sites.items()):
        members = sorted(site.members, key=lambda r: (r.rank, natural_key(r.record_id)))
        site.members = [site.primary] + [r for r in members if r is not site.primary]
        attrs = _attributes(sorted(site.members, key=lambda r: (r.rank, natural_key(r.record_id))))
        dis = _disagreements(site, attrs, opts)
        for d in dis:
            if d["field"] == "location":
                location_disagreements.append({"site_id": sid, "source": d["values"][1]["source"],
                                               "record_id": d["values"][1]["record_id"],
                                               "distance_m": d["distance_m"]})
        row = {"site_id": sid, "kind": site.kind}
        for f in columns_of_sites:
            row[f] = attrs[f][0]["value"] if f in attrs else None
        row["name_generated"] = False
        if row["name"] is None:
            for f in [c for c in columns_of_sites if c.startswith("name_")]:
                if row[f] is not None:
                    row["name"] = row[f]
                    break
            else:
                # Some datasets leave a location unnamed. The site still needs a label; it is ours, not a
                # source's, so it says so and `name_generated` marks it.
                first = site.members[0]
                row["name"] = f"Unnamed site ({first.source} {first.record_id})"
                row["name_generated"] = True
        row["lon"] = None if site.point is None else round(site.point.x, 6)
        row["lat"] = None if site.point is None else round(site.point.y, 6)
        row["records"] = [{"source": r.source, "record_id": r.record_id}
                          for r in sorted(site.members, key=lambda r: (r.rank, natural_key(r.record_id)))]
        row["attributes"] = attrs
        row["disagreements"] = dis
        row["match"] = sorted(site.match, key=lambda x: (rank_of[x["source"]], natural_key(x["record_id"])))
        row["near_outlines"] = sorted(site.near_outlines, key=lambda x: (x["source"], natural_key(x["record_id"])))
        row["geometry"] = site.outline if site.outline is not None else site.point
        site_rows.append(row)
        for r in site.members:
            site_of[r.key] = sid

    # object columns keep values as the sources gave them (an int tier stays an int, a missing one None)
    columns = {c: pd.Series([row[c] for row in site_rows], dtype=object) for c in site_columns}
    columns["lon"] = pd.Series([row["lon"] for row in site_rows], dtype=float)
    columns["lat"] = pd.Series([row["lat"] for row in site_rows], dtype=float)
    sites = gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([row["geometry"] for row in site_rows],
                                                             crs="EPSG:4326"))
    records = _all_records(records_by_source, order, site_of)
    report = _report(m, opts, order, sites, records, location_disagreements)
    return Reconciled(sites=sites, records=records, report=report)


def _all_records(records_by_source: dict, order: list[str], site_of: dict) -> gpd.GeoDataFrame:
    frames = []
    for source in order:
        g = records_by_source[source]
        if len(g) == 0:
            continue
        g = g.copy()
        g["site_id"] = [site_of[(source, str(rid))] for rid in g["record_id"]]
        g["_rank"] = order.index(source)
        g["_id"] = [natural_key(str(r)) for r in g["record_id"]]
        frames.append(g)
    if not frames:
        return gpd.GeoDataFrame({"source": [], "record_id": [], "site_id": []}, geometry=[], crs="EPSG:4326")
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["_rank", "_id"], kind="stable").drop(columns=["_rank", "_id"]).reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")


def _overrides(m: _Matcher, sites) -> list[dict]:
    """Every force/forbid entry of the spec, with its reason and what it did."""
    site_of = {(r["source"], r["record_id"]): sid for sid, recs in zip(sites["site_id"], sites["records"])
               for r in recs}
    out = []
    for kind, pairs in (("force", m.forced), ("forbid", m.forbidden)):
        for pair, reason in sorted(pairs.items(), key=lambda kv: sorted(kv[0])):
            a, b = sorted(pair)
            sa = site_of.get(tuple(a.split(":", 1)))
            sb = site_of.get(tuple(b.split(":", 1)))
            together = sa is not None and sa == sb
            out.append({"override": kind, "records": [a, b], "reason": reason, "sites": [sa, sb],
                        "held": together if kind == "force" else not together})
    return out


def _report(m: _Matcher, opts: dict, order: list[str], sites, records, location_disagreements) -> dict:
    by_kind = {k: int(v) for k, v in sorted(sites["kind"].value_counts().items())}
    n_sources = [len({r["source"] for r in recs}) for recs in sites["records"]]
    multi = {}
    for recs in sites["records"]:
        srcs = sorted({r["source"] for r in recs})
        if len(srcs) > 1:
            multi["+".join(srcs)] = multi.get("+".join(srcs), 0) + 1
    amb_counts: dict[str, int] = {}
    for a in m.ambiguities:
        amb_counts[a["stage"]] = amb_counts.get(a["stage"], 0) + 1
    return {
        "priority": order,
        "thresholds": {k: opts[k] for k in ("default_distance", "duplicate_m", "outline_m", "disagreement_m",
                                            "accept", "review_below", "review_from", "block_m")},
        "source_settings": {s: {k: v for k, v in c.items() if v not in (None, False)}
                            for s, c in sorted(opts["sources"].items())},
        "sites": len(sites),
        "sites_by_kind": by_kind,
        "sites_with_two_or_more_sources": int(sum(1 for n in n_sources if n >= 2)),
        "source_combinations": dict(sorted(multi.items())),
        "records": {s: int((records["source"] == s).sum()) for s in order} if len(records) else {},
        "rules": {s: dict(sorted(v.items())) for s, v in m.rules.items()},
        "unmatched": {s: sorted(v, key=natural_key) for s, v in m.unmatched.items() if v},
        "rejected_name_matches": sorted(m.rejected_names, key=lambda x: (x["source"], natural_key(x["record_id"]))),
        "location_disagreements": sorted(location_disagreements, key=lambda x: (x["site_id"], x["source"],
                                                                                natural_key(x["record_id"]))),
        "method": opts["method"],
        "releases": sorted(m.releases),
        "models": dict(sorted(m.models.items())),
        "to_review": sorted(m.to_review, key=lambda x: (order.index(x["source"]), natural_key(x["record_id"]))),
        "overrides": _overrides(m, sites),
        "ambiguity_counts": dict(sorted(amb_counts.items())),
        "ambiguities": sorted(m.ambiguities, key=lambda x: (order.index(x["source"]), x["stage"],
                                                            natural_key(x["record_id"]))),
    }
