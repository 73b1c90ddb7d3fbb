"""layers.py: the spec's `layers:` resolved into each site's layer, legend entry and the legend."""

from __future__ import annotations

import pytest

from facilitymap import layers

FIELDS = {"tier": {"label": "Tier"}, "status": {"label": "Status"}, "capacity": {"label": "Capacity"}}


def site(sid, *, kind="detention", sources=("a",), geometry="Point", **props):
    g = {"type": geometry, "coordinates": [0, 0]} if geometry == "Point" else \
        {"type": geometry, "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    return {"type": "Feature", "geometry": g, "properties": {
        "site_id": sid, "kind": kind, "records": [{"source": s, "record_id": sid} for s in sources], **props}}


def test_first_matching_layer_then_fallback_and_outlines():
    spec = [{"id": "a_only", "title": "A", "where": {"only_source": "a"}, "color_by": "tier",
             "colors": {1: "#000001", 2: "#000002"}},
            {"id": "rest", "title": "Rest"},
            {"id": "shapes", "title": "Shapes", "geometry": "outlines"},
            {"id": "culture", "title": "C", "where": {"kind": "cultural"}}]
    feats = [site("s1", tier=2), site("s2", sources=("a", "b"), tier=1), site("s3", kind="cultural", sources=("c",)),
             site("s4", tier=3.0, geometry="Polygon"), site("s5")]
    out = layers.resolve(spec, feats, FIELDS)
    assert [layers.assign(out, f) for f in feats] == [(0, 1, None), (1, None, None), (3, None, None),
                                                       (0, 2, 2), (0, 3, None)]
    a = out[0]
    # declared values in the spec's order (even when no site has them), then others from the palette, then missing
    assert a["legend"] == [["1", "#000001", 0], ["2", "#000002", 1], ["3", layers.PALETTE[0], 1],
                           [None, layers.MISSING_COLOR, 1]]
    assert [x["count"] for x in out] == [3, 1, 1, 1]
    assert a["sources"] == ["a"]


def test_where_conditions_and_attribute_values():
    p = {"kind": "detention", "records": [{"source": "x"}], "attributes": {"capacity": [{"value": 80}]}}
    assert layers.matches({"capacity": 80}, p) and layers.matches({"capacity": [10, "80"]}, p)
    assert layers.matches({"capacity": {"present": True}}, p) and not layers.matches({"tier": {"present": True}}, p)
    assert layers.matches({"kind": {"not": "cultural"}}, p) and not layers.matches({"source": ["y"]}, p)
    assert layers.matches({"source": ["y", "x"], "only_source": "x"}, p)


def test_site_no_layer_takes_goes_to_other_sites_and_palette_order_is_sorted():
    spec = [{"id": "typed", "title": "T", "where": {"kind": "prison"}, "color_by": "status"}]
    feats = [site("p1", kind="prison", status="b"), site("p2", kind="prison", status="a"),
             site("p3", kind="prison", status="c"), site("x1", kind="other")]
    out = layers.resolve(spec, feats, FIELDS)
    assert [e[:2] for e in out[0]["legend"]] == [["a", layers.PALETTE[0]], ["b", layers.PALETTE[1]],
                                                 ["c", layers.PALETTE[2]]]
    assert out[-1]["id"] == "other_sites" and out[-1]["count"] == 1
    assert layers.assign(out, feats[3])[0] == len(out) - 1


def test_bad_layers_are_named():
    problems = layers.check([{"id": "Bad id", "colour_by": "x"}, {"id": "t", "color_by": "nope", "colors": {1: "red"}},
                             {"id": "tiles"}], FIELDS)
    assert any("layers[0] (Bad id): id must be" in p for p in problems)
    assert any("unknown key 'colour_by'" in p for p in problems)
    assert any("color_by 'nope' is not a field" in p for p in problems)
    assert any("colour for 1 must be #rrggbb" in p for p in problems)
    assert any("'tiles' is the page's own" in p for p in problems)
    with pytest.raises(layers.LayerError):
        layers.resolve([{"id": "t", "color_by": "nope"}], [], FIELDS)


def test_without_layers_one_layer_and_outlines():
    out = layers.resolve(None, [site("s1"), site("s2", geometry="Polygon")], FIELDS)
    assert [(x["id"], x["geometry"], x["count"]) for x in out] == [("sites", "points", 2), ("outlines", "outlines", 1)]


def test_palette_skips_the_colours_the_spec_gives():
    spec = [{"id": "typed", "title": "T", "color_by": "status", "colors": {"b": layers.PALETTE[0].upper()}}]
    feats = [site("p1", status="a"), site("p2", status="b"), site("p3", status="c")]
    (out,) = layers.resolve(spec, feats, FIELDS)
    assert [e[:2] for e in out["legend"]] == [["b", layers.PALETTE[0]], ["a", layers.PALETTE[1]],
                                              ["c", layers.PALETTE[2]]]
