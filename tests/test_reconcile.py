"""Reconciliation on small hand-made cases (built here, in code), and on the real shipped sources."""

import math
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, Polygon

from facilitymap import reconcile as reconcile_module
from facilitymap.builder import load_map_spec, match_options


M = "aspi-xjdp-markers"
V1 = "aspi-camp-dataset-v1"
BF = "buzzfeed-2020"
OSM = "osm-reeducation-camps"
PRIORITY = [M, V1, BF, OSM]
LAT0, LON0 = 39.0, 76.0
MAPS_DIR = Path(__file__).resolve().parents[1] / "maps"
# The Xinjiang map's settings (maps/xinjiang.yaml `match:` and `places:`) with the rule-based method and the
# thresholds it had before the probabilistic matcher (docs/matching-evaluation.md): the cases below test the rules.
# The probabilistic matcher is tested in test_linkage.py.
XJ = match_options(load_map_spec(MAPS_DIR, "xinjiang"))
XJ["method"] = "rules"
XJ["sources"] = {**XJ["sources"],
                 V1: {**XJ["sources"][V1], "name_match_m": 1000, "distance": {"strict_m": 50, "place_m": 50}},
                 BF: {**XJ["sources"][BF], "distance": {"strict_m": 300, "place_m": 1000}}}


def reconcile(inputs, priority, options=None):
    """reconcile with the Xinjiang map's options, `options` overlaid (per-source settings merged)."""
    opts = dict(XJ)
    for key, value in (options or {}).items():
        if key == "sources":
            opts["sources"] = {**XJ["sources"], **{
                slug: {**XJ["sources"].get(slug, {}), **conf} for slug, conf in value.items()}}
        else:
            opts[key] = value
    return reconcile_module.reconcile(inputs, priority, opts)


COLUMNS = ["source", "record_id", "row", "kind", "name", "name_en", "name_zh", "name_ug", "county", "prefecture",
           "attrs", "original", "geometry"]


def at(east_m=0.0, north_m=0.0):
    """A point this many metres east and north of a fixed origin in Kashgar."""
    dlat = north_m / 111_195.0
    dlon = east_m / (111_195.0 * math.cos(math.radians(LAT0)))
    return Point(LON0 + dlon, LAT0 + dlat)


def square(cx_m, cy_m, half_m):
    corners = [(cx_m - half_m, cy_m - half_m), (cx_m + half_m, cy_m - half_m), (cx_m + half_m, cy_m + half_m),
               (cx_m - half_m, cy_m + half_m)]
    return Polygon([(at(x, y).x, at(x, y).y) for x, y in corners])


def records(source, *rows):
    """Records in the readers' shape; each row: (record_id, name, geometry, extra dict)."""
    out = []
    for n, (rid, name, geom, extra) in enumerate(rows, start=2):
        extra = dict(extra)
        rec = {"source": source, "record_id": str(rid), "row": n, "kind": extra.pop("kind", "detention"),
               "name": name, "name_en": None, "name_zh": extra.pop("name_zh", None), "name_ug": None,
               "county": extra.pop("county", None), "prefecture": extra.pop("prefecture", None),
               "attrs": extra, "original": {"id": rid, "name": name}, "geometry": geom}
        out.append(rec)
    return gpd.GeoDataFrame(out, columns=COLUMNS, geometry="geometry", crs="EPSG:4326")


def site(result, site_id):
    rows = result.sites[result.sites.site_id == site_id]
    assert len(rows) == 1, f"no site {site_id}: {list(result.sites.site_id)}"
    return rows.iloc[0]


def members(result, site_id):
    return [(r["source"], r["record_id"]) for r in site(result, site_id)["records"]]


def check_every_record_in_one_site(result, inputs):
    n = sum(len(g) for g in inputs.values())
    assert len(result.records) == n
    assert result.records["site_id"].notna().all()
    listed = [(r["source"], r["record_id"]) for recs in result.sites["records"] for r in recs]
    assert len(listed) == len(set(listed)) == n
    joined = set(zip(result.records["source"], result.records["record_id"], result.records["site_id"]))
    assert joined == {(r["source"], r["record_id"], sid) for sid, recs in zip(result.sites.site_id,
                                                                           result.sites["records"]) for r in recs}


# --- ASPI markers <-> ASPI v1 ---------------------------------------------------------------------------------------

def test_name_match_beats_a_nearer_point_and_normalises_case_and_punctuation():
    # Two facilities 10 m apart; the v1 record sits on #2 but is named like #1 (case and spacing differ).
    inputs = {
        M: records(M, (11, "Shufu Facility #1", at(0, 0), {"tier": 2}), (12, "Shufu Facility #2", at(10, 0), {})),
        V1: records(V1, (1, "shufu  facility 1", at(10, 0), {"tier": 3}), (2, "Shufu Facility #2", at(0, 0), {})),
    }
    r = reconcile(inputs, PRIORITY)
    assert members(r, "aspi-11") == [(M, "11"), (V1, "1")]
    assert members(r, "aspi-12") == [(M, "12"), (V1, "2")]
    m = site(r, "aspi-11")["match"]
    assert m == [{"source": V1, "record_id": "1", "method": "name", "distance_m": 10.0}]
    assert r.report["rules"][V1] == {"name": 2}
    check_every_record_in_one_site(r, inputs)


def test_name_match_too_far_is_rejected_and_the_record_matched_by_distance():
    # ASPI renumbered: v1 "#3" is now marker "#2" (same point); marker "#3" is 8 km away.
    inputs = {
        M: records(M, (2, "Peyziwat Facility #2", at(0, 0), {}), (3, "Peyziwat Facility #3", at(8000, 0), {})),
        V1: records(V1, (30, "Peyziwat Facility #3", at(0.2, 0), {})),
    }
    r = reconcile(inputs, PRIORITY)
    assert members(r, "aspi-2") == [(M, "2"), (V1, "30")]
    assert site(r, "aspi-2")["match"][0]["method"] == "distance"
    assert members(r, "aspi-3") == [(M, "3")]
    rej = r.report["rejected_name_matches"]
    assert [(x["record_id"], x["site_id"]) for x in rej] == [("30", "aspi-3")]
    assert rej[0]["distance_m"] == pytest.approx(8000, abs=5)


def test_v1_record_far_from_everything_founds_its_own_site_and_is_reported():
    inputs = {M: records(M, (1, "A Facility #1", at(0, 0), {})),
              V1: records(V1, (7, "A Facility #9", at(5000, 0), {}))}
    r = reconcile(inputs, PRIORITY)
    assert set(r.sites.site_id) == {"aspi-1", "aspi1-7"}
    assert r.report["unmatched"] == {V1: ["7"]}


def test_duplicate_listing_joins_the_site_and_is_reported():
    # v1 lists one place twice; the second listing joins the same site instead of founding a twin.
    inputs = {M: records(M, (1, "A Facility #1", at(0, 0), {})),
              V1: records(V1, (1, "A Facility #1", at(0, 0), {}), (4, "A Facility #4", at(0.05, 0), {}))}
    r = reconcile(inputs, PRIORITY)
    assert members(r, "aspi-1") == [(M, "1"), (V1, "1"), (V1, "4")]
    dup = [a for a in r.report["ambiguities"] if a["stage"] == "duplicate"]
    assert [(a["record_id"], a["chosen"]) for a in dup] == [("4", "aspi-1")]
    assert r.report["rules"][V1] == {"name": 1, "duplicate": 1}


def test_location_disagreement_over_100_m_is_listed_with_distance():
    inputs = {M: records(M, (1, "A Facility #1", at(0, 0), {})),
              V1: records(V1, (1, "A Facility #1", at(0, 250), {}))}
    r = reconcile(inputs, PRIORITY)
    dis = [d for d in site(r, "aspi-1")["disagreements"] if d["field"] == "location"]
    assert len(dis) == 1 and dis[0]["distance_m"] == pytest.approx(250, abs=1)
    assert [v["source"] for v in dis[0]["values"]] == [M, V1]
    assert r.report["location_disagreements"] == [
        {"site_id": "aspi-1", "source": V1, "record_id": "1", "distance_m": dis[0]["distance_m"]}]


# --- BuzzFeed <-> ASPI ------------------------------------------------------------------------------------------------

def test_distance_match_within_strict_threshold_and_county_support_beyond_it():
    inputs = {
        M: records(M, (1, "Konasheher Facility #1", at(0, 0), {"county": "Konasheher"}),
                   (2, "Konasheher Facility #2", at(20_000, 0), {"county": "Konasheher"}),
                   (3, "Kashgar Facility #1", at(40_000, 0), {"county": "Kashgar"})),
        BF: records(BF, (101, "Shufu - 1", at(250, 0), {"status": "corroborated"}),   # strict: 250 m
                    (102, "Shufu - 2", at(20_700, 0), {}),                             # 700 m, county agrees
                    (103, "Shufu - 3", at(40_700, 0), {})),                            # 700 m, county differs
    }
    r = reconcile(inputs, PRIORITY)
    assert members(r, "aspi-1") == [(M, "1"), (BF, "101")]
    assert members(r, "aspi-2") == [(M, "2"), (BF, "102")]
    assert members(r, "aspi-3") == [(M, "3")]
    assert members(r, "bf-103") == [(BF, "103")]
    m2 = site(r, "aspi-2")["match"][0]
    assert m2["method"] == "distance" and m2["county_agrees"] is True and m2["distance_m"] == pytest.approx(700, 1)
    assert r.report["rules"][BF] == {"distance": 1, "distance+county": 1, "new-site": 1}
    # BuzzFeed's "Shufu" is ASPI's "Konasheher": no county disagreement; the site keeps ASPI's spelling
    s1 = site(r, "aspi-1")
    assert s1["county"] == "Konasheher"
    assert not [d for d in s1["disagreements"] if d["field"] == "county"]
    assert s1["status"] == "corroborated"
    assert [e["source"] for e in s1["attributes"]["county"]] == [M, BF]
    assert site(r, "bf-103")["county"] == "Shufu"  # taken from the BuzzFeed label, and marked so
    assert site(r, "bf-103")["attributes"]["county"] == [
        {"value": "Shufu", "source": BF, "record_id": "103", "derived_from": "name"}]


def test_one_to_one_nearest_pair_wins_and_the_other_record_founds_a_site():
    inputs = {M: records(M, (1, "X Facility #1", at(0, 0), {})),
              BF: records(BF, (201, "Kashi - 1", at(200, 0), {}), (202, "Kashi - 2", at(0, 60), {}))}
    r = reconcile(inputs, PRIORITY)
    assert members(r, "aspi-1") == [(M, "1"), (BF, "202")]
    assert members(r, "bf-201") == [(BF, "201")]
    amb = [a for a in r.report["ambiguities"] if a["source"] == BF]
    assert [(a["record_id"], a["chosen"]) for a in amb] == [("201", None)]
    assert "taken" in amb[0]["rule"]
    assert r.report["unmatched"] == {BF: ["201"]}


def test_two_candidates_for_one_record_are_reported_with_the_choice():
    inputs = {M: records(M, (1, "X Facility #1", at(0, 0), {}), (2, "X Facility #2", at(400, 0), {})),
              BF: records(BF, (301, "Kashi - 1", at(150, 0), {}))}
    r = reconcile(inputs, PRIORITY)
    assert members(r, "aspi-1") == [(M, "1"), (BF, "301")]
    amb = r.report["ambiguities"]
    assert len(amb) == 1 and amb[0]["chosen"] == "aspi-1"
    assert [c["site_id"] for c in amb[0]["candidates"]] == ["aspi-1", "aspi-2"]
    assert r.report["ambiguity_counts"] == {"distance": 1}


def test_cultural_sites_stay_one_each_and_never_absorb_records():
    inputs = {M: records(M, (5, "Id Kah Mosque", at(0, 0), {"kind": "cultural", "name_zh": "艾提尕尔清真寺"})),
              BF: records(BF, (401, "Kashi - 1", at(5, 0), {}))}
    r = reconcile(inputs, PRIORITY)
    assert members(r, "aspi-5") == [(M, "5")]
    assert site(r, "aspi-5")["kind"] == "cultural" and site(r, "aspi-5")["name_zh"] == "艾提尕尔清真寺"
    assert site(r, "bf-401")["kind"] == "detention"
    assert r.report["sites_by_kind"] == {"cultural": 1, "detention": 1}


# --- OSM outlines ---------------------------------------------------------------------------------------------------

def test_containment_gives_the_site_its_outline_and_keeps_the_point():
    inputs = {M: records(M, (1, "X Facility #1", at(30, 30), {})),
              OSM: records(OSM, ("way/9", "某教培中心", square(0, 0, 200), {}))}
    r = reconcile(inputs, PRIORITY)
    s = site(r, "aspi-1")
    assert members(r, "aspi-1") == [(M, "1"), (OSM, "way/9")]
    assert s.geometry.geom_type == "Polygon"
    assert (s["lon"], s["lat"]) == (round(at(30, 30).x, 6), round(at(30, 30).y, 6))
    assert s["match"][0]["method"] == "containment"


def test_outline_near_a_point_matches_by_distance_and_far_outline_founds_an_osm_site():
    inputs = {M: records(M, (1, "X Facility #1", at(0, 0), {})),
              OSM: records(OSM, ("way/1", "", square(160, 0, 100), {}),        # edge 60 m away
                           ("relation/2", "", square(5000, 0, 100), {}))}      # far away
    r = reconcile(inputs, PRIORITY)
    m = site(r, "aspi-1")["match"][0]
    assert m["method"] == "outline-distance" and m["distance_m"] == pytest.approx(60, abs=1)
    far = site(r, "osm-relation-2")
    assert far["kind"] == "detention" and far.geometry.geom_type == "Polygon"
    assert far.geometry.contains(Point(far["lon"], far["lat"]))


def test_outline_containing_two_sites_goes_to_the_one_nearest_its_centre_and_is_reported():
    inputs = {M: records(M, (1, "X Facility #1", at(-120, 0), {}), (2, "X Facility #2", at(40, 0), {})),
              OSM: records(OSM, ("way/5", "", square(0, 0, 200), {}))}
    r = reconcile(inputs, PRIORITY)
    assert members(r, "aspi-2") == [(M, "2"), (OSM, "way/5")]
    assert members(r, "aspi-1") == [(M, "1")]
    assert site(r, "aspi-1").geometry.geom_type == "Point"
    amb = r.report["ambiguities"]
    assert len(amb) == 1 and amb[0]["stage"] == "outline" and amb[0]["chosen"] == "aspi-2"
    assert sorted(c["site_id"] for c in amb[0]["candidates"]) == ["aspi-1", "aspi-2"]
    # the site left with its point says which outline it lies in, and which site holds it
    assert site(r, "aspi-1")["near_outlines"] == [
        {"source": OSM, "record_id": "way/5", "site_id": "aspi-2", "method": "containment", "distance_m": 0.0}]
    assert site(r, "aspi-2")["near_outlines"] == []


# --- values, determinism, ids ---------------------------------------------------------------------------------------

def test_priority_decides_the_value_and_differences_are_disagreements():
    inputs = {M: records(M, (1, "A Facility #1", at(0, 0), {"tier": 2, "latest_imagery": "2020-03"})),
              V1: records(V1, (1, "A Facility #1", at(0, 0), {"tier": 3, "latest_imagery": "2020-03"}))}
    r = reconcile(inputs, PRIORITY)
    s = site(r, "aspi-1")
    assert s["tier"] == 2 and s["latest_imagery"] == "2020-03"
    assert s["attributes"]["tier"] == [{"value": 2, "source": M, "record_id": "1"},
                                       {"value": 3, "source": V1, "record_id": "1"}]
    assert [d["field"] for d in s["disagreements"]] == ["tier"]
    r2 = reconcile(inputs, [V1, M, BF, OSM])  # the other way round, v1 founds the site
    assert site(r2, "aspi1-1")["tier"] == 3


def _scene():
    return {
        M: records(M, (10, "A Facility #1", at(0, 0), {"county": "Kashgar"}),
                   (2, "A Facility #2", at(3000, 0), {"county": "Kashgar"}),
                   (7, "Mosque", at(100, 100), {"kind": "cultural"})),
        V1: records(V1, (3, "A Facility #2", at(3000, 5), {}), (1, "A Facility #1", at(0, 0), {})),
        BF: records(BF, (9, "Kashi - 1", at(100, 0), {}), (8, "Kashi - 2", at(3100, 0), {}),
                    (11, "Kashi - 3", at(90_000, 0), {})),
        OSM: records(OSM, ("way/3", "", square(0, 0, 150), {}), ("way/20", "", square(50_000, 0, 100), {})),
    }


def test_output_is_deterministic_whatever_the_input_order():
    a = reconcile(_scene(), PRIORITY)
    shuffled = {k: g.iloc[::-1].reset_index(drop=True) for k, g in reversed(list(_scene().items()))}
    b = reconcile(shuffled, PRIORITY)
    assert list(a.sites.site_id) == sorted(a.sites.site_id)
    assert a.sites.drop(columns="geometry").to_json() == b.sites.drop(columns="geometry").to_json()
    assert list(a.sites.geometry.to_wkt()) == list(b.sites.geometry.to_wkt())
    assert a.report == b.report
    assert list(zip(a.records.source, a.records.record_id, a.records.site_id)) == \
        list(zip(b.records.source, b.records.record_id, b.records.site_id))
    check_every_record_in_one_site(a, _scene())


def test_site_ids_are_stable_and_come_from_the_founding_record():
    r = reconcile(_scene(), PRIORITY)
    assert list(r.sites.site_id) == ["aspi-10", "aspi-2", "aspi-7", "bf-11", "osm-way-20"]
    # adding an unrelated record elsewhere changes no existing id
    more = _scene()
    more[BF] = records(BF, (9, "Kashi - 1", at(100, 0), {}), (8, "Kashi - 2", at(3100, 0), {}),
                       (11, "Kashi - 3", at(90_000, 0), {}), (12, "Kashi - 4", at(70_000, 0), {}))
    r2 = reconcile(more, PRIORITY)
    assert set(r.sites.site_id) < set(r2.sites.site_id)
    assert members(r2, "aspi-10") == members(r, "aspi-10")


def test_record_ids_with_same_digits_in_different_sources_do_not_collide():
    inputs = {M: records(M, (1, "A Facility #1", at(0, 0), {})),
              V1: records(V1, (1, "B Facility #1", at(9000, 0), {}))}
    r = reconcile(inputs, PRIORITY)
    assert list(r.sites.site_id) == ["aspi-1", "aspi1-1"]


def test_thresholds_come_from_options_and_typos_are_errors():
    inputs = {M: records(M, (1, "X Facility #1", at(0, 0), {})), BF: records(BF, (9, "Kashi - 1", at(250, 0), {}))}
    assert members(reconcile(inputs, PRIORITY), "aspi-1") == [(M, "1"), (BF, "9")]
    strict = reconcile(inputs, PRIORITY, {"sources": {BF: {"distance": {"strict_m": 200, "place_m": 200}}}})
    assert members(strict, "aspi-1") == [(M, "1")]
    assert strict.report["source_settings"][BF]["distance"] == {"strict_m": 200, "place_m": 200}
    with pytest.raises(ValueError, match="outline_metres"):
        reconcile(inputs, PRIORITY, {"outline_metres": 50})
    with pytest.raises(ValueError, match="site_prefix"):
        reconcile(inputs, PRIORITY, {"sources": {BF: {"site_prefix": "x-"}}})


# --- the real shipped sources ---------------------------------------------------------------------------------------

SOURCES_DIR = Path(__file__).resolve().parents[1] / "sources"


@pytest.fixture(scope="module")
def real(xinjiang_vocab):
    from facilitymap import readers, registry  # the shipped sources must be there: no skip

    by_slug = {s.slug: s for s in registry.load_sources(SOURCES_DIR)}
    inputs = {slug: readers.read_source(by_slug[slug], xinjiang_vocab).records for slug in PRIORITY}
    return inputs, reconcile(inputs, PRIORITY)


def test_real_sources_every_record_ends_in_exactly_one_site(real):
    inputs, r = real
    check_every_record_in_one_site(r, inputs)
    assert r.report["records"] == {s: len(g) for s, g in inputs.items()}


def test_real_sources_every_v1_record_joins_a_marker_site_or_is_reported(real):
    inputs, r = real
    rep = r.report
    reported = set(rep["unmatched"].get(V1, []))
    v1 = r.records[r.records.source == V1]
    for rid, sid in zip(v1.record_id, v1.site_id):
        assert sid.startswith("aspi-") or rid in reported, (rid, sid)
    assert rep["rules"][V1].get("name", 0) >= 360
    assert len(reported) <= 6
    # all cultural markers are sites of their own
    assert rep["sites_by_kind"]["cultural"] == int((inputs[M]["kind"] == "cultural").sum())
    # every OSM outline is a site's geometry
    outlines = r.sites[r.sites.geometry.geom_type != "Point"]
    assert len(outlines) == len(inputs[OSM])


def test_kinds_are_kept_as_given_and_only_standalone_kinds_skip_matching():
    """A map of wells and pumps: its kinds reach the sites as the sources give them; kinds the map's
    `standalone_kinds` names found a site each; every other kind is matched."""
    inputs = {M: records(M, (1, "Well A", at(0, 0), {"kind": "well"}), (2, "Shrine", at(300, 0), {"kind": "shrine"})),
              BF: records(BF, (9, "Pump A", at(10, 0), {"kind": "pump"}), (8, "Pump B", at(305, 0), {"kind": None}))}
    r = reconcile(inputs, PRIORITY, {"standalone_kinds": ["shrine"], "method": "rules"})
    assert members(r, "aspi-1") == [(M, "1"), (BF, "9")]
    assert site(r, "aspi-1")["kind"] == "well" and site(r, "aspi-2")["kind"] == "shrine"
    assert members(r, "aspi-2") == [(M, "2")]  # the shrine takes no record, though Pump B is 5 m away
    assert site(r, "bf-8")["kind"] == reconcile_module.NO_KIND
    assert r.report["rules"][M] == {"primary": 1, "standalone": 1}
