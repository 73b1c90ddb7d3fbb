"""Machine-made claims where the datasets disagree about a site, each citing every dataset involved.

Two kinds, both `category: "dataset-disagreement"`, `status: "reported"`, `generated: true`:

- location: the site's records are more than `distance_m` apart (from the site's `disagreements`, field
  "location"); the text gives each dataset's coordinates and the distance. Claim id `generated-location-<site>`.
- the map spec's `rules:`: a site where, for every condition of a rule's `when`, some dataset gives the field a
  value in the condition's `in` list, and no dataset gives a true (or non-empty) value to a field of its
  `unless`, gets one claim `generated-<rule id>-<site>` citing each of those values. The package holds no
  such table itself: what does not fit in a domain is the map's knowledge (DESIGN.md, "Generated-annotation
  rules"). Values are compared as text, case, dashes and spacing aside (`3` matches `3` and `3.0`).
"""

from __future__ import annotations

import math
import re
from string import Formatter
from typing import Any, Iterable

from .csl import source_info

CATEGORY = "dataset-disagreement"

#: Keys of one rule under the spec's `rules:`, and of one condition of its `when`.
RULE_KEYS = ("id", "when", "unless", "text")
CONDITION_KEYS = ("field", "in", "says")
DEFAULT_SAYS = "gives \u201c{value}\u201d"
_RULE_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


def _plain(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def _norm(v: Any) -> str:
    """A value as compared by the rules: integral numbers without ".0", text without case, dash or spacing noise."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return " ".join(str(v).replace("\u2013", "-").replace("\u2014", "-").casefold().split())


def _shown(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _truthy(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
        return v != 0
    text = str(v).strip().casefold()
    return text not in ("", "0", "no", "false", "n", "none", "nan")


def _placeholders(text: str) -> set[str] | None:
    try:
        return {name for _, name, _, _ in Formatter().parse(text) if name is not None}
    except ValueError:
        return None


def rule_problems(rules, known_fields: Iterable[str]) -> list[str]:
    """Problems of a spec's `rules:` block, each `rules[i]: problem` (`known_fields`: the map's vocabulary)."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        return ["rules: is not a list of rules ({id, when, unless, text})"]
    known = set(known_fields)
    out, ids = [], set()
    for i, r in enumerate(rules):
        def bad(msg, i=i):
            out.append(f"rules[{i}]: {msg}")

        if not isinstance(r, dict):
            bad("is not a mapping (id, when, unless, text)")
            continue
        unknown = sorted(set(r) - set(RULE_KEYS))
        if unknown:
            bad(f"unknown key(s) {', '.join(map(str, unknown))} (known: {', '.join(RULE_KEYS)})")
        rid = r.get("id")
        if not isinstance(rid, str) or not _RULE_ID.fullmatch(rid):
            bad(f"id {rid!r} is not lower-case letters, digits and dashes")
        elif rid == "location" or rid in ids:
            bad(f"id {rid!r} is already taken")
        ids.add(rid)
        when = r.get("when")
        if not isinstance(when, list) or not when:
            bad("when: needs a list of conditions ({field, in, says})")
            when = []
        for j, c in enumerate(when):
            if not isinstance(c, dict):
                bad(f"when[{j}]: is not a mapping (field, in, says)")
                continue
            unknown = sorted(set(c) - set(CONDITION_KEYS))
            if unknown:
                bad(f"when[{j}]: unknown key(s) {', '.join(map(str, unknown))} (known: {', '.join(CONDITION_KEYS)})")
            if c.get("field") not in known:
                bad(f"when[{j}]: field {c.get('field')!r} is not a field of this map")
            if not isinstance(c.get("in"), list) or not c["in"]:
                bad(f"when[{j}]: in: needs a non-empty list of values")
            says = c.get("says", DEFAULT_SAYS)
            names = _placeholders(says) if isinstance(says, str) else None
            if names is None or not names <= {"value"}:
                bad(f"when[{j}]: says: needs text whose only placeholder is {{value}}")
        unless = r.get("unless", [])
        if not isinstance(unless, list):
            bad("unless: needs a list of fields")
        else:
            for f in unless:
                if f not in known:
                    bad(f"unless: field {f!r} is not a field of this map")
        text = r.get("text")
        if not isinstance(text, str) or _placeholders(text) != {"values"}:
            bad("text: needs text with the placeholder {values} (and no other)")
    return out


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


def _rule_claim(rule: dict, site, sid, point, infos) -> dict | None:
    """The claim of one rule for one site, or None when a condition finds no value or an `unless` field holds."""
    for field in rule.get("unless") or ():
        if any(_truthy(v["value"]) for v in _values(site, field)):
            return None
    found = []
    for cond in rule["when"]:
        wanted = {_norm(x) for x in cond["in"]}
        hits = [v for v in _values(site, cond["field"]) if _norm(v["value"]) in wanted]
        if not hits:
            return None
        found.append((cond.get("says", DEFAULT_SAYS), hits))
    cite = _Cite(infos)
    parts = []
    for says, hits in found:
        for v in hits:
            cite.add(str(v["source"]), v.get("record_id"))
            rid = f" (record {v['record_id']})" if v.get("record_id") is not None else ""
            parts.append(f"{cite.title(str(v['source']))}{rid} {says.format(value=_shown(v['value']))}")
    return _site_claim(sid, rule["id"], rule["text"].format(values="; ".join(parts)), point, cite)


def generate_disagreement_claims(sites, records=None, sources: Iterable[Any] = (), *,
                                 distance_m: float = 500, rules: Iterable[dict] = ()) -> list[dict]:
    """Generated claims (same shape as `resolve_claims` output): location disagreements, and the map's `rules`.

    `sources`: registry Sources or sources.json entries, for the titles and links cited. `rules`: the spec's
    `rules:` (checked by `rule_problems`). Sorted by id.
    """
    rules = list(rules or ())
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
                      *(_rule_claim(rule, site, sid, point, infos) for rule in rules)):
            if claim is not None:
                out.append(claim)
    return sorted(out, key=lambda c: c["id"])
