"""The context layer: land, borders and places clipped to the sites' extent, within a size budget, reproducibly."""
from __future__ import annotations

import hashlib
import json
import random

import pytest
import shapely
from shapely.geometry import shape

from facilitymap import context


def _sites(points):
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"site_id": str(i)}, "geometry": {"type": "Point", "coordinates": list(p)}}
        for i, p in enumerate(points)]}


# Sites on both sides of the English Channel: land, sea and the France–Belgium border are all in the extent.
CHANNEL = [(1.85, 50.95), (2.35, 51.03), (-0.12, 51.5), (1.1, 51.28)]


def _coords(geojson):
    for f in geojson["features"]:
        for x, y in shapely.get_coordinates(shape(f["geometry"])):
            yield x, y


def test_extent_is_the_sites_bounds_plus_a_margin():
    w, s, e, n = context.extent(_sites(CHANNEL))
    m = context.MARGIN_MIN_DEG  # the sites span less than that
    assert w == pytest.approx(-0.12 - m) and e == pytest.approx(2.35 + m)
    assert s == pytest.approx(50.95 - m) and n == pytest.approx(51.5 + m)
    wide = context.extent(_sites([(10, 0), (30, 10)]))
    assert wide == [10 - 20 * context.MARGIN_FRACTION, -10 * context.MARGIN_FRACTION, 30 + 20 * context.MARGIN_FRACTION,
                    10 + 10 * context.MARGIN_FRACTION]
    assert context.extent(_sites([])) is None
    assert context.context(_sites([])) is None


def test_land_borders_and_places_are_clipped_to_the_extent():
    ctx = context.context(_sites(CHANNEL))
    w, s, e, n = ctx["extent"]
    for part in ("land", "borders"):
        pts = list(_coords(ctx[part]))
        assert pts, part
        assert all(w - 1e-9 <= x <= e + 1e-9 and s - 1e-9 <= y <= n + 1e-9 for x, y in pts), part
    land = shapely.union_all([shape(f["geometry"]) for f in ctx["land"]["features"]])
    box = shapely.box(w, s, e, n)
    # the sea between England and France is not land; both shores are
    assert not land.contains(shapely.Point(1.3, 50.9))
    assert land.contains(shapely.Point(-0.12, 51.5)) and land.contains(shapely.Point(2.35, 50.5))
    assert 0.2 < land.area / box.area < 0.9
    names = [p[0] for p in ctx["places"]]
    assert "London" in names and "Lille" in names and "Paris" not in names  # Paris (48.85 N) lies south of it
    assert all(w <= lon <= e and s <= lat <= n for _, lon, lat, _ in ctx["places"])
    pops = [p[3] for p in ctx["places"]]
    assert pops == sorted(pops, reverse=True)


def test_output_is_deterministic_and_independent_of_site_order():
    a = json.dumps(context.context(_sites(CHANNEL)), sort_keys=True)
    shuffled = CHANNEL[:]
    random.Random(3).shuffle(shuffled)
    b = json.dumps(context.context(_sites(shuffled)), sort_keys=True)
    assert a == b


def test_a_large_extent_is_simplified_to_the_budget():
    world = _sites([(-120, -40), (150, 60)])
    budget = 60_000
    ctx = context.context(world, budget=budget, max_places=50)
    size = sum(len(json.dumps(ctx[k], separators=(",", ":"))) for k in ("land", "borders"))
    assert size <= budget
    assert ctx["simplified_deg"] > 0
    assert len(ctx["places"]) == 50
    full, _, tol = context.geography(ctx["extent"], budget=10_000_000)
    assert tol == 0 and len(json.dumps(full)) > len(json.dumps(ctx["land"]))
    with pytest.raises(ValueError, match="does not fit"):
        context.geography(ctx["extent"], budget=100)


def test_sources_name_licences_and_the_files_they_come_from():
    entries = context.sources()
    by_slug = {e["slug"]: e for e in entries}
    assert set(by_slug) == {"natural-earth", "geonames-cities"}
    assert all(e["layer"] == "context" and e["citation"] and e["citation_url"].startswith("https://") for e in entries)
    assert by_slug["natural-earth"]["licence"]["name"] == "public-domain"
    assert "ISC" in [x["name"] for x in by_slug["natural-earth"]["licences"]]
    assert by_slug["geonames-cities"]["licence"]["name"] == "CC-BY-4.0"
    from facilitymap import vendored

    data = vendored.read_bytes("world-atlas", "countries-50m.json")
    assert by_slug["natural-earth"]["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()


def test_the_shipped_map_gets_its_context_whole_and_small(tmp_path):
    """Built as a user builds it: every site inside the extent, no simplification needed, well under budget."""
    import shutil
    from pathlib import Path

    from facilitymap.builder import build

    root = Path(__file__).resolve().parent.parent
    shutil.copy(root / "maps" / "xinjiang.yaml", tmp_path / "xinjiang.yaml")
    shutil.copy(root / "maps" / "xinjiang-places.csv", tmp_path / "xinjiang-places.csv")
    build("xinjiang", sources_dir=root / "sources", maps_dir=tmp_path, basemap="none")
    sites = json.loads((tmp_path / "xinjiang" / "sites.geojson").read_text(encoding="utf-8"))
    ctx = context.context(sites)
    w, s, e, n = ctx["extent"]
    assert all(w < x < e and s < y < n for f in sites["features"] for x, y in shapely.get_coordinates(shape(f["geometry"])))
    assert ctx["simplified_deg"] == 0 and len(ctx["places"]) == context.MAX_PLACES
    size = len(json.dumps(ctx, separators=(",", ":"), ensure_ascii=False).encode())
    assert size < context.SIZE_BUDGET / 2
