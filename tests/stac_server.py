"""A small STAC API on 127.0.0.1 for tests: landing page, /search (GET and POST, paged by token), injected faults.

Items are synthetic and generated in code (`make_items`); they never leave the tests. The server records every
request it receives so tests can count which pages were fetched, and a fault plan lets a test break chosen
requests: an HTTP status, a sleep past the client's timeout, a dropped connection, a truncated body, a next link
that repeats the page, or a next link that serves the same items again.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

ITEM_SEARCH = "https://api.stacspec.org/v1.0.0/item-search"
FIELDS = "https://api.stacspec.org/v1.0.0/item-search#fields"
CORE = "https://api.stacspec.org/v1.0.0/core"


def make_items(months: list[str], per_month: int = 25, seed: int = 0) -> list[dict]:
    """Synthetic Sentinel-2 and Landsat items, `per_month` in each 'YYYY-MM' month, deterministic."""
    items = []
    for m, month in enumerate(months):
        first = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=timezone.utc)
        for i in range(per_month):
            k = m * per_month + i + seed
            when = first + timedelta(days=i % 28, hours=5, minutes=k % 60, seconds=(7 * k) % 60)
            lon, lat = 75.0 + (k * 7) % 18, 36.0 + (k * 3) % 12
            geom = {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 1.2, lat], [lon + 1.2, lat + 1.0],
                                                         [lon, lat + 1.0], [lon, lat]]]}
            stamp = when.strftime("%Y%m%dT%H%M%S")
            if k % 4 == 3:
                path, row = 140 + k % 9, 28 + k % 7
                coll, iid = "landsat-c2-l2", f"LC08_L2SP_{path:03d}{row:03d}_{stamp}_{k:04d}"
                props = {"platform": "landsat-8" if k % 2 else "landsat-9", "eo:cloud_cover": (k * 13) % 100,
                         "landsat:wrs_path": f"{path:03d}", "landsat:wrs_row": f"{row:03d}"}
            else:
                tile = f"{43 + k % 3}T{'NKLM'[k % 4]}{'KLMN'[(k // 4) % 4]}"
                coll, iid = "sentinel-2-c1-l2a", f"S2{'AB'[k % 2]}_{tile}_{stamp}_{k:04d}"
                props = {"platform": f"sentinel-2{'ab'[k % 2]}", "eo:cloud_cover": round((k * 7.31) % 100, 2)}
                if k % 2:
                    props["grid:code"] = f"MGRS-{tile}"
                else:
                    props["s2:mgrs_tile"] = tile
            props["datetime"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            assets = {f"B{b:02d}": {"href": f"https://example.invalid/{iid}/B{b:02d}.tif",
                                    "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                                    "roles": ["data"], "title": f"Band {b}"} for b in range(1, 13)}
            items.append({
                "type": "Feature", "stac_version": "1.0.0", "stac_extensions": [], "id": iid, "collection": coll,
                "bbox": [lon, lat, lon + 1.2, lat + 1.0], "geometry": geom, "properties": props,
                "links": [], "assets": assets,
            })
    return items


@dataclass
class Fault:
    """Break matching requests. `page` is 1-based within a search; `window` a substring of the datetime
    parameter; `times` the n-th requests (1-based) for that page that break, None for all of them.
    `action`: "status:503", "sleep:0.5", "drop", "truncate" (half the JSON, honest length),
    "short" (Content-Length of the full body, half sent), "repeat" (next link = this page),
    "stuck" (next link with a new token that serves this page's items again)."""

    action: str
    page: int | None = None
    window: str | None = None
    times: set[int] | None = None
    path: str = "/search"


@dataclass
class Hit:
    method: str
    path: str
    window: str | None
    page: int | None
    n: int


@dataclass
class StacServer:
    items: list[dict]
    faults: list[Fault] = field(default_factory=list)
    max_limit: int = 1000
    fields: bool = False  # advertise and honour the fields extension (include/exclude)

    def __post_init__(self) -> None:
        self.hits: list[Hit] = []
        self.bytes_sent = 0  # bodies of /search responses
        self._counts: dict[tuple, int] = {}
        self._lock = threading.Lock()
        self.items = sorted(self.items, key=lambda it: (it["properties"]["datetime"], it["id"]))
        self._times = [_parse(it["properties"]["datetime"]) for it in self.items]

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def __enter__(self) -> "StacServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- queries for tests -------------------------------------------------------------------------------------
    def search_hits(self, window: str | None = None, page: int | None = None) -> list[Hit]:
        return [h for h in self.hits if h.path == "/search"
                and (window is None or (h.window and window in h.window)) and (page is None or h.page == page)]

    def count(self, path: str) -> int:
        return sum(1 for h in self.hits if h.path == path)

    # -- the API -----------------------------------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urlparse(req.path)
        if parsed.path in ("", "/"):
            n = self._record(method, "/", None, None)
            fault = next((f for f in self.faults if f.path == "/" and (f.times is None or n in f.times)), None)
            if fault and fault.action.startswith("status:"):
                return self._send(req, int(fault.action.split(":")[1]), {"code": "ServerError"})
            return self._send(req, 200, self._landing())
        if parsed.path != "/search":
            self._record(method, parsed.path, None, None)
            return self._send(req, 404, {"code": "NotFound", "description": parsed.path})
        if method == "POST":
            length = int(req.headers.get("Content-Length") or 0)
            params = json.loads(req.rfile.read(length) or b"{}")
        else:
            q = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            params = dict(q)
            if "bbox" in q:
                params["bbox"] = [float(v) for v in q["bbox"].split(",")]
            if "collections" in q:
                params["collections"] = q["collections"].split(",")
        limit = min(int(params.get("limit", 10)), self.max_limit)
        token = params.get("token") or params.get("next")
        offset = int(str(token).split("-")[0][1:]) if token else 0
        window = params.get("datetime")
        page = offset // limit + 1
        n = self._record(method, "/search", window, page)
        fault = next((f for f in self.faults if f.path == "/search" and (f.page is None or f.page == page)
                      and (f.window is None or (window and f.window in window))
                      and (f.times is None or n in f.times)), None)
        action = fault.action if fault else ""
        if action.startswith("status:"):
            return self._send(req, int(action.split(":")[1]), {"code": "ServerError", "description": "injected"})
        if action.startswith("sleep:"):
            import time
            time.sleep(float(action.split(":")[1]))
        if action == "drop":
            req.close_connection = True
            return
        matched = self._filter(params)
        features = matched[offset:offset + limit]
        feats = [_select(self._with_links(it), params.get("fields")) for it in features]
        body = {"type": "FeatureCollection", "features": feats,
                "numberMatched": len(matched), "numberReturned": len(features),
                "context": {"matched": len(matched), "returned": len(features), "limit": limit}, "links": []}
        if offset + limit < len(matched) or action in ("repeat", "stuck"):
            nxt_offset = offset if action in ("repeat", "stuck") else offset + limit
            nxt = f"o{nxt_offset}-{n}" if action == "stuck" else f"o{nxt_offset}-0"
            if action == "repeat" and token:
                nxt = token
            body["links"].append(self._next_link(method, params, nxt))
        if action in ("truncate", "short"):
            return self._send(req, 200, body, truncate=action)
        self.bytes_sent += len(json.dumps(body).encode("utf-8"))
        return self._send(req, 200, body)

    def _record(self, method: str, path: str, window: str | None, page: int | None) -> int:
        with self._lock:
            key = (path, window, page)
            self._counts[key] = self._counts.get(key, 0) + 1
            self.hits.append(Hit(method, path, window, page, self._counts[key]))
            return self._counts[key]

    def _landing(self) -> dict:
        return {"type": "Catalog", "id": "test-stac", "stac_version": "1.0.0", "description": "test STAC API",
                "conformsTo": [CORE, ITEM_SEARCH] + ([FIELDS] if self.fields else []),
                "links": [{"rel": "self", "href": self.url + "/", "type": "application/json"},
                          {"rel": "root", "href": self.url + "/", "type": "application/json"},
                          {"rel": "search", "href": self.url + "/search", "type": "application/geo+json",
                           "method": "GET"},
                          {"rel": "search", "href": self.url + "/search", "type": "application/geo+json",
                           "method": "POST"}]}

    def _filter(self, params: dict) -> list[dict]:
        colls = params.get("collections")
        bbox = params.get("bbox")
        lo = hi = None
        if params.get("datetime"):
            a, _, b = params["datetime"].partition("/")
            lo, hi = _parse(a), _parse(b or a)
        out = []
        for it, when in zip(self.items, self._times):
            if colls and it["collection"] not in colls:
                continue
            if bbox:
                x0, y0, x1, y1 = it["bbox"]
                if x1 < bbox[0] or x0 > bbox[2] or y1 < bbox[1] or y0 > bbox[3]:
                    continue
            if (lo and when < lo) or (hi and when > hi):
                continue
            out.append(it)
        return out

    def _with_links(self, item: dict) -> dict:
        item = dict(item)
        item["links"] = [{"rel": "self", "type": "application/geo+json",
                          "href": f"{self.url}/collections/{item['collection']}/items/{item['id']}"},
                         {"rel": "collection", "href": f"{self.url}/collections/{item['collection']}"}]
        return item

    def _next_link(self, method: str, params: dict, token: str) -> dict:
        if method == "POST":
            body = {k: v for k, v in params.items() if k not in ("token", "next")}
            body["token"] = token
            return {"rel": "next", "href": self.url + "/search", "method": "POST", "body": body, "merge": False,
                    "type": "application/geo+json"}
        q = {k: (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in params.items() if k != "token"}
        q["token"] = token
        return {"rel": "next", "href": self.url + "/search?" + urlencode(q), "type": "application/geo+json"}

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, body: dict, truncate: str = "") -> None:
        data = json.dumps(body).encode("utf-8")
        length = len(data)
        if truncate:
            data = data[: len(data) // 2]
            if truncate == "truncate":
                length = len(data)
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/geo+json" if status == 200 else "application/json")
            req.send_header("Content-Length", str(length))
            req.end_headers()
            req.wfile.write(data)
            req.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to do
        req.close_connection = True


def _select(item: dict, fields: dict | str | None) -> dict:
    """The fields extension, simply: top-level keys and properties.X in `include`, then `exclude` removed.
    GET sends "+a,-b" (or "a,b"); POST sends {"include": [...], "exclude": [...]}."""
    if not fields:
        return item
    if isinstance(fields, str):
        parts = [f for f in fields.split(",") if f]
        fields = {"include": [f.lstrip("+") for f in parts if not f.startswith("-")],
                  "exclude": [f[1:] for f in parts if f.startswith("-")]}
    inc, exc = fields.get("include") or [], set(fields.get("exclude") or [])
    out = dict(item)
    if inc:
        top = {f for f in inc if not f.startswith("properties.")} | {"type", "id"}
        props = {f.split(".", 1)[1] for f in inc if f.startswith("properties.")}
        out = {k: v for k, v in item.items() if k in top}
        out["properties"] = {k: v for k, v in item["properties"].items() if k in props}
    return {k: v for k, v in out.items() if k not in exc}


def _parse(text: str) -> datetime | None:
    if text in ("", ".."):
        return None
    text = text.replace("Z", "+00:00")
    if len(text) == 10:
        text += "T00:00:00+00:00"
    return datetime.fromisoformat(text)


if __name__ == "__main__":  # serve a year of synthetic items for benchmarks: python tests/stac_server.py 2020 2500
    import sys
    import time

    year, per_month = sys.argv[1] if len(sys.argv) > 1 else "2020", int(sys.argv[2]) if len(sys.argv) > 2 else 2500
    with StacServer(make_items([f"{year}-{m:02d}" for m in range(1, 13)], per_month)) as srv:
        print(srv.url, flush=True)
        while True:
            time.sleep(3600)


# -- recorded responses of real APIs -----------------------------------------------------------------------------
class RecordedStacServer:
    """Replays the responses of a real STAC API recorded by pystac-client's test suite (vcrpy cassettes, see
    ../shared/data/recorded/stac-api-responses/SOURCE.md) on 127.0.0.1.

    Each recorded interaction answers a request with the same method and path whose paging token (``next`` for
    Earth Search, ``token`` for the Planetary Computer) is the recorded one and whose ``collections`` are the
    recorded ones; the rest of the query (bbox, datetime, limit, fields) is the harvester's and is kept in
    ``requests`` for the test to look at. Bodies are served as recorded with the API's host replaced by this
    server's address (so ``next`` links come back here), gzip-compressed when the recorded response carried
    ``Content-Encoding: gzip``. A request with no recording gets a 404 naming it. When the cassettes hold no landing
    page (the Planetary Computer ones), ``landing`` supplies a minimal one: core + item-search conformance and a
    POST search link, and nothing else."""

    def __init__(self, cassettes: list, api_url: str, landing: bool = False):
        import yaml

        self.api_url = api_url.rstrip("/")
        self.prefix = urlparse(self.api_url).path.rstrip("/")
        self.recorded: list[dict] = []
        for path in cassettes:
            for it in yaml.safe_load(open(path, encoding="utf-8"))["interactions"]:
                req, resp = it["request"], it["response"]
                body = json.loads(req["body"]) if req.get("body") else {}
                headers = {k.lower(): v for k, v in resp["headers"].items()}
                enc = [v.lower() for v in headers.get("content-encoding", [])]
                self.recorded.append({"method": req["method"], "path": urlparse(req["uri"]).path.rstrip("/"),
                                      "token": _token(body), "collections": body.get("collections"),
                                      "status": resp["status"]["code"], "body": resp["body"]["string"],
                                      "gzip": "gzip" in enc, "used": 0})
        self.landing = landing
        self.requests: list[dict] = []
        self.gzip_sent = 0

    def __enter__(self) -> "RecordedStacServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{self.prefix}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urlparse(req.path)
        body = {}
        if method == "POST":
            body = json.loads(req.rfile.read(int(req.headers.get("Content-Length") or 0)) or b"{}")
        path = parsed.path.rstrip("/")
        self.requests.append({"method": method, "path": path, "body": body,
                              "accept_encoding": req.headers.get("Accept-Encoding", "")})
        match = next((r for r in self.recorded if r["method"] == method and r["path"] == path
                      and r["token"] == _token(body) and (method == "GET" or r["collections"] ==
                                                          body.get("collections"))), None)
        if match is None and self.landing and method == "GET" and path == self.prefix:
            text = json.dumps({"type": "Catalog", "id": "recorded", "stac_version": "1.0.0",
                               "description": "landing page supplied by the test (none was recorded)",
                               "conformsTo": [CORE, ITEM_SEARCH],
                               "links": [{"rel": "self", "href": self.api_url + "/"},
                                         {"rel": "root", "href": self.api_url + "/"},
                                         {"rel": "search", "href": self.api_url + "/search", "method": "POST",
                                          "type": "application/geo+json"}]})
            match = {"status": 200, "body": text, "gzip": False, "used": 0}
        if match is None:
            data, status, gz = json.dumps({"code": "NotRecorded", "description": f"{method} {path} "
                                           f"{json.dumps(body, sort_keys=True)}"}).encode(), 404, False
        else:
            match["used"] += 1
            data = match["body"].replace(self.api_url, self.url).encode("utf-8")
            status, gz = match["status"], match["gzip"]
        if gz:
            import gzip

            data = gzip.compress(data, mtime=0)
            self.gzip_sent += 1
        req.send_response(status)
        req.send_header("Content-Type", "application/geo+json")
        if gz:
            req.send_header("Content-Encoding", "gzip")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)
        req.close_connection = True


def _token(body: dict) -> str | None:
    return body.get("next") or body.get("token")
