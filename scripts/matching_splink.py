"""splink beside the package's matcher on the held-out check of docs/matching-evaluation.md (issue 9 asks to prefer
splink; the package's `linkage.py` is a hand-written Fellegi–Sunter model with EM: this measures both).

The check: a BuzzFeed release with no matching settings linked to ASPI's camp dataset v1, scored against the
publisher's own cross-reference (BuzzFeed 2021's `ASPI 2020 #` column; for the 2020 release, that column carried
over by record id where both releases put the record within 100 m, as scripts/matching_heldout.py does).

Both matchers see the same two lists and the same features (linkage.features: the place through the map's alias
table, else the place at the head of the name; the facility number; the rest of the name) and make links one to
one, most probable pair first, from probability 0.5 up:
- package: `reconcile` over [v1, BuzzFeed] (v1's records found the sites, BuzzFeed's join them);
- splink 5 (DuckDB): link_only, comparisons distance (DistanceInKMAtThresholds, the package's 8 bands), place
  (ExactMatch), number (ExactMatch), name (exact, Jaro-Winkler >= 0.85); pairs blocked within about 3 km; u from
  random sampling, m by EM in two sessions (blocked on place, then on number), the prior from a deterministic
  rule (under 50 m).

Run: PYTHONPATH=. .venv/bin/python scripts/matching_splink.py   (prints markdown; needs the `compare` extra: splink)
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from facilitymap import crosswalks, linkage, readers, registry  # noqa: E402
from facilitymap.builder import load_map_spec, match_options  # noqa: E402
from facilitymap.reconcile import _records, haversine_m, reconcile  # noqa: E402
from matching_heldout import pairs_with  # noqa: E402

V1, BF, BF21 = "aspi-camp-dataset-v1", "buzzfeed-2020", "buzzfeed-2021"
ACCEPT = 0.5
BLOCK_DEG_LAT = 3000 / 111_195.0


def frame(source: str, gdf, opts: dict) -> pd.DataFrame:
    """One row per point record: the features the package's model compares."""
    rows = []
    for r in _records(source, 0, gdf, opts):
        if r.geometry is None or r.geometry.geom_type != "Point":
            continue
        f = linkage.features(r.name, r.county, opts.get("places"), None)
        rows.append({"unique_id": f"{source}:{r.record_id}", "lat": r.geometry.y, "lon": r.geometry.x,
                     "place": f["place"], "number": None if f["number"] is None else str(f["number"]),
                     "rest": f["rest"]})
    return pd.DataFrame(rows)


VARIANTS = {
    "usual": "splink 5.0.0: u from random pairs, m by EM blocked on place then number",
    "within": "splink 5.0.0: m and u by EM over the pairs within 3 km",
    "geometric": "splink 5.0.0: distance u fixed to the bands' share of the 3 km disc, the rest by EM within 3 km",
}


def splink_links(left: pd.DataFrame, right: pd.DataFrame, variant: str) -> tuple[set, float, dict]:
    """splink's links, its seconds (training and prediction) and the pairs it scored, for one of VARIANTS: splink's
    usual recipe; EM over the blocked pairs for m and u both; or the package's own set-up in splink (u of the
    distance bands from geometry, the other parameters by EM over the blocked pairs)."""
    import splink.comparison_library as cl
    import splink.comparison_level_library as cll
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    dlon = BLOCK_DEG_LAT / math.cos(math.radians(float(left["lat"].mean())))
    near = (f"abs(l.lat - r.lat) <= {BLOCK_DEG_LAT:.6f} and abs(l.lon - r.lon) <= {dlon:.6f} and "
            "sqrt(pow((l.lat - r.lat) * 111.195, 2) + pow((l.lon - r.lon) * 111.195 * cos(radians(l.lat)), 2)) <= 3.0")
    bands = [0.01, 0.05, 0.15, 0.3, 0.6, 1.0, 2.0]
    if variant == "geometric":
        edges = [0.0] + bands + [3.0]
        share = [(edges[k + 1] ** 2 - edges[k] ** 2) / 9.0 for k in range(len(edges) - 1)]
        m0 = [0.2, 0.25, 0.25, 0.15, 0.07, 0.04, 0.02, 0.02]
        levels = [cll.NullLevel("lat")]
        levels += [cll.DistanceInKMLevel("lat", "lon", km).configure(u_probability=share[k], fix_u_probability=True,
                                                                     m_probability=m0[k])
                   for k, km in enumerate(bands)]
        levels.append(cll.ElseLevel().configure(u_probability=share[-1], fix_u_probability=True, m_probability=m0[-1]))
        distance = cl.CustomComparison(output_column_name="distance", comparison_levels=levels)
    else:
        distance = cl.DistanceInKMAtThresholds("lat", "lon", bands)
    name = cl.CustomComparison(
        output_column_name="rest",
        comparison_levels=[cll.NullLevel("rest"), cll.ExactMatchLevel("rest"),
                           cll.JaroWinklerLevel("rest", 0.85), cll.ElseLevel()])
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            distance,
            cl.ExactMatch("place"),
            cl.ExactMatch("number"),
            name,
        ],
        blocking_rules_to_generate_predictions=[near],
        retain_intermediate_calculation_columns=False,
    )
    db = DuckDBAPI()
    dfs = [db.register(left, dataset_display_name="new"), db.register(right, dataset_display_name="old")]
    linker = Linker(dfs, settings)
    linker.training.estimate_probability_two_random_records_match(
        [f"{near} and abs(l.lat - r.lat) <= {50 / 111_195.0:.8f}"], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    if variant != "usual":
        linker.training.estimate_parameters_using_expectation_maximisation(
            near, fix_u_probabilities=False, populate_probability_two_random_records_match_from_trained_values=True)
    else:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("place"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("number"))
    pred = linker.inference.predict(threshold_match_probability=0.01).as_pandas_dataframe()
    t = time.perf_counter() - t0
    # one to one, most probable pair first
    pred = pred.sort_values(["match_probability", "unique_id_l", "unique_id_r"], ascending=[False, True, True])
    used_l, used_r, links = set(), set(), set()
    for a, b, p in zip(pred["unique_id_l"], pred["unique_id_r"], pred["match_probability"]):
        if p < ACCEPT or a in used_l or b in used_r:
            continue
        used_l.add(a)
        used_r.add(b)
        links.add((a, b))
    return links, t, {"pairs_scored": int(len(pred))}


def score(links: set, publisher: set) -> dict:
    citing = {a for a, _ in publisher}
    cited = {p for p in links if p[0] in citing}
    agreed = links & publisher
    r = lambda x: round(x, 4)  # noqa: E731
    return {"publisher pairs": len(publisher), "matcher pairs": len(links), "agreed": len(agreed),
            "precision": r(len(agreed) / len(links)) if links else None,
            "precision where cited": r(len(agreed & cited) / len(cited)) if cited else None,
            "recall": r(len(agreed) / len(publisher)) if publisher else None}


def main() -> None:
    spec = load_map_spec(ROOT / "maps", "xinjiang")
    by_slug = {s.slug: s for s in registry.load_sources(ROOT / "sources")}
    inputs = {s: readers.read_source(by_slug[s]).records for s in (V1, BF, BF21)}
    declared = {BF21: crosswalks.check(BF21, by_slug[BF21].fm["crosswalks"])}
    cited = next(c for c in crosswalks.cited_pairs({BF21: inputs[BF21], V1: inputs[V1]}, declared) if c["measured"])
    truth21 = {tuple(p) for p in cited["pairs"]}
    pos21 = {str(r): g for r, g in zip(inputs[BF21]["record_id"], inputs[BF21].geometry)}
    pos20 = {str(r): g for r, g in zip(inputs[BF]["record_id"], inputs[BF].geometry)}
    truth20 = set()
    for a, b in truth21:
        rid = a.split(":", 1)[1]
        if rid in pos20 and float(haversine_m(pos20[rid].x, pos20[rid].y, pos21[rid].x, pos21[rid].y)) <= 100:
            truth20.add((f"{BF}:{rid}", b))

    print("| held-out list vs ASPI v1 | matcher | precision | precision where cited | recall | links | seconds |")
    print("|---|---|---|---|---|---|---|")
    for src, truth in ((BF21, truth21), (BF, truth20)):
        opts = match_options(spec, [by_slug[s] for s in (V1, src)])
        opts["sources"] = {k: v for k, v in opts.get("sources", {}).items() if k != src}  # blind: no settings
        opts.pop("crosswalks", None)  # the publisher's column is the answer key, not evidence
        t0 = time.perf_counter()
        res = reconcile({V1: inputs[V1], src: inputs[src]}, [V1, src], opts)
        t_pkg = time.perf_counter() - t0
        pkg = {(a, b) for a, b in pairs_with(res, src, V1)}
        s = score(pkg, truth)
        print(f"| {src} | package (numpy FS + EM) | {s['precision']} | {s['precision where cited']} | {s['recall']} "
              f"| {s['matcher pairs']} ({s['agreed']} of {s['publisher pairs']} agreed) | {t_pkg:.2f} |")
        for variant, label in VARIANTS.items():
            try:
                links, t_spl, info = splink_links(frame(src, inputs[src], opts), frame(V1, inputs[V1], opts), variant)
            except Exception as exc:  # record exactly what failed
                print(f"| {src} | {label} | failed: {type(exc).__name__}: {exc} | | | | |")
                continue
            links = {(a, b) if a.startswith(src + ":") else (b, a) for a, b in links}
            s = score(links, truth)
            print(f"| {src} | {label} | {s['precision']} | {s['precision where cited']} | {s['recall']} "
                  f"| {s['matcher pairs']} ({s['agreed']} of {s['publisher pairs']} agreed; {info['pairs_scored']} "
                  f"pairs scored) | {t_spl:.2f} |")

if __name__ == "__main__":
    main()
