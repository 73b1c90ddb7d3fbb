#!/usr/bin/env python3
"""Page benchmark (issue 3): facilitymap's map page against GeoDataFrame.explore() on the same sites.

    .venv/bin/python benchmarks/bench_map.py [--runs 5] [--sites 50000] [--explore-cap 90]

For the default map (the real build of maps/xinjiang.yaml) and a SYNTHETIC map of 50,000 invented sites it writes
both pages into benchmarks/out/ and measures HTML bytes, build seconds and seconds until the map is ready in headless
Chromium (median of --runs, a fresh browser context each run), then the frame times while panning. Prints a table
and writes benchmarks/out/results.json. The definitions are in benchmarks/README.md ("Map page").
"""
from __future__ import annotations

import argparse
import functools
import gc
import importlib.metadata
import http.server
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}

# CDN files that folium's explore() page asks for, served from the npm packages they were published as.
# (url prefix -> (npm spec, folder inside the package)); None = not on npm: answered with an empty body.
CDN = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/": ("leaflet@1.9.3", ""),
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/": ("bootstrap@5.2.2", ""),
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/": ("@fortawesome/fontawesome-free@6.2.0", ""),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js":
        ("drmonty-leaflet-awesome-markers@2.0.2", "js/leaflet.awesome-markers.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css":
        ("drmonty-leaflet-awesome-markers@2.0.2", "css/leaflet.awesome-markers.css"),
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": None,
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css": None,
}
TILE_HOSTS = ("tile.openstreetmap.org", "server.arcgisonline.com", "basemaps.cartocdn.com")
TYPES = {".js": "application/javascript", ".css": "text/css", ".woff2": "font/woff2", ".woff": "font/woff",
         ".ttf": "font/ttf", ".png": "image/png", ".svg": "image/svg+xml"}

# Runs in every page before its own scripts: records when the map is ready, and when the next frame is painted.
RECORDER = """
(() => {
  const b = window.__bench = {mode: %(mode)s, expected: %(expected)d};
  const done = () => {
    if (b.ready !== undefined) return;
    b.ready = performance.now();
    requestAnimationFrame(() => requestAnimationFrame(() => { b.painted = performance.now(); }));
  };
  if (b.mode === "facilitymap") {
    const obs = new MutationObserver(() => {
      if (document.documentElement.dataset.mapReady === "true") { obs.disconnect(); done(); }
    });
    obs.observe(document, {attributes: true, subtree: true, attributeFilter: ["data-map-ready"]});
  } else {
    window.addEventListener("load", () => {
      b.load = performance.now();
      const poll = () => {
        b.count = document.querySelectorAll("path.leaflet-interactive").length;
        if (b.count >= b.expected) done(); else setTimeout(poll, 5);
      };
      poll();
    });
  }
})();
"""

# Pans the map with animated map.panBy steps, recording every frame's interval with requestAnimationFrame.
PAN = """
async (steps) => {
  const map = window.map_fm || Object.keys(window).filter(k => k.startsWith("map_"))
      .map(k => window[k]).find(v => v instanceof L.Map);
  const frames = [];
  let last = null, running = true;
  const tick = (t) => { if (last !== null) frames.push(t - last); last = t; if (running) requestAnimationFrame(tick); };
  await new Promise(r => requestAnimationFrame(() => r()));
  requestAnimationFrame(tick);
  const t0 = performance.now();
  for (const [dx, dy] of steps) {
    await new Promise(r => { map.once("moveend", r); map.panBy([dx, dy], {animate: true, duration: 0.25}); });
    await new Promise(r => requestAnimationFrame(() => r()));
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())));
  running = false;
  return {frames, seconds: (performance.now() - t0) / 1000};
}
"""
PAN_STEPS = [[300, 0], [0, 200], [-300, 0], [0, -200]] * 3


# --- inputs -------------------------------------------------------------------------------------------------------

def default_map() -> dict:
    """Build the default map from sources/ into benchmarks/out/maps/ (basemap none) and return its page payload.

    Uses the builder's own functions so the payload is the one `facilitymap build` renders; the full build (read,
    reconcile, enrich, write every output) is timed as a whole too.
    """
    from facilitymap import builder, spec as specs
    from facilitymap.registry import load_sources, validate_sources

    maps = OUT / "maps"
    maps.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "maps" / "xinjiang.yaml", maps / "xinjiang.yaml")
    shutil.copy(ROOT / "maps" / "xinjiang-places.csv", maps / "xinjiang-places.csv")  # the spec's place table
    t0 = time.perf_counter()
    builder.build("xinjiang", sources_dir=ROOT / "sources", maps_dir=maps, basemap="none")
    full_build = time.perf_counter() - t0

    spec = specs.load_map_spec(maps, "xinjiang")
    selected = specs.select_sources(load_sources(ROOT / "sources"), spec, "maps/xinjiang.yaml")
    assert not validate_sources(selected)
    data = builder.assemble(spec, selected)
    payload = builder.page_payload(data)  # the dict outputs.write_outputs gives render_map
    return {"payload": payload, "full_build_s": full_build, "built": maps / "xinjiang"}


def spec_fields() -> dict:
    """The fields block of the default map's spec (the synthetic map uses the same fields)."""
    from facilitymap.spec import load_map_spec

    return load_map_spec(ROOT / "maps", "xinjiang").get("fields") or {}


# --- building the two pages ----------------------------------------------------------------------------------------

def median_time(fn, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def build_facilitymap(payload: dict, path: Path, runs: int) -> dict:
    """render_map(payload, basemap="none") and write the file, timed."""
    from facilitymap.render import render_map

    def go():
        path.write_text(render_map(payload, basemap="none"), encoding="utf-8", newline="\n")

    med, times = median_time(go, runs)
    return {"html": str(path), "bytes": path.stat().st_size, "build_s": med, "build_runs_s": times}


def build_explore(sites_geojson: Path, path: Path, runs: int, cap_s: float) -> dict:
    """What a user would do: read sites.geojson, gdf.explore(popup=True, tooltip="name"), m.save(). The read is
    not timed (as facilitymap's reading and reconciling is not in its render time)."""
    import geopandas as gpd

    gdf = gpd.read_file(sites_geojson)

    def go():
        m = gdf.explore(popup=True, tooltip="name")
        m.save(str(path))

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        go()
        times.append(time.perf_counter() - t0)
        if times[-1] > cap_s:
            break
    return {"html": str(path), "bytes": path.stat().st_size, "build_s": statistics.median(times),
            "build_runs_s": times, "features": int((~gdf.geometry.isna()).sum()),
            "popup_columns": [c for c in gdf.columns if c != "geometry"]}


# --- CDN files for explore() --------------------------------------------------------------------------------------

def npm_dir(spec: str) -> Path:
    """The unpacked npm package ``spec`` (npm pack, cached under benchmarks/out/cdn/)."""
    dest = OUT / "cdn" / spec.replace("/", "__")
    if (dest / "package").is_dir():
        return dest / "package"
    dest.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["npm", "pack", spec, "--json", "--pack-destination", str(dest)], capture_output=True,
                         text=True, check=True, cwd=dest)
    tgz = dest / json.loads(res.stdout)[0]["filename"].replace("@", "").replace("/", "-")
    if not tgz.exists():
        tgz = next(dest.glob("*.tgz"))
    with tarfile.open(tgz) as tf:
        tf.extractall(dest, filter="data")
    return dest / "package"


def cdn_body(url: str) -> tuple[bytes | None, str]:
    """(body, content type) for a CDN URL from its npm package; (None, "") if it is not one we know."""
    for prefix, target in CDN.items():
        if url == prefix or (prefix.endswith("/") and url.startswith(prefix)):
            if target is None:
                return b"", "text/css" if url.endswith(".css") else "application/javascript"
            spec, inner = target
            rel = inner if not prefix.endswith("/") else url[len(prefix):].split("?")[0].split("#")[0]
            f = npm_dir(spec) / rel
            return f.read_bytes(), TYPES.get(f.suffix, "application/octet-stream")
    return None, ""


# --- the browser --------------------------------------------------------------------------------------------------

class Server:
    """benchmarks/out/ over HTTP on 127.0.0.1 (a random free port), in its own process so that this process's
    garbage collector and the Playwright driver never hold up a response."""

    def __init__(self, root: Path):
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(root)], stdout=subprocess.PIPE,
                                     text=True)
        self.url = self.proc.stdout.readline().strip()

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def serve(root: Path) -> None:
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    print(f"http://127.0.0.1:{httpd.server_address[1]}/", flush=True)
    httpd.serve_forever()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def copyfile(self, source, outputfile):
        self.connection.sendfile(source)  # kernel copy: the server is not what the page waits for


def measure_page(browser, url: str, mode: str, expected: int, runs: int, pan: bool, timeout_s: float) -> dict:
    """Load ``url`` in ``runs`` fresh contexts; ready/painted times (ms from navigation start) and pan frames."""
    results, requests = [], {"local": 0, "cdn": 0, "cdn_empty": [], "tiles": 0, "other": []}

    def route(r):
        url_ = r.request.url
        if url_.startswith("http://127.0.0.1"):
            requests["local"] += 1
            return r.continue_()
        host = url_.split("/")[2]
        if any(host.endswith(h) for h in TILE_HOSTS):
            requests["tiles"] += 1
            return r.fulfill(status=204, body=b"")
        body, ctype = cdn_body(url_)
        if body is None:
            requests["other"].append(url_)
            return r.fulfill(status=204, body=b"")
        requests["cdn"] += 1
        if not body:
            requests["cdn_empty"].append(url_)
        return r.fulfill(status=200, body=body, headers={"content-type": ctype, "access-control-allow-origin": "*"})

    for i in range(runs):
        ctx = browser.new_context(viewport=VIEWPORT)
        ctx.route("**/*", route)
        ctx.add_init_script(RECORDER % {"mode": json.dumps(mode), "expected": expected})
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        run = {}
        t0 = time.perf_counter()
        try:
            page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
            # Polled from here: the page's CSP forbids the eval that wait_for_function needs. The time is taken
            # in the page (performance.now() in the recorder), so the polling interval does not count.
            while not page.evaluate("() => !!(window.__bench && window.__bench.painted !== undefined)"):
                if time.perf_counter() - t0 > timeout_s:
                    raise TimeoutError(f"not ready after {timeout_s:.0f} s")
                time.sleep(0.05)
            b = page.evaluate("""() => { const n = performance.getEntriesByType("navigation")[0];
                return {...window.__bench, siteCount: document.documentElement.dataset.siteCount || null,
                        responseEnd: n.responseEnd, domContentLoaded: n.domContentLoadedEventEnd,
                        load: n.loadEventEnd, heapMB: performance.memory ? performance.memory.usedJSHeapSize / 1e6 : null}; }""")
            run.update(b)
            if pan:
                page.wait_for_timeout(500)
                p = page.evaluate(PAN, PAN_STEPS)
                frames = sorted(p["frames"])
                run["pan"] = {"frames": len(frames), "seconds": p["seconds"], "fps": len(frames) / p["seconds"],
                              "p95_ms": frames[int(0.95 * (len(frames) - 1))], "max_ms": frames[-1],
                              "long_frames": sum(1 for f in frames if f > 50)}
            # The whole document parsed: the facilitymap page draws the map before it parses its list of all sites.
            dcl = "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
            while not page.evaluate(dcl):
                if time.perf_counter() - t0 > timeout_s:
                    raise TimeoutError(f"not parsed after {timeout_s:.0f} s")
                time.sleep(0.05)
            run["domContentLoaded"] = page.evaluate(dcl)
        except Exception as exc:  # a timeout: report it, do not hide it
            run["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            run["wall_s"] = time.perf_counter() - t0
        run["errors"] = errors
        results.append(run)
        ctx.close()
        if "error" in run:
            break
    ok = [r for r in results if "error" not in r]
    summary = {"runs": results, "requests": requests, "n_ok": len(ok)}
    if ok:
        summary["ready_s"] = statistics.median(r["ready"] for r in ok) / 1000
        summary["painted_s"] = statistics.median(r["painted"] for r in ok) / 1000
        summary["dcl_s"] = statistics.median(r["domContentLoaded"] for r in ok) / 1000
        if pan and all("pan" in r for r in ok):
            for k in ("fps", "p95_ms", "max_ms", "long_frames"):
                summary[f"pan_{k}"] = statistics.median(r["pan"][k] for r in ok)
    return summary


def trace_page(browser, url: str, mode: str, expected: int, dest: Path) -> list[tuple[str, float, int]]:
    """One load with Chromium's performance timeline on; writes the trace (open it in DevTools > Performance)
    and returns the main thread's event names by total milliseconds."""
    import collections

    ctx = browser.new_context(viewport=VIEWPORT)
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("http://127.0.0.1")
              else r.fulfill(status=204, body=b""))
    ctx.add_init_script(RECORDER % {"mode": json.dumps(mode), "expected": expected})
    page = ctx.new_page()
    browser.start_tracing(page=page, categories=["devtools.timeline", "v8", "blink",
                                                 "disabled-by-default-devtools.timeline"])
    page.goto(url, wait_until="commit")
    t0 = time.perf_counter()
    while not page.evaluate("() => !!(window.__bench && window.__bench.painted !== undefined)"):
        if time.perf_counter() - t0 > 300:
            break
        time.sleep(0.05)
    page.wait_for_timeout(300)
    page.evaluate(PAN, PAN_STEPS[:4])
    raw = browser.stop_tracing()
    ctx.close()
    dest.write_bytes(raw)
    events = json.loads(raw)["traceEvents"]
    main = {(e["pid"], e["tid"]) for e in events
            if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    total, count = collections.Counter(), collections.Counter()
    for e in events:
        if (e["pid"], e["tid"]) in main and e.get("ph") == "X" and "dur" in e:
            total[e["name"]] += e["dur"] / 1000
            count[e["name"]] += 1
    return [(k, v, count[k]) for k, v in total.most_common(25)]


# --- the run ------------------------------------------------------------------------------------------------------

def versions() -> dict:
    import folium
    import geopandas

    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"python": platform.python_version(), "folium": folium.__version__, "geopandas": geopandas.__version__,
            "playwright": importlib.metadata.version("playwright"), "chromium": chromium, "git": commit,
            "cpu": cpu, "cores": os.cpu_count()}


def fmt(v, unit="", digits=2):
    if v is None:
        return "—"
    if isinstance(v, int) and unit == "B":
        return f"{v / 1e6:.2f} MB" if v >= 1e6 else f"{v / 1e3:.0f} kB"
    return f"{v:.{digits}f}{unit}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        serve(Path(argv[1]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--runs", type=int, default=5, help="page loads per page (median)")
    ap.add_argument("--build-runs", type=int, default=3, help="builds per page (median)")
    ap.add_argument("--sites", type=int, default=50000, help="SYNTHETIC sites in the large map")
    ap.add_argument("--explore-cap", type=float, default=90.0,
                    help="seconds: an explore() build or page load slower than this is not repeated")
    ap.add_argument("--trace", action="store_true",
                    help="also record one Chromium performance trace per facilitymap page into benchmarks/out/")
    ap.add_argument("--skip-explore-large", action="store_true", help="do not run explore() on the large map")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    results = {"versions": versions(), "args": vars(args), "maps": {}}
    pages = []  # (label, mode, html path, expected features, pan?)

    print("building the default map (facilitymap build xinjiang --basemap none) ...", flush=True)
    dm = default_map()
    n_default = len(dm["payload"]["sites"]["features"])
    fm = build_facilitymap(dm["payload"], OUT / "default-facilitymap.html", args.build_runs)
    ex = build_explore(dm["built"] / "sites.geojson", OUT / "default-explore.html", args.build_runs,
                       args.explore_cap)
    results["maps"]["default"] = {"sites": n_default, "full_build_s": dm["full_build_s"], "facilitymap": fm,
                                  "explore": ex}
    pages += [("default", "facilitymap", fm, n_default, True), ("default", "explore", ex, ex["features"], True)]

    print(f"building the SYNTHETIC map of {args.sites} sites ...", flush=True)
    syn = synthetic.payload(args.sites, fields=spec_fields())
    syn_geojson = OUT / f"synthetic-{args.sites}.geojson"
    syn_geojson.write_text(json.dumps(syn["sites"], ensure_ascii=False), encoding="utf-8")
    fm_l = build_facilitymap(syn, OUT / f"synthetic-{args.sites}-facilitymap.html", args.build_runs)
    results["maps"]["synthetic"] = {"sites": args.sites, "facilitymap": fm_l}
    pages.append(("synthetic", "facilitymap", fm_l, args.sites, True))
    if not args.skip_explore_large:
        ex_l = build_explore(syn_geojson, OUT / f"synthetic-{args.sites}-explore.html", args.build_runs,
                             args.explore_cap)
        results["maps"]["synthetic"]["explore"] = ex_l
        pages.append(("synthetic", "explore", ex_l, ex_l["features"], True))

    del dm, syn  # the pages are written; keep this process small and quiet while the browser is timed
    gc.collect()
    for target in CDN.values():  # fetch the npm packages before any page is timed
        if target:
            npm_dir(target[0])
    results["loadavg"] = [round(x, 2) for x in os.getloadavg()]  # other jobs on the machine move the figures
    server = Server(OUT)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for label, mode, built, expected, pan in pages:
                print(f"loading {label} / {mode} ({args.runs} runs) ...", flush=True)
                url = server.url + Path(built["html"]).name
                built["browser"] = measure_page(browser, url, mode, expected, args.runs, pan, args.explore_cap)
                if args.trace and mode == "facilitymap":
                    dest = OUT / f"trace-{label}-{mode}.json"
                    built["trace_top"] = trace_page(browser, url, mode, expected, dest)
                    print(f"  trace: {dest}; main thread, ms by event:")
                    for name, ms, n in built["trace_top"][:14]:
                        print(f"    {ms:8.0f} ms  {n:6d}x  {name}")
            browser.close()
    finally:
        server.close()

    (OUT / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    head = ("map", "page", "sites", "HTML", "build s", "ready s", "painted s", "parsed s", "pan fps", "pan p95 ms",
            "pan max ms", "runs")
    rows = []
    for label, m in results["maps"].items():
        for mode in ("facilitymap", "explore"):
            if mode not in m:
                continue
            b = m[mode]
            br = b.get("browser", {})
            rows.append((label, mode, str(m["sites"]), fmt(b["bytes"], "B"), fmt(b["build_s"]),
                         fmt(br.get("ready_s")), fmt(br.get("painted_s")), fmt(br.get("dcl_s")),
                         fmt(br.get("pan_fps"), digits=0),
                         fmt(br.get("pan_p95_ms"), digits=0), fmt(br.get("pan_max_ms"), digits=0),
                         f"{br.get('n_ok', 0)}/{len(br.get('runs', []))}"))
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    d = results["maps"]["default"]
    print(f"\nfull `facilitymap build xinjiang` (read, reconcile, enrich, write all outputs): {d['full_build_s']:.2f} s;"
          f" load average when the browser runs began: {results.get('loadavg')}")
    for label, m in results["maps"].items():
        for mode in ("facilitymap", "explore"):
            br = m.get(mode, {}).get("browser", {})
            req = br.get("requests", {})
            errs = sorted({e for r in br.get("runs", []) for e in r.get("errors", [])})
            fails = [r["error"] for r in br.get("runs", []) if "error" in r]
            if req.get("other") or req.get("cdn_empty") or errs or fails:
                print(f"{label}/{mode}: empty CDN bodies {sorted(set(req.get('cdn_empty', [])))}; "
                      f"unexpected requests {sorted(set(req.get('other', [])))}; page errors {errs[:3]}; "
                      f"failures {fails}")
    v = results["versions"]
    print(f"\n{v['cpu']}, {v['cores']} cores; Python {v['python']}, folium {v['folium']}, geopandas "
          f"{v['geopandas']}, Playwright {v['playwright']}, {v['chromium']}, git {v['git']}")


if __name__ == "__main__":
    sys.exit(main())
