"""Machine-made claims where the datasets disagree about a site, each citing every dataset involved.

Two kinds, both `category: "dataset-disagreement"`, `status: "reported"`, `generated: true`:

- location: the site's records are more than `distance_m` apart (from the site's `disagreements`, field
  "location"); the text gives each dataset's coordinates and the distance.
- tier-status: ASPI's tier and BuzzFeed's status do not fit, by the table `TIER_STATUS_MISFITS` below. It is
  deliberately narrow: only a status saying the compound is closed against a tier 3-4 (high-security) facility,
  and only when no dataset records desecuritisation or decommissioning that would explain it. Everything else
  (e.g. "Pre-2016 programme", "detention centre", the "Satellite - weak/medium/strong" confidence levels) describes
  a different property than the tier and is not a disagreement.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from .csl import source_info

CATEGORY = "dataset-disagreement"

#: BuzzFeed status (normalised: lower case, dashes as "-") -> ASPI tiers it does not fit.
TIER_STATUS_MISFITS: dict[str, frozenset[int]] = {
    "closed": frozenset({3, 4}),
    "probably closed": frozenset({3, 4}),
}
#: Attributes that, when any dataset gives a true value (or, for text, any non-empty text), explain a closure:
#: then no claim is generated.
EXPLAINING_FIELDS = ("desecuritisation", "decommissioning", "decommissioning_signs")

TIER_SCALE = "on ASPI's scale from 1 (lowest security) to 4 (prisons)"


def _plain(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def _norm_status(v: Any) -> str:
    return " ".join(str(v).replace("\u2013", "-").replace("\u2014", "-").casefold().split())


def _tier(v: Any) -> int | None:
    try:
        t = int(float(v))
    except (TypeError, ValueError):
        return None
    return t if 1 <= t <= 4 else None


def _truthy(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
        return v != 0
    text = str(v).strip().casefold()
    return text not in ("", "0", "no", "false", "n", "none", "nan")


def _values(site, field: str) -> list[dict]:
    """Every value a dataset gives for `field`: from `attributes`, else the reconciled column and its source."""
    attrs = _plain(site.get("attributes")) or {}
    vals = attrs.get(field)
    if vals:
        return [v for v in vals if _plain(v.get("value")) is not None]
    v = _plain(site.get(field))
    src = _plain(site.get(f"{field}_source"))
    return [{"value": v, "source": src, "record_id": None}] if v is not None and src else []


class _Cite:
    """Builds the numbered citations of one generated claim (one per dataset, listing its records)."""

    def __init__(self, infos: dict[str, dict]):
        self.infos = infos
        self.records: dict[str, list[str]] = {}

    def add(self, slug: str, record_id: Any) -> None:
        ids = self.records.setdefault(slug, [])
        if record_id is not None and str(record_id) not in ids:
            ids.append(str(record_id))

    def title(self, slug: str) -> str:
        return self.infos.get(slug, {}).get("title") or slug

    def citations(self) -> list[dict]:
        out = []
        for n, slug in enumerate(sorted(self.records), start=1):
            info = self.infos.get(slug, {"slug": slug, "title": slug})
            ref = f"{info.get('publisher') or ''}, \u201c{info.get('title') or slug}\u201d (dataset)".lstrip(", ")
            if info.get("retrieved"):
                ref += f", retrieved {info['retrieved']}"
            c = {"n": n, "id": slug, "reference": ref, "source": slug, "type": "dataset",
                 "title": info.get("title") or slug}
            if info.get("publisher"):
                c["publisher"] = info["publisher"]
            if info.get("retrieved"):
                c["retrieved"] = info["retrieved"]
            if info.get("url") and str(info["url"]).lower().startswith(("http://", "https://")):
                c["url"] = info["url"]
            ids = self.records[slug]
            if ids:
                c["locator"] = ("record " if len(ids) == 1 else "records ") + ", ".join(ids)
            out.append(c)
        return out


def _record_points(records) -> dict[tuple[str, str], tuple[float, float, str]]:
    """(source, record_id) -> (lon, lat, geometry type) of each record's representative point."""
    out = {}
    if records is None or not len(records):
        return out
    for src, rid, geom in zip(records["source"].astype(str), records["record_id"].astype(str), records.geometry):
        if geom is None or geom.is_empty:
            continue
        p = geom if geom.geom_type == "Point" else geom.representative_point()
        out[(src, rid)] = (p.x, p.y, geom.geom_type)
    return out


def _site_claim(site_id: str, kind: str, text: str, point, cite: _Cite) -> dict:
    return {
        "id": f"generated-{kind}-{site_id}",
        "text": text,
        "status": "reported",
        "category": CATEGORY,
        "generated": True,
        "source": None,
        "area": None,
        "target": {"type": "site", "site_ids": [site_id]},
        "target_kind": "site",
        "level": "site",
        "site_ids": [site_id],
        "geometry": {"type": "Point", "coordinates": [round(point[0], 6), round(point[1], 6)]},
        "drawn_at": "sites",
        "citations": cite.citations(),
    }


def _where(v: dict, rec_pts: dict) -> str:
    p = rec_pts.get((str(v["source"]), str(v.get("record_id"))))
    if p is None:
        val = v.get("value")
        if isinstance(val, (list, tuple)) and len(val) == 2:  # reconcile gives [lon, lat]
            p = (float(val[0]), float(val[1]), "Point")
        else:
            return str(val)
    where = f"latitude {p[1]:.6f}, longitude {p[0]:.6f}"
    return where if p[2] == "Point" else f"an outline centred near {where}"


def _location_claim(site, sid, point, infos, rec_pts, distance_m) -> dict | None:
    """One claim per site listing every point more than `distance_m` from the site's primary record."""
    primary = None
    far: list[tuple[dict, float]] = []
    for d in _plain(site.get("disagreements")) or []:
        vals = [v for v in d.get("values") or [] if v.get("source")]
        dist = _plain(d.get("distance_m"))
        if d.get("field") != "location" or len(vals) < 2 or dist is None or float(dist) <= distance_m:
            continue
        primary = primary or vals[0]
        far.append((vals[1], float(dist)))
    if primary is None:
        return None
    cite = _Cite(infos)
    cite.add(str(primary["source"]), primary.get("record_id"))

    def label(v):
        rid = f" (record {v['record_id']})" if v.get("record_id") is not None else ""
        return f"{cite.title(str(v['source']))}{rid}"

    parts = [f"{label(primary)} gives {_where(primary, rec_pts)}"]
    for v, dist in far:
        cite.add(str(v["source"]), v.get("record_id"))
        parts.append(f"{label(v)} gives {_where(v, rec_pts)}, {int(round(dist)):,} m away")
    top = max(dist for _, dist in far)
    text = (f"The datasets place this site's points up to {int(round(top)):,} m apart (more than "
            f"{distance_m:g} m): " + "; ".join(parts) + ".")
    return _site_claim(sid, "location", text, point, cite)


def _tier_status_claim(site, sid, point, infos) -> dict | None:
    tiers = [(v, _tier(v["value"])) for v in _values(site, "tier")]
    statuses = [(v, _norm_status(v["value"])) for v in _values(site, "status")]
    for field in EXPLAINING_FIELDS:
        if any(_truthy(v["value"]) for v in _values(site, field)):
            return None
    for sv, status in statuses:
        bad_tiers = TIER_STATUS_MISFITS.get(status)
        if not bad_tiers:
            continue
        clashing = [(tv, t) for tv, t in tiers if t in bad_tiers]
        if not clashing:
            continue
        cite = _Cite(infos)
        cite.add(str(sv["source"]), sv.get("record_id"))
        srid = f" (record {sv['record_id']})" if sv.get("record_id") is not None else ""
        parts = [f"{cite.title(str(sv['source']))}{srid} gives the status \u201c{sv['value']}\u201d"]
        for tv, t in clashing:
            cite.add(str(tv["source"]), tv.get("record_id"))
            trid = f" (record {tv['record_id']})" if tv.get("record_id") is not None else ""
            parts.append(f"{cite.title(str(tv['source']))}{trid} gives tier {t} {TIER_SCALE}")
        text = ("The datasets do not fit: " + "; ".join(parts) + ". No dataset records desecuritisation or "
                "decommissioning of this site.")
        return _site_claim(sid, "tier-status", text, point, cite)
    return None


def generate_disagreement_claims(sites, records=None, sources: Iterable[Any] = (), *,
                                 distance_m: float = 500) -> list[dict]:
    """Generated claims (same shape as `resolve_claims` output) for location and tier/status disagreements.

    `sources`: registry Sources or sources.json entries, for the titles and links cited. Sorted by id.
    """
    infos = {}
    for s in sources:
        info = source_info(s)
        if info["slug"]:
            infos[info["slug"]] = info
    rec_pts = _record_points(records)
    out = []
    has_lonlat = "lon" in sites.columns and "lat" in sites.columns
    for i in range(len(sites)):
        site = sites.iloc[i]
        sid = str(site["site_id"])
        if has_lonlat and _plain(site["lon"]) is not None and _plain(site["lat"]) is not None:
            point = (float(site["lon"]), float(site["lat"]))
        else:
            p = site.geometry.representative_point()
            point = (p.x, p.y)
        for claim in (_location_claim(site, sid, point, infos, rec_pts, distance_m),
                      _tier_status_claim(site, sid, point, infos)):
            if claim is not None:
                out.append(claim)
    return sorted(out, key=lambda c: c["id"])
