"""Draw the hand-check sample of docs/matching-evaluation.md from the shipped sources, with the evidence per pair.

Run: .venv/bin/python scripts/matching_sample.py > /tmp/sample.md
The sample is deterministic (ordered by a hash of the record id, not by random numbers). The judgements themselves
are written by hand in docs/matching-evaluation.md; this script only lays out the evidence for them.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facilitymap import places, readers, registry  # noqa: E402
from facilitymap.builder import load_map_spec, match_options  # noqa: E402
from facilitymap.reconcile import haversine_m, point_outline_m, reconcile  # noqa: E402

M, V1, BF, OSM = "aspi-xjdp-markers", "aspi-camp-dataset-v1", "buzzfeed-2020", "osm-reeducation-camps"
PRIORITY = [M, V1, BF, OSM]
SPEC = load_map_spec(ROOT / "maps", "xinjiang")
TABLE = SPEC["places_table"]


def rules_options() -> dict:
    """The former rule-based matcher with its thresholds (docs/matching-evaluation.md, Parts 1 and 2)."""
    opts = match_options(SPEC)
    opts["method"] = "rules"
    opts["sources"] = {**opts["sources"],
                       V1: {**opts["sources"][V1], "name_match_m": 1000, "distance": {"strict_m": 50, "place_m": 50}},
                       BF: {**opts["sources"][BF], "distance": {"strict_m": 300, "place_m": 1000}}}
    return opts


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def main() -> None:
    by_slug = {s.slug: s for s in registry.load_sources(ROOT / "sources")}
    inputs = {s: readers.read_source(by_slug[s]).records for s in PRIORITY}
    r = reconcile(inputs, PRIORITY, rules_options())
    recs = {(row.source, row.record_id): row for row in r.records.itertuples(index=False)}
    outlines = [(row.record_id, row.geometry, row.name, row.attrs) for row in inputs[OSM].itertuples(index=False)]
    sites = {row.site_id: row for row in r.sites.itertuples(index=False)}
    aspi_sites = [s for s in sites.values() if s.kind == "detention" and s.site_id.startswith("aspi")]
    alon = np.array([s.lon for s in aspi_sites])
    alat = np.array([s.lat for s in aspi_sites])

    def shared_outline(p, q, tol=100):
        """OSM outlines within tol metres of both points (independent evidence of one compound)."""
        return [oid for oid, g, _, _ in outlines if point_outline_m(p, g) <= tol and point_outline_m(q, g) <= tol]

    def bf_county(rec):
        return places.head_of_label(rec.name)

    def county_note(bf_rec, site):
        bc = bf_county(bf_rec)
        if not bc or not site.county:
            return "county n/a"
        same = TABLE.canonical(bc, "pinyin") == TABLE.canonical(site.county)
        return f"{bc}{'=' if same else '≠'}{site.county}"

    from shapely.geometry import Point

    # BuzzFeed <-> ASPI matches
    rows = []
    for s in aspi_sites:
        for m in s.match:
            if m["source"] != BF:
                continue
            b = recs[(BF, m["record_id"])]
            sp = Point(s.lon, s.lat)
            rows.append((m, s, b, shared_outline(b.geometry, sp)))
    far = [x for x in rows if x[0]["distance_m"] > 200]
    near = sorted([x for x in rows if x[0]["distance_m"] <= 200], key=lambda x: h(x[0]["record_id"]))
    sample = sorted(far, key=lambda x: x[0]["distance_m"]) + near[: max(0, 25 - len(far))]
    print(f"## BuzzFeed↔ASPI matches ({len(rows)} in all; {len(far)} over 200 m, all taken; the rest by hash)\n")
    print("| # | BuzzFeed | status | site | distance m | county | shared OSM outline |")
    print("|---|---|---|---|---|---|---|")
    for i, (m, s, b, sh) in enumerate(sample, 1):
        print(f"| B{i} | {b.record_id} {b.name!r} | {b.attrs.get('status')} | {s.site_id} {s.name} | "
              f"{m['distance_m']:.0f} | {county_note(b, s)} | {', '.join(sh) or '-'} |")

    # BuzzFeed records that founded their own site, nearest ASPI site within 3 km
    print("\n## BuzzFeed records left unmatched, with an ASPI site within 3 km (all of them)\n")
    print("| # | BuzzFeed | status | nearest ASPI site | distance m | that site's BuzzFeed match (m) | county |"
          " shared OSM outline |")
    print("|---|---|---|---|---|---|---|---|")
    n = 0
    bf_alone = [s for s in sites.values() if s.site_id.startswith("bf-")]
    cand = []
    for s in bf_alone:
        b = recs[(BF, s.records[0]["record_id"])]
        d = haversine_m(b.geometry.x, b.geometry.y, alon, alat)
        i = int(np.argmin(d))
        if d[i] <= 3000:
            cand.append((float(d[i]), b, aspi_sites[i]))
    for d, b, a in sorted(cand, key=lambda x: x[0]):
        n += 1
        other = [(m["record_id"], m["distance_m"]) for m in a.match if m["source"] == BF]
        sh = shared_outline(b.geometry, Point(a.lon, a.lat))
        print(f"| N{n} | {b.record_id} {b.name!r} | {b.attrs.get('status')} | {a.site_id} {a.name} | {d:.0f} | "
              f"{', '.join(f'{x} ({y:.0f})' for x, y in other) or '-'} | {county_note(b, a)} | "
              f"{', '.join(sh) or '-'} |")

    # OSM <-> ASPI matches
    orows = []
    for s in aspi_sites:
        for m in s.match:
            if m["source"] == OSM:
                orows.append((m, s))
    od = [x for x in orows if x[0]["method"] == "outline-distance"]
    oc = sorted([x for x in orows if x[0]["method"] == "containment"], key=lambda x: h(x[0]["record_id"]))
    osample = od + oc[: 15 - len(od)]
    print(f"\n## OSM↔ASPI matches ({len(orows)} in all; outline-distance all taken, containment by hash)\n")
    print("| # | OSM | OSM name | site | method | distance m | county in OSM name? |")
    print("|---|---|---|---|---|---|---|")
    for i, (m, s) in enumerate(osample, 1):
        o = recs[(OSM, m["record_id"])]
        print(f"| O{i} | {o.record_id} | {o.name or (o.attrs or {}).get('name_en') or '-'} | {s.site_id} {s.name} "
              f"({s.county}) | {m['method']} | {m['distance_m']:.0f} | {osm_county(o, s)} |")

    # OSM near non-matches: outlines that founded a site, and sites inside an outline given to another site
    print("\n## OSM↔ASPI near non-matches\n")
    print("| # | OSM | OSM name | ASPI site | distance to outline m | why not linked |")
    print("|---|---|---|---|---|---|")
    k = 0
    for a in r.report["ambiguities"]:
        if a["stage"] != "outline":
            continue
        o = recs[(OSM, a["record_id"])]
        for c in a["candidates"]:
            if c["site_id"] == a.get("chosen"):
                continue
            k += 1
            s = sites[c["site_id"]]
            why = f"outline went to {a['chosen']}" if a.get("chosen") else "site already had a nearer outline"
            print(f"| P{k} | {o.record_id} | {o.name or '-'} | {s.site_id} {s.name} ({s.county}) | "
                  f"{c['distance_m']:.0f} | {why} |")
    for s in aspi_sites:
        if any(m["source"] == OSM for m in s.match):
            continue
        p = Point(s.lon, s.lat)
        for oid, g, name, _ in outlines:
            d = point_outline_m(p, g)
            if 0 < d <= 500 and not any(c.get("site_id") == s.site_id for a in r.report["ambiguities"]
                                        if a["stage"] == "outline" and a["record_id"] == oid
                                        for c in a["candidates"]):
                k += 1
                owner = recs[(OSM, oid)].site_id
                print(f"| P{k} | {oid} | {name or '-'} | {s.site_id} {s.name} ({s.county}) | {d:.0f} | "
                      f"beyond {r.report['thresholds']['outline_m']} m; outline is in {owner} |")


def osm_county(o, s) -> str:
    """Whether the OSM name (hanzi) names the ASPI site's county, through the alias table."""
    e = TABLE.entry(TABLE.canonical(s.county) or "")
    names = " ".join(str(v) for v in [o.name, o.name_zh, o.name_en] if isinstance(v, str))
    if not e or not names.strip():
        return "n/a"
    hz = e["hanzi"]
    base = hz[:-1] if hz.endswith(("县", "市", "区")) else hz
    hits = [x for x in (base, e["pinyin"], e["aspi"]) if x and x in names]
    return "yes (" + hits[0] + ")" if hits else "no"


if __name__ == "__main__":
    main()
