"""Map layers from the map spec's ``layers:`` list: which layer draws each site, its colour, and the legend.

The page (legend, layer control, filters, site panel subtitles) reads only what `resolve` returns, so a map of any
kind of facility is styled by its spec, not by code (DESIGN.md, "Layers").
"""
from __future__ import annotations

import re

# Colour-blind-safe qualitative colours (Paul Tol's "bright", then "muted" schemes), given in this order to the
# values of a layer's field that the spec gives no colour.
PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377",
           "#332288", "#117733", "#44aa99", "#999933", "#882255", "#dd7788")
MISSING_COLOR = "#9aa3ad"  # a site of the layer without a value for its field
DEFAULT_COLOR = "#4d4d4d"  # a layer without color_by and without color
OUTLINE_COLOR = "#c2185b"
LAYER_KEYS = ("id", "title", "where", "geometry", "color_by", "colors", "labels", "missing_label", "color", "note",
              "visible", "radius")
WHERE_KEYS = ("kind", "source", "only_source")  # other `where` keys are field names
RESERVED_IDS = ("annotations", "tiles", "other_sites")  # the page's own groups
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class LayerError(ValueError):
    """A `layers:` entry the build cannot use; the message names the layer and the key."""


def value_key(v) -> str | None:
    """A field value as the legend compares it: None when missing, a whole float as an integer, else str."""
    if v is None or v == "" or isinstance(v, (list, dict)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def site_value(props: dict, field: str):
    """The site's value for a field: its reconciled property, else the first value any source gives."""
    v = props.get(field)
    if value_key(v) is None:
        for a in (props.get("attributes") or {}).get(field) or []:
            if isinstance(a, dict) and value_key(a.get("value")) is not None:
                return a["value"]
    return v


def _as_list(cond) -> list:
    return cond if isinstance(cond, list) else [cond]


def _test(cond, value) -> bool:
    """A `where` condition on one value: a value, a list of values, {"not": ...} or {"present": bool}."""
    if isinstance(cond, dict):
        if "present" in cond:
            return (value_key(value) is not None) == bool(cond["present"])
        if "not" in cond:
            return not _test(cond["not"], value)
        raise LayerError(f"unknown condition {cond!r} (use a value, a list, {{not: ...}} or {{present: true}})")
    return value_key(value) in {value_key(c) for c in _as_list(cond)}


def matches(where: dict | None, props: dict) -> bool:
    """Whether a site (sites.geojson properties) meets every condition of a layer's `where`."""
    slugs = [r.get("source") for r in props.get("records") or [] if isinstance(r, dict)]
    for key, cond in (where or {}).items():
        if key == "kind":
            ok = _test(cond, props.get("kind"))
        elif key == "source":
            ok = any(s in _as_list(cond) for s in slugs)
        elif key == "only_source":
            ok = bool(slugs) and all(s in _as_list(cond) for s in slugs)
        else:
            ok = _test(cond, site_value(props, key))
        if not ok:
            return False
    return True


def check(layers, fields: dict) -> list[str]:
    """Problems of a spec's `layers:` list (unknown keys, unknown fields, bad colours, repeated ids)."""
    if layers is None:
        return []
    if not isinstance(layers, list):
        return ["layers: must be a list"]
    problems, seen = [], set()
    for i, layer in enumerate(layers):
        where = f"layers[{i}]"
        if not isinstance(layer, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        lid = layer.get("id")
        where = f"layers[{i}] ({lid})"
        if not isinstance(lid, str) or not _ID.match(lid):
            problems.append(f"{where}: id must be lower-case letters, digits and _, starting with a letter")
        elif lid in seen:
            problems.append(f"{where}: id repeated")
        elif lid in RESERVED_IDS:
            problems.append(f"{where}: id {lid!r} is the page's own (reserved: {', '.join(RESERVED_IDS)})")
        seen.add(lid)
        for k in sorted(set(layer) - set(LAYER_KEYS)):
            problems.append(f"{where}: unknown key {k!r} (known: {', '.join(LAYER_KEYS)})")
        if layer.get("geometry", "points") not in ("points", "outlines"):
            problems.append(f"{where}: geometry must be points or outlines")
        cb = layer.get("color_by")
        if cb is not None and cb not in fields:
            problems.append(f"{where}: color_by {cb!r} is not a field of the map (known: {', '.join(sorted(fields))})")
        w = layer.get("where") or {}
        if not isinstance(w, dict):
            problems.append(f"{where}: where must be a mapping")
            w = {}
        for k in w:
            if k not in WHERE_KEYS and k not in fields:
                problems.append(f"{where}: where.{k} is neither {', '.join(WHERE_KEYS)} nor a field of the map")
        colors = layer.get("colors") or {}
        if not isinstance(colors, dict):
            problems.append(f"{where}: colors must map values to #rrggbb")
            colors = {}
        for v, c in list(colors.items()) + ([("color", layer["color"])] if "color" in layer else []):
            if not isinstance(c, str) or not _HEX.match(c):
                problems.append(f"{where}: colour for {v!r} must be #rrggbb, not {c!r}")
        if not isinstance(layer.get("labels") or {}, dict):
            problems.append(f"{where}: labels must map values to text")
    return problems


def _sort_key(values: list[str]):
    def num(v):
        try:
            return float(v)
        except ValueError:
            return None
    if all(num(v) is not None for v in values):
        return lambda v: (num(v), v)
    return lambda v: (v.casefold(), v)


def _geometry_is_outline(feature: dict) -> bool:
    return ((feature.get("geometry") or {}).get("type") in ("Polygon", "MultiPolygon"))


def assign(layers: list[dict], feature: dict) -> tuple[int | None, int | None, int | None]:
    """(point layer index, legend entry index or None, outline layer index or None) of one site Feature, for layers
    as `resolve` returns them. Layers with `where` are tried in order; a layer without one takes what is left."""
    p = feature.get("properties") or {}
    point = None
    for want_where in (True, False):
        for i, layer in enumerate(layers):
            if layer["geometry"] == "points" and bool(layer["where"]) == want_where and matches(layer["where"], p):
                point = i
                break
        if point is not None:
            break
    cls = None
    if point is not None and layers[point]["color_by"]:
        key = value_key(site_value(p, layers[point]["color_by"]))
        cls = layers[point]["_index"].get(key)
    outline = None
    if _geometry_is_outline(feature):
        outline = next((i for i, layer in enumerate(layers)
                        if layer["geometry"] == "outlines" and matches(layer["where"], p)), None)
    return point, cls, outline


def resolve(spec_layers: list | None, features: list[dict], fields: dict) -> list[dict]:
    """The payload's `layers`: each spec layer with its legend entries [[value, "#hex", count]] in a fixed order
    (values the spec colours, in its order; then other values, sorted, coloured from PALETTE less the spec's
    colours; then the missing value, null, in MISSING_COLOR), `labels`, `note`, `visible`, `radius`, the count of
    its sites, and `sources`: the slugs its `where` names, else those of its sites' records (cited under its
    legend).

    Without `layers:` the map has one layer of every site and, when some site has an outline, an outline layer.
    A site no layer takes goes to an added layer "Other sites", so no site is lost."""
    problems = check(spec_layers, fields)
    if problems:
        raise LayerError("; ".join(problems))
    if not spec_layers:
        spec_layers = [{"id": "sites", "title": "Sites"}]
        if any(_geometry_is_outline(f) for f in features):
            spec_layers.append({"id": "outlines", "title": "Outlines", "geometry": "outlines"})
    out = []
    for layer in spec_layers:
        geometry = layer.get("geometry", "points")
        colors = {value_key(k): v.lower() for k, v in (layer.get("colors") or {}).items()}
        out.append({
            "id": layer["id"], "title": layer.get("title") or layer["id"], "geometry": geometry,
            "where": layer.get("where") or {}, "color_by": layer.get("color_by"),
            "color": (layer.get("color") or (OUTLINE_COLOR if geometry == "outlines" else DEFAULT_COLOR)).lower(),
            "labels": {value_key(k): str(v) for k, v in (layer.get("labels") or {}).items()},
            "missing_label": layer.get("missing_label"), "missing_color": MISSING_COLOR,
            "note": layer.get("note"), "visible": bool(layer.get("visible", True)),
            "radius": layer.get("radius", 6), "sources": [],
            "_colors": colors, "_index": {k: n for n, k in enumerate(colors)},
        })
    for layer in out:
        for key in ("source", "only_source"):
            for slug in _as_list(layer["where"].get(key) or []):
                if slug not in layer["sources"]:
                    layer["sources"].append(slug)

    # First pass: which layer takes each site, and the values of each layer's field.
    values: list[dict[str | None, int]] = [{} for _ in out]
    counts = [0] * len(out)
    catch_all = None
    for f in features:
        point, _, outline = assign(out, f)
        if point is None:
            if catch_all is None:
                out.append({"id": "other_sites", "title": "Other sites", "geometry": "points", "where": {},
                            "color_by": None, "color": DEFAULT_COLOR, "labels": {}, "missing_label": None,
                            "missing_color": MISSING_COLOR, "note": None, "visible": True, "radius": 6,
                            "sources": [], "_colors": {}, "_index": {}})
                values.append({})
                counts.append(0)
                catch_all = len(out) - 1
            point = catch_all
        counts[point] += 1
        if not out[point]["where"].get("source") and not out[point]["where"].get("only_source"):
            for r in (f.get("properties") or {}).get("records") or []:
                slug = r.get("source") if isinstance(r, dict) else None
                if slug is not None and slug not in out[point]["sources"]:
                    out[point]["sources"].append(slug)
        if outline is not None:
            counts[outline] += 1
        cb = out[point]["color_by"]
        if cb:
            key = value_key(site_value(f.get("properties") or {}, cb))
            values[point][key] = values[point].get(key, 0) + 1

    # Legend entries in their fixed order; `_index` maps a value to its entry for `assign`.
    for layer, vals, n in zip(out, values, counts):
        legend = []
        if layer["color_by"]:
            legend = [[k, c, vals.get(k, 0)] for k, c in layer["_colors"].items()]
            others = sorted((k for k in vals if k is not None and k not in layer["_colors"]),
                            key=_sort_key([k for k in vals if k is not None]))
            # the palette without the colours the spec already gave (two values never share one by accident)
            palette = [c for c in PALETTE if c not in set(layer["_colors"].values())] or list(PALETTE)
            legend += [[k, palette[i % len(palette)], vals[k]] for i, k in enumerate(others)]
            if vals.get(None) or layer["missing_label"]:
                legend.append([None, MISSING_COLOR, vals.get(None, 0)])
        layer["legend"] = legend
        layer["_index"] = {e[0]: i for i, e in enumerate(legend)}
        layer["count"] = n
    return out


def public(layers: list[dict]) -> list[dict]:
    """The layers as the payload carries them (without the lookups `assign` uses)."""
    return [{k: v for k, v in layer.items() if not k.startswith("_")} for layer in layers]


def indexed(layers: list[dict]) -> list[dict]:
    """Payload layers made usable by `assign` again (the value -> legend entry lookup)."""
    return [dict(layer, _index={e[0]: i for i, e in enumerate(layer.get("legend") or [])}) for layer in layers]
