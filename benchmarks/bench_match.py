"""Matching at scale: 100,000 SYNTHETIC records from 5 invented lists, reconciled by the probabilistic matcher.

The world: `--facilities` invented facilities (default 25,000) in a 2,000 x 1,600 km box, grouped in invented
counties with two spellings each (an alias table made here). Each of 5 lists names a seeded 80 % of them, with its
own coordinate noise (5 m to 250 m), its own naming scheme (place spelling, "#5" or "- V" numbering, some unnamed)
and a few second listings (sub-compounds under the same name). The truth is known, so the run also gives
precision and recall per list against the first (pairwise, over the records of each list).

Run (from the repository root): PYTHONPATH=. .venv/bin/python benchmarks/bench_match.py [--facilities 25000]
Prints seconds (reconcile only, the records already in memory) and the figures; writes nothing.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import geopandas as gpd
from shapely.geometry import Point

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facilitymap.places import PlaceTable  # noqa: E402
from facilitymap.reconcile import reconcile  # noqa: E402

LISTS = [  # slug, coordinate noise (m), place spelling column, numbering, share unnamed
    ("synthetic-a", 5, "a", "Facility #{}", 0.0),
    ("synthetic-b", 30, "b", "- {roman}", 0.1),
    ("synthetic-c", 80, "a", "{}", 0.05),
    ("synthetic-d", 150, "b", "Camp {}", 0.2),
    ("synthetic-e", 250, "a", "Facility #{}", 0.3),
]
ROMAN = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI",
         "XVII", "XVIII", "XIX", "XX"]
COLUMNS = ["source", "record_id", "row", "kind", "name", "name_en", "name_zh", "name_ug", "county", "prefecture",
           "attrs", "original", "geometry"]


def world(n_facilities: int, seed: int = 7):
    rng = random.Random(seed)
    n_counties = max(1, n_facilities // 20)
    counties = []
    for c in range(n_counties):
        counties.append({"key": f"county-{c}", "a": f"Aplace{c}", "b": f"Bplace{c}", "basis": "SYNTHETIC",
                         "lon": rng.uniform(75, 95), "lat": rng.uniform(35, 49)})
    facilities = []
    per_county: dict[int, int] = {}
    for f in range(n_facilities):
        c = rng.randrange(n_counties)
        per_county[c] = per_county.get(c, 0) + 1
        lat = counties[c]["lat"] + rng.gauss(0, 0.3)
        lon = counties[c]["lon"] + rng.gauss(0, 0.4)
        facilities.append({"id": f, "county": c, "number": per_county[c], "lon": lon, "lat": lat})
    return counties, facilities


def jitter(rng, lon, lat, metres):
    r = abs(rng.gauss(0, metres))
    a = rng.uniform(0, 2 * math.pi)
    return (lon + r * math.cos(a) / (111_195 * math.cos(math.radians(lat))), lat + r * math.sin(a) / 111_195)


def lists(counties, facilities, seed: int = 11):
    rng = random.Random(seed)
    out, truth = {}, {}
    for k, (slug, noise, column, numbering, unnamed) in enumerate(LISTS):
        rows, n = [], 0
        for f in facilities:
            if k > 0 and rng.random() > 0.8:
                continue
            listings = 2 if rng.random() < 0.01 else 1
            for _ in range(listings):
                n += 1
                place = counties[f["county"]][column]
                number = f["number"]
                label = numbering.format(number, roman=ROMAN[number] if number < len(ROMAN) else str(number))
                name = None if rng.random() < unnamed else f"{place} {label}"
                lon, lat = jitter(rng, f["lon"], f["lat"], noise)
                rid = f"{'abcde'[k]}{n}"  # ids never shared between lists (no accidental same-id link)
                rows.append({"source": slug, "record_id": rid, "row": n + 1, "kind": "detention", "name": name,
                             "name_en": None, "name_zh": None, "name_ug": None,
                             "county": place if k % 2 == 0 else None, "prefecture": None, "attrs": {},
                             "original": {"id": rid}, "geometry": Point(lon, lat)})
                truth[(slug, rid)] = f["id"]
        out[slug] = gpd.GeoDataFrame(rows, columns=COLUMNS, geometry="geometry", crs="EPSG:4326")
    return out, truth


def score(result, truth, slug, first):
    """Pairwise precision and recall of the links between `slug` and the first list."""
    site = {(s, r): sid for s, r, sid in zip(result.records["source"], result.records["record_id"],
                                             result.records["site_id"])}
    by_fac_first: dict[int, list] = {}
    for (s, r), f in truth.items():
        if s == first:
            by_fac_first.setdefault(f, []).append(r)
    true = {(r, r1) for (s, r), f in truth.items() if s == slug for r1 in by_fac_first.get(f, [])}
    by_site_first: dict[str, list] = {}
    for (s, r), sid in site.items():
        if s == first:
            by_site_first.setdefault(sid, []).append(r)
    linked = {(r, r1) for (s, r), sid in site.items() if s == slug for r1 in by_site_first.get(sid, [])}
    agreed = true & linked
    return len(agreed) / max(len(linked), 1), len(agreed) / max(len(true), 1), len(linked), len(true)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--facilities", type=int, default=25_000)
    args = ap.parse_args()
    counties, facilities = world(args.facilities)
    inputs, truth = lists(counties, facilities)
    table = PlaceTable([{k: c[k] for k in ("key", "a", "b", "basis")} for c in counties],
                       {"a": ["a", "b"], "b": ["b", "a"]})
    n = sum(len(g) for g in inputs.values())
    slugs = [s for s, *_ in LISTS]
    t0 = time.perf_counter()
    result = reconcile(inputs, slugs, {"places": table, "site_fields": ["name", "county"],
                                       "sources": {s: {"place_scheme": col} for s, _, col, *_ in LISTS}})
    seconds = time.perf_counter() - t0
    print(f"{n:,} SYNTHETIC records from {len(slugs)} lists ({args.facilities:,} facilities): "
          f"reconcile {seconds:.1f} s, {result.report['sites']:,} sites")
    for slug in slugs[1:]:
        p, r, linked, true = score(result, truth, slug, slugs[0])
        print(f"  {slug} -> {slugs[0]}: precision {p:.4f}, recall {r:.4f} ({linked:,} linked pairs, {true:,} true)")
    print("  rules:", {s: result.report["rules"][s] for s in slugs[1:]})


if __name__ == "__main__":
    main()
