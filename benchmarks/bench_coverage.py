"""Benchmark: the coverage join of 1,000,000 footprints with 2,000 sites, against the obvious alternatives.

All data is SYNTHETIC, generated here from a fixed seed: rectangles of about 110 x 110 km (1.29 deg x 1.0 deg,
the size of a Sentinel-2 tile at 40N) with lower-left corners uniform over Xinjiang's bounding box
(73-96E, 34-49N), datetimes uniform over 2016-2025, cloud cover uniform 0-100 with 5 % unknown; sites uniform
over the same box. Nothing here is real imagery or a real place.

Each step runs in its own Python process so its peak memory (ru_maxrss) is its own; the numbers include the
~1M-footprint table every step first builds. Run from the repository root:

    .venv/bin/python benchmarks/bench_coverage.py            # all steps, prints a Markdown table
    .venv/bin/python benchmarks/bench_coverage.py --step vectorised   # one step, prints JSON
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facilitymap.footprints.coverage import match_pairs, match_scenes, normalise_scenes, summarise  # noqa: E402
from facilitymap.footprints.grid import site_points  # noqa: E402

N_SCENES = 1_000_000
N_SITES = 2_000
SEED = 20240501
BOX = (73.0, 34.0, 96.0, 49.0)
W, H = 1.29, 1.0  # degrees: ~110 km at 40N


def synthetic(n_scenes: int = N_SCENES, n_sites: int = N_SITES, seed: int = SEED):
    """(sites, scenes) GeoDataFrames, synthetic and seeded."""
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(BOX[0], BOX[2] - W, n_scenes)
    y0 = rng.uniform(BOX[1], BOX[3] - H, n_scenes)
    start = pd.Timestamp("2016-01-01", tz="UTC").value
    stop = pd.Timestamp("2026-01-01", tz="UTC").value
    clouds = rng.uniform(0, 100, n_scenes).round(2)
    clouds[rng.random(n_scenes) < 0.05] = np.nan
    scenes = gpd.GeoDataFrame({
        "id": pd.Series([f"synthetic-{i:07d}" for i in range(n_scenes)], dtype="str"),
        "collection": "synthetic",
        "datetime": pd.to_datetime(rng.integers(start, stop, n_scenes), utc=True),
        "cloud_cover": clouds,
        "platform": "synthetic",
        "tile": None,
        "url": None,
    }, geometry=shapely.box(x0, y0, x0 + W, y0 + H), crs="EPSG:4326")
    lon = rng.uniform(BOX[0], BOX[2], n_sites).round(6)
    lat = rng.uniform(BOX[1], BOX[3], n_sites).round(6)
    months = rng.integers(0, 96, n_sites)
    sites = gpd.GeoDataFrame({
        "site_id": [f"synthetic-site-{i:04d}" for i in range(n_sites)], "lon": lon, "lat": lat,
        "latest_imagery": [f"{2017 + m // 12}-{m % 12 + 1:02d}" for m in months],
    }, geometry=shapely.points(lon, lat), crs="EPSG:4326")
    return sites, scenes


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(name: str, parquet_dir: str | None, loop_sites: int) -> dict:
    t0 = time.perf_counter()
    sites, scenes = synthetic()
    out = {"step": name, "generate_s": round(time.perf_counter() - t0, 2)}
    if name == "generate":
        pass
    elif name == "vectorised":
        t0 = time.perf_counter()
        p, _ = match_pairs(site_points(sites), normalise_scenes(scenes).geometry.to_numpy())
        out["pairs_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        detail = match_scenes(sites, scenes)
        out["join_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        summary = summarise(sites, detail)
        out["summary_s"] = round(time.perf_counter() - t0, 2)
        out["pairs"] = len(detail)
        out["scenes_per_site_median"] = int(np.median([v["scenes"] for v in summary.values()]))
    elif name == "sjoin":
        t0 = time.perf_counter()
        pts = sites[["site_id", "geometry"]]
        joined = gpd.sjoin(pts, scenes[["id", "geometry"]], how="inner", predicate="intersects")
        out["join_s"] = round(time.perf_counter() - t0, 2)
        out["pairs"] = len(joined)
    elif name == "loop-python":
        # the obvious alternative: for each site, test every footprint with shapely's contains
        geoms = list(scenes.geometry)
        pts = list(sites.geometry[:loop_sites])
        t0 = time.perf_counter()
        n = sum(1 for p in pts for g in geoms if g.intersects(p))
        secs = time.perf_counter() - t0
        out.update(sites_measured=loop_sites, measured_s=round(secs, 2), pairs_measured=n,
                   extrapolated_s=round(secs / loop_sites * N_SITES))
    elif name == "loop-per-site-vectorised":
        # a per-site loop where each site tests all footprints in one vectorised shapely call
        geoms = scenes.geometry.to_numpy()
        pts = sites.geometry.to_numpy()[:loop_sites]
        t0 = time.perf_counter()
        n = int(sum(shapely.intersects(geoms, p).sum() for p in pts))
        secs = time.perf_counter() - t0
        out.update(sites_measured=loop_sites, measured_s=round(secs, 2), pairs_measured=n,
                   extrapolated_s=round(secs / loop_sites * N_SITES, 1))
    elif name in ("dask-threads", "dask-cluster"):
        from facilitymap.footprints.distributed import coverage_dask

        del scenes
        if name == "dask-threads":
            t0 = time.perf_counter()
            summary, detail = coverage_dask(sites, parquet_dir)
            out["join_and_summary_s"] = round(time.perf_counter() - t0, 2)
        else:
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=40) as cluster:
                t0 = time.perf_counter()
                summary, detail = coverage_dask(sites, parquet_dir, scheduler=cluster.scheduler_address)
                out["join_and_summary_s"] = round(time.perf_counter() - t0, 2)
                out["note"] = "peak memory is the client process only; the 2 workers are separate processes"
        out["pairs"] = len(detail)
    else:
        raise SystemExit(f"unknown step {name}")
    out["peak_mib"] = round(_peak_mib())
    return out


def write_partitions(folder: Path, n_parts: int = 8) -> None:
    _, scenes = synthetic()
    for k, idx in enumerate(np.array_split(np.arange(len(scenes)), n_parts)):
        scenes.iloc[idx].to_parquet(folder / f"part-{k:02d}.parquet", index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step")
    ap.add_argument("--parquet-dir")
    ap.add_argument("--loop-sites", type=int, default=10)
    ap.add_argument("--vector-loop-sites", type=int, default=50)
    args = ap.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.parquet_dir, args.loop_sites)))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        write_partitions(Path(tmp))
        plan = [("generate", 0), ("vectorised", 0), ("sjoin", 0), ("loop-per-site-vectorised", args.vector_loop_sites),
                ("loop-python", args.loop_sites), ("dask-threads", 0), ("dask-cluster", 0)]
        for name, k in plan:
            cmd = [sys.executable, __file__, "--step", name, "--parquet-dir", tmp, "--loop-sites", str(k)]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
                             .splitlines()[-1])
            print(json.dumps(res), file=sys.stderr)
            results.append(res)
    pairs = {r["step"]: r.get("pairs") for r in results if r.get("pairs") is not None}
    assert len(set(pairs.values())) == 1, f"joins disagree: {pairs}"
    print(f"{N_SCENES:,} synthetic footprints x {N_SITES:,} synthetic sites; {next(iter(pairs.values())):,} pairs\n")
    print("| step | seconds | peak memory (MiB) | notes |")
    print("|---|---|---|---|")
    for r in results:
        if r["step"] == "generate":
            secs, note = r["generate_s"], "build the synthetic tables only (baseline memory)"
        elif r["step"] == "vectorised":
            secs = r["join_s"]
            note = (f"detail table (join + sort + columns); the spatial pairs alone {r['pairs_s']} s; "
                    f"+ {r['summary_s']} s for the per-site summary")
        elif r["step"] == "sjoin":
            secs, note = r["join_s"], "geopandas.sjoin (tree on the 1M footprints)"
        elif r["step"].startswith("loop"):
            secs = f"~{r['extrapolated_s']} (extrapolated)"
            note = f"measured {r['measured_s']} s on {r['sites_measured']} sites, x {N_SITES // r['sites_measured']}"
        else:
            secs, note = r["join_and_summary_s"], "join + summary, 8 GeoParquet partitions" + (
                "; client process memory only" if r["step"] == "dask-cluster" else "")
        print(f"| {r['step']} | {secs} | {r['peak_mib']} | {note} |")


if __name__ == "__main__":
    main()
