#!/usr/bin/env python3
"""Main-thread CPU until a facilitymap page is ready, for pages side by side (interleaved loads, median).

    .venv/bin/python benchmarks/cpu_to_ready.py benchmarks/out a.html,b.html [--runs 7]

On a machine shared with other jobs wall-clock times move with the load; the renderer's main-thread CPU (thread
time of its top-level tasks in a Chromium trace, from the first task until `data-map-ready`) moves much less, so
two versions of a page can be compared while the machine is busy. Each load is a fresh browser context; every
request but the folder's own gets an empty answer (the pages compared are `--basemap none` pages).
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import statistics
import threading
from pathlib import Path

from bench_map import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, cpu_to_ready

MARK = """new MutationObserver((ms, o) => {
  if (document.documentElement.dataset.mapReady === 'true') { performance.mark('fm-bench-ready'); o.disconnect(); }
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-map-ready']});"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("pages", help="comma-separated file names in folder")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    names = args.pages.split(",")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(args.folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    cpu: dict[str, list[float]] = {n: [] for n in names}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(args.runs):
            for name in names:
                ctx = browser.new_context(viewport=VIEWPORT)
                ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base)
                          else r.fulfill(status=204, body=b""))
                ctx.add_init_script(MARK)
                page = ctx.new_page()
                browser.start_tracing(page=page, categories=["devtools.timeline", "blink.user_timing",
                                                             "disabled-by-default-devtools.timeline"])
                page.goto(base + name)
                page.wait_for_function("document.documentElement.dataset.mapReady === 'true'", timeout=60000)
                page.wait_for_timeout(100)
                events = json.loads(browser.stop_tracing())["traceEvents"]
                ctx.close()
                main_threads = {(e["pid"], e["tid"]) for e in events if e.get("name") == "thread_name"
                                and e["args"].get("name") == "CrRendererMain"}
                cpu[name].append(cpu_to_ready(events, main_threads))
        browser.close()
    server.shutdown()
    for name in names:
        runs = sorted(round(x) for x in cpu[name] if x is not None)
        print(f"{name}: main-thread CPU until ready, median {statistics.median(runs)} ms ({runs})")


if __name__ == "__main__":
    main()
