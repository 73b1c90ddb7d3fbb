"""`facilitymap publish`: a built map made ready to upload to a newsroom's own site.

From a built map folder (maps/<map>/) and the public URL it will be served at, publish writes a folder with:
- index.html with a canonical link, Open Graph and Twitter card tags, a print stylesheet, a <noscript> picture of the
  map and a section of sources and citations (all rendered by autoescaping templates and put in place of markers
  the page templates leave: `<!--fm:publish:head-->`, `<!--fm:publish:noscript-->`, and before `</body>`);
- card.png: a 1200×630 social card made with `snapshot` (no tiles, no network), also the <noscript> picture;
- embed.html: the iframe snippet with the page's absolute URL;
- the downloads described as a Frictionless Data Package (datapackage.json: licences, sources, the map's citation,
  sha256 and bytes of each file, Table Schemas of the CSVs) and datapackage.zip of it (fixed timestamps, sorted);
- the other files of the build (annotations.geojson, coverage.json, build-report.json) as they are.
Like the build, it writes into a temporary folder beside the output and swaps it in at the end.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from . import csp, export

CARD_SIZE = (1200, 630)
CARD = "card.png"
# Buttons and map controls do nothing in a picture: the card keeps the title, the map, the legend and attribution.
CARD_HIDE = (".fm-tools", ".leaflet-control-zoom", ".leaflet-control-layers", ".leaflet-control-scale")
HEAD_MARK = "<!--fm:publish:head-->"
NOSCRIPT_MARK = "<!--fm:publish:noscript-->"
END = re.compile(r"</body>\s*</html>\s*\Z")
PACKAGE_FILES = ("sites.csv", "sites.geojson", "records.csv", "sources.json", "citations.json")
COPIED = ("annotations.geojson", "coverage.json", "coverage.parquet", "build-report.json")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# Column types of the CSVs that export.py writes; every other column is a string.
CSV_TYPES = {
    "sites.csv": {"lon": "number", "lat": "number", "n_records": "integer", "has_outline": "boolean"},
    "records.csv": {"row": "integer", "lon": "number", "lat": "number"},
}
CSV_DESCRIPTIONS = {
    "sites.csv": "One row per site: each reconciled value beside the slug of the source that gives it.",
    "sites.geojson": "One feature per site with every value of every source, disagreements, matches and imagery.",
    "records.csv": "One row per source record with its site, row number, mapped attributes and the original row.",
    "sources.json": "Every source of the map: title, publisher, licence, citation, retrieval date, file sha256.",
    "citations.json": "Every work cited by the map's claims, as CSL-JSON.",
}


class PublishError(Exception):
    """Publishing cannot go on; the message says why."""


@dataclass
class PublishResult:
    out_dir: Path
    page_url: str
    files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"published {self.out_dir} for {self.page_url}: {', '.join(self.files)}"


def page_url(base_url: str) -> str:
    """The page's absolute URL: base_url is the folder the published files will be served from."""
    parts = urlsplit(base_url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PublishError(f"--base-url must be an absolute http(s) URL, not {base_url!r}")
    if parts.query or parts.fragment:
        raise PublishError(f"--base-url must be a folder URL without query or fragment, not {base_url!r}")
    base = base_url if base_url.endswith("/") else base_url + "/"
    return urljoin(base, "index.html")


def map_meta(html: str) -> dict:
    """The `map` block (name, title, description, cite_as) of a built page's payload."""
    m = re.search(r'<script type="application/json" id="fm-data">(.*?)</script>', html, re.S)
    if not m:
        raise PublishError("the page has no fm-data block: is it a facilitymap page?")
    return json.loads(m.group(1)).get("map") or {}


def _http(url) -> str | None:
    return url if isinstance(url, str) and re.match(r"^https?://", url, re.I) else None


def _csl_text(item: dict) -> str:
    """A plain one-line rendering of a CSL-JSON item (authors. title. container. publisher, year.)."""
    names = []
    for a in item.get("author") or []:
        names.append(a.get("literal") or ", ".join(x for x in (a.get("family"), a.get("given")) if x))
    year = ((item.get("issued") or {}).get("date-parts") or [[None]])[0][0]
    parts = ["; ".join(n for n in names if n), item.get("title"), item.get("container-title"),
             ", ".join(str(x) for x in (item.get("publisher"), year) if x)]
    return ". ".join(str(p).rstrip(".") for p in parts if p) + "."


def _sources_rows(sources: list[dict]) -> list[dict]:
    rows = []
    for s in sources:
        lic = s.get("licence") or {}
        rows.append({"title": s.get("title") or s.get("slug"), "publisher": s.get("publisher"),
                     "url": _http(s.get("citation_url")), "licence": lic.get("title") or lic.get("name") or "unknown",
                     "licence_url": _http(lic.get("path")), "retrieved": s.get("retrieved"),
                     "citation": s.get("citation")})
    return rows


def cite_as(meta: dict) -> str:
    """The map's citation, as the page's sources panel gives it."""
    return meta.get("cite_as") or f"{meta.get('title') or 'This map'}. Built with facilitymap from the sources listed."


def _replace_once(html: str, mark: str, markup: str) -> str:
    if html.count(mark) != 1:
        raise PublishError(f"the built page has {html.count(mark)} '{mark}' markers (expected 1): rebuild the map "
                           "with this version of facilitymap")
    return html.replace(mark, markup, 1)


def _policy(html: str) -> str:
    """The page with its Content-Security-Policy recomputed for what publish added: the hashes of its own inline
    code (print.css, print.js) and 'self' for images (the <noscript> picture), keeping the build's hosts."""
    sources = csp.host_sources(csp.read(html))
    sources["img-src"] = ["'self'", *sources.get("img-src", [])]
    return csp.apply(html, sources)


def publish_page(html: str, url: str, sources: list[dict], citations: list[dict]) -> str:
    """The built page with the publishing head, the <noscript> picture and the sources section in place."""
    from .render import STATIC, _embed_snippet, _env, _inline_safe

    meta = map_meta(html)
    try:
        bad = csp.disallowed(html)
    except ValueError as e:
        raise PublishError(f"the built page: {e}: rebuild the map with this version of facilitymap") from None
    if bad:
        raise PublishError(f"the built page holds inline code its Content-Security-Policy does not allow ({bad[0]}): "
                           "was it edited after the build? Rebuild the map")
    title = meta.get("title") or meta.get("name") or "facilitymap"
    description = meta.get("description") or ""
    alt = f"Map: {title}"
    common = {"page_url": url, "title": title, "description": description, "image_url": urljoin(url, CARD),
              "image": CARD, "image_width": CARD_SIZE[0], "image_height": CARD_SIZE[1], "image_alt": alt}
    head = _env.get_template("publish_head.html").render(
        print_css=_inline_safe((STATIC / "print.css").read_text(encoding="utf-8"), "print.css"),
        print_js=_inline_safe((STATIC / "print.js").read_text(encoding="utf-8"), "print.js"), **common)
    html = _replace_once(html, HEAD_MARK, head.strip())
    html = _replace_once(html, NOSCRIPT_MARK, _env.get_template("publish_noscript.html").render(**common).strip())
    works = [{"text": _csl_text(c), "url": _http(c.get("URL"))} for c in citations]
    refs = _env.get_template("publish_sources.html").render(
        cite_as=cite_as(meta), sources=_sources_rows(sources), works=works, snippet=_embed_snippet(title, url),
        **common)
    m = END.search(html)
    if not m:
        raise PublishError("the built page does not end with </body></html>")
    return _policy(html[:m.start()] + refs + html[m.start():])


# --- the data package ---------------------------------------------------------------------------------------------

def _table_schema(path: Path) -> dict:
    with path.open(encoding="utf-8-sig", newline="") as fh:  # export.py writes a byte-order mark for Excel
        header = next(csv.reader(fh))
    types = CSV_TYPES.get(path.name, {})
    fields = []
    for name in header:
        f = {"name": name, "type": types.get(name, "string")}
        if f["type"] == "boolean":
            f.update(trueValues=["true"], falseValues=["false"])
        fields.append(f)
    return {"fields": fields, "missingValues": [""]}


def _licences(sources: list[dict]) -> list[dict]:
    seen, out = set(), []
    for s in sources:
        for lic in s.get("licences") or [s.get("licence") or {}]:
            entry = {k: lic[k] for k in ("name", "path", "title") if lic.get(k)}
            key = json.dumps(entry, sort_keys=True)
            if entry and key not in seen:
                seen.add(key)
                out.append(entry)
    return out


def datapackage(folder: Path, meta: dict, url: str, sources: list[dict]) -> dict:
    """datapackage.json over PACKAGE_FILES in folder: the map's citation, the sources and their licences."""
    import hashlib

    resources = []
    for name in PACKAGE_FILES:
        path = folder / name
        data = path.read_bytes()
        res = {"name": name.replace(".", "-").lower(), "path": name, "description": CSV_DESCRIPTIONS[name],
               "encoding": "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8", "bytes": len(data), "hash": "sha256:" + hashlib.sha256(data).hexdigest()}
        if name.endswith(".csv"):
            res.update(profile="tabular-data-resource", type="table", format="csv", mediatype="text/csv",
                       schema=_table_schema(path))
        elif name.endswith(".geojson"):
            res.update(format="geojson", mediatype="application/geo+json")
        else:
            res.update(format="json", mediatype="application/json")
        resources.append(res)
    name = re.sub(r"[^a-z0-9._-]+", "-", str(meta.get("name") or "map").lower()).strip("-") or "map"
    srcs = []
    for s in sources:
        entry = {"title": s.get("title") or s.get("slug")}
        if _http(s.get("citation_url")):
            entry["path"] = s["citation_url"]
        srcs.append(entry)
    cite = cite_as(meta)
    return {
        "name": name,
        "title": meta.get("title") or name,
        "description": ((meta.get("description") or "").strip() + f"\n\nCite as: {cite} {url}").strip(),
        "homepage": url,
        "licenses": _licences(sources),
        "sources": srcs,
        "resources": resources,
        "facilitymap": {"cite_as": cite, "page": url},
    }


def write_zip(folder: Path, names: list[str], out: Path) -> Path:
    """A zip of folder/names, byte-identical for identical files: sorted, fixed time and permissions."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(names):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, (folder / name).read_bytes(), compresslevel=9)
    out.write_bytes(buf.getvalue())
    return out


# --- the verb -----------------------------------------------------------------------------------------------------

def publish(map_dir: Path, base_url: str, out: Path, card: bool = True) -> PublishResult:
    """Write the folder to upload for map_dir (a built map) served at base_url into out.

    card=False skips the Chromium snapshot (tests of the page alone); the page then refers to a card.png that
    is not there, so the CLI always makes it.
    """
    from .builder import _swap
    from .render import render_embed

    map_dir, out = Path(map_dir), Path(out)
    url = page_url(base_url)
    if not (map_dir / "index.html").is_file():
        raise PublishError(f"{map_dir / 'index.html'}: no built map here")
    missing = [n for n in PACKAGE_FILES if not (map_dir / n).is_file()]
    if missing:
        raise PublishError(f"{map_dir}: missing {', '.join(missing)}: rebuild the map")
    if out.resolve() == map_dir.resolve():
        raise PublishError("--out must not be the built map's folder")
    html = (map_dir / "index.html").read_text(encoding="utf-8")
    meta = map_meta(html)
    sources = json.loads((map_dir / "sources.json").read_text(encoding="utf-8"))
    citations = json.loads((map_dir / "citations.json").read_text(encoding="utf-8"))

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        for name in PACKAGE_FILES + COPIED:
            if (map_dir / name).is_file():
                shutil.copyfile(map_dir / name, tmp / name)
        page = publish_page(html, url, sources, citations)
        (tmp / "index.html").write_text(page, encoding="utf-8", newline="\n")
        (tmp / "embed.html").write_text(render_embed(meta.get("title") or meta.get("name") or "Map", url),
                                        encoding="utf-8", newline="\n")
        export.write_json(datapackage(tmp, meta, url, sources), tmp / "datapackage.json")
        write_zip(tmp, ["datapackage.json", *PACKAGE_FILES], tmp / "datapackage.zip")
        if card:
            from .snapshot import snapshot

            snapshot(map_dir, tmp / CARD, width=CARD_SIZE[0], height=CARD_SIZE[1], hide=CARD_HIDE)
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PublishResult(out, url, sorted(p.name for p in out.iterdir()))
