"""The map page: one self-contained HTML file per map, and its embed snippet.

This is the only module that imports folium. folium builds the Leaflet map, its basemaps, the (empty) layer
groups and the layer control; our own script (static/js/*.js, concatenated) draws the sites from the JSON payload and builds
every panel with textContent. Leaflet is vendored (vendor/manifest.json) and inlined: the page loads nothing from
the network except basemap tiles, and element ids are fixed so the same payload gives byte-identical HTML.
"""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import folium
import jinja2
from branca.element import Element, Figure, MacroElement
from folium.template import Template
from markupsafe import Markup

from . import csp
from . import layers as layers_mod
from .page import DETAIL_CHUNK, DETAIL_ONLY, page_sites, page_time

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
VENDOR = HERE / "vendor"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Basemap:
    """A raster tile layer; attribution is required so it cannot be forgotten."""

    key: str
    name: str
    url: str
    attribution: str
    max_zoom: int
    max_native_zoom: int

    @property
    def origin(self) -> str:
        """scheme://host of the tile URL, for the Content-Security-Policy."""
        return re.match(r"^https://[^/]+", self.url).group(0)


OSM = Basemap(
    "osm",
    "OpenStreetMap",
    "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    19,
    19,
)
ESRI = Basemap(
    "esri",
    "Satellite (Esri World Imagery)",
    "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}",
    "Tiles &copy; Esri &mdash; Source: Esri, i-cubed, USDA, USGS, AEX, GeoEye, Getmapping, Aerogrid, IGN, IGP, "
    "UPR-EGP, and the GIS User Community",
    19,
    18,
)
BASEMAPS: dict[str, tuple[Basemap, ...]] = {
    "default": (OSM, ESRI),
    "osm": (OSM,),
    "satellite": (ESRI, OSM),
    "none": (),
}

# Overlay groups the page script fills besides the map's own layers: (key, label, shown at start).
EXTRA_GROUPS = (
    ("annotations", "Findings with citations (annotations)", False),
    ("tiles", "Sentinel-2 tiles (imagery footprints)", False),
)


def overlay_groups(payload: dict) -> list[tuple[str, str, bool]]:
    """The layer control's overlays in order: the payload's layers (key = layer id), then EXTRA_GROUPS."""
    out = [(layer["id"], layer["title"], layer["visible"]) for layer in payload.get("layers") or []]
    return out + [g for g in EXTRA_GROUPS if g[0] not in {k for k, _, _ in out}]


def control_label(text: str) -> str:
    """A layer's title as folium and Leaflet's layer control need it: Leaflet sets the label with innerHTML, so
    the title is HTML-escaped; branca renders folium's output again as jinja, so braces become character
    references too (a spec title ``{{ 7*7 }}`` must not become ``49``). The control shows the exact text."""
    return html_lib.escape(str(text), quote=True).replace("{", "&#123;").replace("}", "&#125;")


def _vendor_bytes(package: str, name: str) -> bytes:
    """A vendored file's bytes, checked against vendor/manifest.json."""
    manifest = json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))
    entry = next(p for p in manifest["packages"] if p["package"] == package)
    data = (VENDOR / entry["path"] / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["files"][name]:
        raise RuntimeError(f"vendor/{entry['path']}/{name} does not match vendor/manifest.json")
    return data


def _vendor_file(package: str, name: str) -> str:
    return _vendor_bytes(package, name).decode("utf-8")


def _inline_safe(text: str, what: str) -> str:
    """Code inlined in <script>/<style> must not close its element early."""
    if re.search(r"</(script|style)", text, re.IGNORECASE) or "<!--" in text:
        raise RuntimeError(f"{what} cannot be inlined: it contains '</script', '</style' or '<!--'")
    return text


@lru_cache(maxsize=1)
def _assets() -> dict[str, str]:
    """Leaflet and our own CSS/JS, ready to inline. Image URLs in leaflet.css become data: URIs."""
    css = _vendor_file("leaflet", "leaflet.css")
    for img in ("layers.png", "layers-2x.png"):
        uri = "data:image/png;base64," + base64.b64encode(_vendor_bytes("leaflet", f"images/{img}")).decode()
        css = css.replace(f"url(images/{img})", f"url({uri})")
    # Marker icons are never used (sites are canvas circles); keep the CSS from pointing at a missing file.
    css = css.replace("url(images/marker-icon.png)", "none")
    assets = {
        "leaflet_css": css,
        "leaflet_js": _vendor_file("leaflet", "leaflet.js"),
        "map_css": (STATIC / "map.css").read_text(encoding="utf-8"),
        "map_js": page_script(),
    }
    if "url(images/" in css:
        raise RuntimeError("leaflet.css still refers to an image file")
    return {k: _inline_safe(v, k) for k, v in assets.items()}


def page_script() -> str:
    """Our page script: the parts in static/js/ concatenated in file-name order (DESIGN.md, "The page script")."""
    parts = [STATIC / "timeline.js"] + sorted((STATIC / "js").glob("*.js"))  # fmTimeline: used by 65-timeline.js
    return "\n".join(p.read_text(encoding="utf-8") for p in parts)


def json_for_script(data) -> str:
    """JSON for a <script type="application/json"> block: sorted, and with <, >, & escaped so that
    '</script>' and '<!--' in the data cannot end the block."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def csp_sources(basemaps: tuple[Basemap, ...]) -> dict[str, list[str]]:
    """What the page's Content-Security-Policy allows beyond its own inline code (csp.policy): the tile hosts."""
    return {"img-src": [b.origin for b in basemaps]}


# --- folium elements with our own templates ------------------------------------------------------------


class _Page(Figure):
    """The document: html lang, charset and our head; no folium meta or CDN links."""

    _template = Template((TEMPLATES / "figure.html.j2").read_text(encoding="utf-8"))

    def __init__(self, head: str, tail: str):
        super().__init__()
        self.header._children.clear()
        self.head = head
        self.tail = tail


class _Map(folium.Map):
    """folium.Map without its CDN assets, viewport lock and jQuery hooks."""

    default_js: list = []
    default_css: list = []
    _template = Template((TEMPLATES / "map.js.j2").read_text(encoding="utf-8"))


def _slot(name: str) -> str:
    """A placeholder that folium renders; our markup replaces it after folium is done.

    branca renders every element's output again as a jinja template, so text placed inside folium's tree would be
    evaluated as template code (a site named ``{{ 7*7 }}`` would become ``49``). Markup that carries source text
    therefore never enters folium: it is put in place of these slots in the finished page. Source text cannot
    forge a slot: the JSON escapes ``<`` and the HTML escapes ``<`` as ``&lt;``.
    """
    return f"<!--fm:slot:{name}-->"


class _Markup(MacroElement):
    """A slot in the page body for markup rendered by our autoescaping jinja templates."""

    _template = Template("{% macro html(this, kwargs) %}{{ this.markup }}{% endmacro %}")

    def __init__(self, name: str):
        super().__init__()
        self.markup = _slot(name)


class _Init(MacroElement):
    """Calls FacilityMap.init(map, layer groups, layer control) once every folium layer exists."""

    _template = Template((TEMPLATES / "init.js.j2").read_text(encoding="utf-8"))

    def __init__(self, groups: dict, control, basemap_key: str):
        super().__init__()
        self.groups = groups
        self.control = control
        self.basemap_key = basemap_key


def _fixed(element, ident: str):
    """Replace folium's random uuid with a fixed id, so output is reproducible."""
    element._id = ident
    return element


# --- the page ------------------------------------------------------------------------------------------


def _label(fields: dict, field: str) -> str:
    return (fields.get(field) or {}).get("label") or field


# Bidi classes that can reorder text around them: right-to-left letters and digits, and the explicit controls.
_BIDI_ACTIVE = {"R", "AL", "AN", "LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}


def _has_rtl(text: str) -> bool:
    """Whether text has right-to-left letters or digits or bidi controls (then the list isolates it)."""
    return any(unicodedata.bidirectional(c) in _BIDI_ACTIVE for c in str(text))


def _bdi(value) -> Markup:
    """Source text among other text, escaped; in a <bdi> when it could reorder the line around it (a value of
    left-to-right letters, digits and punctuation only cannot, and stays bare: the list is large)."""
    return Markup("<bdi>{}</bdi>" if _has_rtl(value) else "{}").format(value)


def _joined(values, sep: str) -> Markup:
    return Markup(sep).join(_bdi(v) for v in values)


def _site_rows(payload: dict) -> list[dict]:
    """Plain rows for the server-side list of all sites (no-JS and screen-reader view), grouped by layer."""
    sources = {s.get("slug"): s for s in payload.get("sources", [])}
    fields = payload.get("fields") or {}
    resolved = layers_mod.indexed(payload.get("layers") or [])
    rows = []
    for feature in payload.get("sites", {}).get("features", []):
        p = feature.get("properties") or {}
        listed = []
        for rec in p.get("records") or []:
            src = sources.get(rec.get("source")) or {}
            listed.append(Markup("{} ({})").format(_bdi(src.get("title") or rec.get("source")),
                                                   _bdi(rec.get("record_id"))))
        point, cls, _ = layers_mod.assign(resolved, feature) if resolved else (None, None, None)
        detail = []
        if point is not None:  # the site's class in its layer (the legend's words), else the layer's title
            layer = resolved[point]
            if cls is not None and layer["legend"][cls][0] is not None:
                value = layer["legend"][cls][0]
                label = layer["labels"].get(value)
                detail.append(_bdi(label) if label else Markup("{}: {}").format(
                    _bdi(_label(fields, layer["color_by"])), _bdi(value)))
            else:
                detail.append(_bdi(layer["title"]))
        order = {k: i for i, k in enumerate(fields)}
        names = [(k[5:], p[k]) for k in sorted(p, key=lambda k: (order.get(k, len(order)), k))
                 if k.startswith("name_") and k != "name_en" and isinstance(p[k], str) and p[k]
                 and k[5:].replace("_", "").isalnum()]
        rows.append(
            {
                "site_id": str(p.get("site_id", "")),
                "name": p.get("name") or p.get("name_en") or str(p.get("site_id", "")),
                "names": [(lang.replace("_", "-"), text, _has_rtl(text)) for lang, text in names],
                "kind": _bdi(p["kind"]) if p.get("kind") else "",
                "place": _joined([x for x in (p.get("county"), p.get("prefecture") or p.get("region")) if x], ", "),
                "detail": Markup(" · ").join(detail),
                "listed": Markup("; ").join(listed),
                "order": point if point is not None else len(resolved),
            }
        )
        r = rows[-1]
        place = f"{p.get('lat')}, {p.get('lon')}"
        r["rest"] = Markup(" · ").join(x for x in (r["kind"], r["place"], r["detail"],
                                                    Markup("listed in ") + r["listed"] if r["listed"] else "", place) if x)
    rows.sort(key=lambda r: (r["order"], r["name"].casefold(), r["site_id"]))
    return rows


def page_data(payload: dict) -> tuple[str, list[str]]:
    """(the fm-data block, the fm-detail-<n> blocks): the payload with its sites as `page.page_sites` gives them,
    as JSON safe inside <script type="application/json">."""
    core, details = page_sites(payload)
    data = {k: core if k == "sites" else v for k, v in payload.items() if k not in DETAIL_ONLY}
    data.setdefault("sites", core)
    if "time" in data:
        data["time"] = page_time(data["time"])
    chunks = [json_for_script(details[i:i + DETAIL_CHUNK]) for i in range(0, len(details), DETAIL_CHUNK)]
    return json_for_script(data), chunks


def render_map(payload: dict, basemap: str = "default", embed_url: str | None = None) -> str:
    """The map page as one HTML string; the same payload and options give the same bytes.

    basemap: a key of BASEMAPS ("default": OpenStreetMap + Esri imagery; "none": no request at all).
    embed_url: the page's public URL, shown in the "embed this map" snippet when known.
    """
    if basemap not in BASEMAPS:
        raise ValueError(f"unknown basemap {basemap!r}; choose one of {', '.join(sorted(BASEMAPS))}")
    basemaps = BASEMAPS[basemap]
    assets = _assets()
    meta = payload.get("map") or {}
    title = meta.get("title") or meta.get("name") or "facilitymap"
    n_sites = len((payload.get("sites") or {}).get("features") or [])

    # The head holds only our code; the title and description (spec text) go into the "meta" slot after the
    # policy is computed, with every other slot that carries source text.
    slots = {"head": _env.get_template("head.html").render(meta=_slot("meta"), **assets)}
    slots["meta"] = _env.get_template("meta.html").render(title=title, description=meta.get("description") or "").strip()
    page = _fixed(_Page(_slot("head"), _slot("tail")), "page")
    for part in (page.header, page.html, page.script):
        _fixed(part, "part")
    slots["top"] = _env.get_template("top.html").render(title=title, n_sites=n_sites)
    page.add_child(_fixed(_Markup("top"), "top"), name="top")
    fmap = _fixed(
        _Map(
            location=None,
            tiles=None,
            prefer_canvas=True,
            control_scale=True,
            world_copy_jump=False,
        ),
        "fm",
    )
    page.add_child(fmap, name="map")
    for i, b in enumerate(basemaps):
        folium.TileLayer(
            tiles=b.url,
            attr=b.attribution,
            name=control_label(b.name),
            max_zoom=b.max_zoom,
            max_native_zoom=b.max_native_zoom,
            overlay=False,
            control=True,
            show=(i == 0),
        ).add_to(fmap)
        _fixed(list(fmap._children.values())[-1], b.key)
    groups = {}
    for key, label, shown in overlay_groups(payload):
        groups[key] = _fixed(folium.FeatureGroup(name=control_label(label), show=shown), key)
        fmap.add_child(groups[key], name=key)
    control = _fixed(folium.LayerControl(collapsed=True, position="topright"), "layers")
    fmap.add_child(control, name="layers")
    fmap.add_child(_fixed(_Init(groups, control, basemap), "init"), name="init")
    data, details = page_data(payload)
    slots["bottom"] = _env.get_template("bottom.html").render(data=data, details=details)
    # The list of all sites (the view without JavaScript) comes after the page script in the document, so the map
    # is drawn while the browser still parses it; it is shown below the map either way.
    slots["tail"] = _env.get_template("list.html").render(
        rows=_site_rows(payload),
        embed=_embed_snippet(title, embed_url) if embed_url else "",
    )
    page.add_child(_fixed(_Markup("bottom"), "bottom"), name="bottom")
    html = page.render()
    bad = []
    for name, markup in slots.items():
        if html.count(_slot(name)) != 1:
            raise RuntimeError(f"page template lost or repeated the {name} slot")
        html = html.replace(_slot(name), markup, 1)
        if name == "head":
            # Every inline script and style is in the page now, and no source text yet: hash them.
            html = csp.apply(html, csp_sources(basemaps))
        else:
            bad += csp.code_in(markup)  # the slots that carry source text must hold no code
    if bad:
        raise RuntimeError(f"inline code the page's policy does not allow: {bad[:3]}; either source text became code "
                           "(an escaping failure) or a template put code in a slot that carries source text (meta, "
                           "top, bottom, tail): our scripts and styles belong in head.html")
    return html


def _embed_snippet(map_title: str, page_url: str) -> str:
    if re.match(r"^\s*[a-z][a-z0-9+.-]*:", page_url or "", re.I) and not re.match(r"^https?://", page_url, re.I):
        raise ValueError(f"page_url must be an http(s) or relative URL, not {page_url!r}")
    return _env.get_template("embed_snippet.html").render(title=map_title, url=page_url).strip()


def render_embed(map_title: str, page_url: str) -> str:
    """embed.html: a copy-paste snippet for a responsive iframe (full width, fixed aspect ratio, a title), and a
    preview of it; its policy allows only the snippet's style attributes and the page in the frame."""
    snippet = _embed_snippet(map_title, page_url)
    html = _env.get_template("embed.html").render(title=map_title, url=page_url, snippet=snippet)
    origin = re.match(r"^https?://[^/?#]+", page_url, re.I)
    return csp.apply(html, {"frame-src": [origin.group(0).lower() if origin else "'self'"]})
