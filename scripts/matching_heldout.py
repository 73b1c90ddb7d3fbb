"""Figures for docs/matching-evaluation.md: the matcher against the publishers' own cross-references.

1. The shipped Xinjiang map (its spec), probabilistic and with the former rules: links per source.
2. Held out: BuzzFeed's July 2021 release (`buzzfeed-2021`) added to the map with no settings at all, measured
   against its own `ASPI 2020 #` column (the crosswalk, measured blind by the build).
3. Held out: `buzzfeed-2020` with its settings removed (no place scheme, no id prefix), measured against the same
   cross-reference carried over by record id: BuzzFeed 2021's citation of record X counts for 2020's record X
   when the two releases put X within 100 m of each other.

Run: PYTHONPATH=. .venv/bin/python scripts/matching_heldout.py   (prints markdown; deterministic)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facilitymap import crosswalks, readers, registry  # noqa: E402
from facilitymap.builder import load_map_spec, match_options  # noqa: E402
from facilitymap.reconcile import haversine_m, reconcile  # noqa: E402

M, V1, BF, OSM, BF21 = ("aspi-xjdp-markers", "aspi-camp-dataset-v1", "buzzfeed-2020", "osm-reeducation-camps",
                        "buzzfeed-2021")


def pairs_with(result, src: str, other: str) -> set:
    by_site: dict[str, list] = {}
    for s, r, sid in zip(result.records["source"], result.records["record_id"], result.records["site_id"]):
        by_site.setdefault(sid, []).append((s, r))
    out = set()
    for recs in by_site.values():
        for s, r in recs:
            if s == src:
                out |= {(f"{s}:{r}", f"{s2}:{r2}") for s2, r2 in recs if s2 == other}
    return out


def score(result, src, target, publisher: set) -> dict:
    matcher = pairs_with(result, src, target)
    citing = {a for a, _ in publisher}
    cited_m = {p for p in matcher if p[0] in citing}
    agreed = matcher & publisher
    return {"publisher": len(publisher), "matcher": len(matcher), "agreed": len(agreed),
            "precision": len(agreed) / len(matcher) if matcher else None,
            "precision_where_cited": len(agreed & cited_m) / len(cited_m) if cited_m else None,
            "recall": len(agreed) / len(publisher) if publisher else None,
            "recall_records": len({a for a, _ in agreed}) / len(citing) if citing else None,
            "missed": sorted(publisher - matcher), "extra_cited": sorted(cited_m - publisher)}


def main() -> None:
    spec = load_map_spec(ROOT / "maps", "xinjiang")
    by_slug = {s.slug: s for s in registry.load_sources(ROOT / "sources")}
    inputs = {s: readers.read_source(by_slug[s]).records for s in (M, V1, BF, OSM, BF21)}

    def run(slugs, opts):
        t = time.perf_counter()
        r = reconcile({s: inputs[s] for s in slugs}, slugs, opts)
        return r, time.perf_counter() - t

    print("## 1. The shipped map\n")
    base = [M, V1, BF, OSM]
    opts = match_options(spec, [by_slug[s] for s in base])
    prob, t_prob = run(base, opts)
    rules_opts = dict(opts, method="rules")
    rules_opts["sources"] = {**opts["sources"],
                             V1: {**opts["sources"][V1], "name_match_m": 1000,
                                  "distance": {"strict_m": 50, "place_m": 50}},
                             BF: {**opts["sources"][BF], "distance": {"strict_m": 300, "place_m": 1000}}}
    rules, t_rules = run(base, rules_opts)
    print("| | probabilistic | rules (before) |\n|---|---|---|")
    for src in (V1, BF, OSM):
        print(f"| {src} rules used | {prob.report['rules'][src]} | {rules.report['rules'][src]} |")
    print(f"| sites | {prob.report['sites']} | {rules.report['sites']} |")
    for a, b in ((V1, M), (BF, M), (BF, V1)):
        pa, pr = pairs_with(prob, a, b), pairs_with(rules, a, b)
        print(f"| {a}↔{b} pairs | {len(pa)} | {len(pr)} (only rules: {sorted(pr - pa)}; "
              f"only probabilistic: {sorted(pa - pr)}) |")
    print(f"| to review | {len(prob.report['to_review'])} | - |")
    print(f"| reconcile seconds | {t_prob:.2f} | {t_rules:.2f} |\n")

    print("## 2. buzzfeed-2021 added blind (no settings), against its `ASPI 2020 #` column\n")
    full = base + [BF21]
    opts21 = match_options(spec, [by_slug[s] for s in full])
    r21, t21 = run(full, opts21)
    for cw in r21.report["crosswalks"]:
        if cw["measured"]:
            print({k: cw[k] for k in ("publisher_pairs", "matcher_pairs", "agreed", "precision",
                                      "precision_where_cited", "recall", "recall_records")})
            for d in cw["disagreements"]:
                a, b = d["records"]
                if d["kind"].startswith("publisher"):
                    print(f"- missed: {a['record_id']} {a['name']!r} ↔ v1 {b['record_id']} {b['name']!r}, "
                          f"{d['distance_m']} m; matcher put {a['record_id']} in {a['site_id']}, "
                          f"v1 {b['record_id']} is in {b['site_id']}")
        else:
            print(f"- {cw['column']}: not measured ({cw['cites']} not shipped), {cw['citing_records']} records cite it")
    print(f"- rules: {r21.report['rules'][BF21]}; same-id links: {r21.report['rules'][BF21].get('same-id', 0)}")
    print(f"- reconcile seconds: {t21:.2f}\n")
    alone, _ = run([M, V1, BF21], match_options(spec, [by_slug[s] for s in (M, V1, BF21)]))
    cw = next(c for c in alone.report["crosswalks"] if c["measured"])
    print("without buzzfeed-2020 and OSM in the map:", {k: cw[k] for k in (
        "publisher_pairs", "matcher_pairs", "agreed", "precision", "precision_where_cited", "recall",
        "recall_records")}, "\n")

    print("## 3. buzzfeed-2020 held out (its settings removed), against 2021's cross-reference by record id\n")
    declared = {BF21: crosswalks.check(BF21, by_slug[BF21].fm["crosswalks"])}
    cited = next(c for c in crosswalks.cited_pairs({BF21: inputs[BF21], V1: inputs[V1]}, declared)
                 if c["measured"])
    pos21 = {str(r): g for r, g in zip(inputs[BF21]["record_id"], inputs[BF21].geometry)}
    pos20 = {str(r): g for r, g in zip(inputs[BF]["record_id"], inputs[BF].geometry)}
    publisher = set()
    for a, b in cited["pairs"]:
        rid = a.split(":", 1)[1]
        if rid in pos20 and float(haversine_m(pos20[rid].x, pos20[rid].y, pos21[rid].x, pos21[rid].y)) <= 100:
            publisher.add((f"{BF}:{rid}", b))
    blind = match_options(spec, [by_slug[s] for s in (M, V1, BF)])
    blind["sources"] = {k: v for k, v in blind["sources"].items() if k != BF}
    held, _ = run([M, V1, BF], blind)
    s = score(held, BF, V1, publisher)
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items() if k not in ("missed",
                                                                                              "extra_cited")})
    print("missed:", s["missed"])
    print("linked against the publisher (cited records only):", s["extra_cited"])
    tuned = score(prob, BF, V1, publisher)
    print("same, shipped spec (probabilistic):", {k: (round(v, 4) if isinstance(v, float) else v)
                                                  for k, v in tuned.items() if k not in ("missed", "extra_cited")})
    ruled = score(rules, BF, V1, publisher)
    print("same, former rules:", {k: (round(v, 4) if isinstance(v, float) else v)
                                  for k, v in ruled.items() if k not in ("missed", "extra_cited")})


if __name__ == "__main__":
    main()
