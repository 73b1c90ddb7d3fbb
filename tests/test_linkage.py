"""The probabilistic matcher, crosswalks and normalised disagreements, on small cases made here (no source is
named anywhere in the package, so the slugs below are invented)."""

import math

import geopandas as gpd
import pytest
from shapely.geometry import Point

from facilitymap import linkage
from facilitymap.places import PlaceTable
from facilitymap.reconcile import reconcile

LAT0, LON0 = 41.0, 80.0
COLUMNS = ["source", "record_id", "row", "kind", "name", "name_en", "name_zh", "name_ug", "county", "prefecture",
           "attrs", "original", "geometry"]
TABLE = PlaceTable(
    [{"key": "nordby", "local": "Nordby", "latin": "Northton", "basis": "test"},
     {"key": "sudby", "local": "Sudby", "latin": "Southton;Suddington", "basis": "test"},
     {"key": "vale", "local": "Vale", "latin": "Valley;Valea", "basis": "test"}],
    {"local": ["local", "latin"], "latin": ["latin", "local"]}, suffixes=[" county"])


def at(east_m=0.0, north_m=0.0):
    dlat = north_m / 111_195.0
    dlon = east_m / (111_195.0 * math.cos(math.radians(LAT0)))
    return Point(LON0 + dlon, LAT0 + dlat)


def records(source, *rows):
    """Each row: (record_id, name, geometry, extra dict: county, prefecture, original columns, attrs)."""
    out = []
    for n, (rid, name, geom, extra) in enumerate(rows, start=2):
        extra = dict(extra)
        original = {"id": rid, "name": name, **extra.pop("original", {})}
        out.append({"source": source, "record_id": str(rid), "row": n, "kind": extra.pop("kind", "detention"),
                    "name": name, "name_en": None, "name_zh": None, "name_ug": None,
                    "county": extra.pop("county", None), "prefecture": extra.pop("prefecture", None),
                    "attrs": extra, "original": original, "geometry": geom})
    return gpd.GeoDataFrame(out, columns=COLUMNS, geometry="geometry", crs="EPSG:4326")


def town(source, n, spacing_m=6000, offset=(0.0, 0.0), numbered="Facility #{}", county="Nordby", skip=()):
    """n facilities on a line `spacing_m` apart (far enough to be told apart), as one list gives them."""
    rows = []
    for i in range(1, n + 1):
        if i in skip:
            continue
        name = f"{county} " + numbered.format(i) if numbered else None
        rows.append((i, name, at(i * spacing_m + offset[0], offset[1]), {"county": county}))
    return rows


def site_of(result, source, rid):
    rec = result.records[(result.records.source == source) & (result.records.record_id == str(rid))]
    assert len(rec) == 1
    return rec.iloc[0]["site_id"]


def match_entry(result, source, rid):
    sid = site_of(result, source, rid)
    row = result.sites[result.sites.site_id == sid].iloc[0]
    entries = [m for m in row["match"] if m["source"] == source and m["record_id"] == str(rid)]
    return entries[0] if entries else None


OPTS = {"places": TABLE}


# --- text and names ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [("Satellite – strong", "satellite - strong"), ("Ürümqi", "Urumqi"),
                                  ("ＡＢＣ  1", "abc 1"), ("“quoted”", '"QUOTED"'), ("O’Neil", "o'neil")])
def test_fold_makes_typographic_variants_equal(a, b):
    assert linkage.fold(a) == linkage.fold(b)


def test_fold_keeps_real_differences():
    assert linkage.fold("Satellite – strong") != linkage.fold("Satellite – weak")
    assert linkage.fold("  ") is None and linkage.fold(None) is None


@pytest.mark.parametrize("name, parts", [
    ("Nordby Facility #5", ("nordby", 5, "facility")),
    ("Northton - V", ("nordby", 5, None)),
    ("Northton County 12", ("nordby", 12, None)),
    ("Suddington - II", ("sudby", 2, None)),
    ("Elsewhere camp", (None, None, "elsewhere camp")),
])
def test_name_parts_read_place_number_and_rest_through_the_alias_table(name, parts):
    assert linkage.name_parts(name, TABLE) == parts


# --- the probabilistic matcher -------------------------------------------------------------------------------------

def test_a_new_list_with_no_settings_is_matched_with_probability_and_evidence():
    # "ref" lists 12 facilities; "new" gives 10 of them 20-250 m off in another naming scheme, and 2 of its own.
    ref = town("ref", 12)
    new = [(100 + i, f"Northton - {i}", at(i * 6000 + (20 + 23 * i), 15), {}) for i in range(1, 11)]
    new += [(200, "Northton - 40", at(3000, 2500), {}), (201, None, at(80_000, 0), {})]
    inputs = {"ref": records("ref", *ref), "new": records("new", *new)}
    r = reconcile(inputs, ["ref", "new"], OPTS)
    for i in range(1, 11):
        assert site_of(r, "new", 100 + i) == f"ref-{i}"
        e = match_entry(r, "new", 100 + i)
        assert e["method"] == "probabilistic" and e["probability"] >= 0.5
        assert e["evidence"].startswith("same place: ") and " apart" in e["evidence"]
        assert "same county" in e["evidence"]
    assert site_of(r, "new", 200) == "new-200" and site_of(r, "new", 201) == "new-201"
    assert r.report["rules"]["new"] == {"new-site": 2, "probabilistic": 10}
    model = r.report["models"]["new ~ ref"]
    assert model["blocked_pairs"] >= 10 and 0 < model["prior_match_share"] < 1
    unnamed = r.sites[r.sites.site_id == "new-201"].iloc[0]
    assert unnamed["name"] == "Unnamed site (new 201)" and unnamed["name_generated"] is True


def test_every_record_of_a_candidate_site_is_compared_not_just_its_point():
    # The site's point (ref) is 400 m from the new record, but a record already in the site is 3 m from it.
    inputs = {"ref": records("ref", (1, "Nordby Facility #1", at(0, 0), {"county": "Nordby"})),
              "mid": records("mid", (7, "Nordby camp", at(390, 0), {"county": "Nordby"})),
              "new": records("new", (9, None, at(393, 0), {}))}
    opts = {**OPTS, "force": [{"records": ["ref:1", "mid:7"], "reason": "the publisher says so (test)"}]}
    r = reconcile(inputs, ["ref", "mid", "new"], opts)
    assert site_of(r, "mid", 7) == "ref-1"
    assert site_of(r, "new", 9) == "ref-1"
    e = match_entry(r, "new", 9)
    assert e["compared_with"] == {"source": "mid", "record_id": "7"} and e["distance_m"] < 10


def test_same_record_id_in_two_releases_a_few_metres_apart_is_always_one_site():
    # Release 2 moved record 7 by 4 m, which puts it 1 m from release 1's record 8 (a neighbour): still record 7.
    rel1 = [(7, "Vale - 1", at(0, 0), {}), (8, "Vale - 2", at(5, 0), {})]
    rel2 = [(7, "Valley - 1", at(4, 0), {}), (8, "Valley - 2", at(9, 0), {})]
    inputs = {"rel-1": records("rel-1", *rel1), "rel-2": records("rel-2", *rel2)}
    r = reconcile(inputs, ["rel-1", "rel-2"], OPTS)
    assert site_of(r, "rel-2", 7) == site_of(r, "rel-1", 7)
    assert site_of(r, "rel-2", 8) == site_of(r, "rel-1", 8)
    assert match_entry(r, "rel-2", 7)["method"] == "same-id"
    assert r.report["releases"] == ["rel-2 ~ rel-1"]


def test_a_number_two_unrelated_lists_share_by_chance_is_not_a_release():
    # list "other" numbers its facilities 1..6 like "ref", but only its record 3 happens to lie near ref's 3
    ref = town("ref", 6)
    other = [(i, f"Sudby camp {i}", at(i * 6000 + 3000, 2000), {}) for i in (1, 2, 4, 5, 6)]
    other.append((3, "Nordby camp", at(3 * 6000 + 30, 0), {}))
    r = reconcile({"ref": records("ref", *ref), "other": records("other", *other)}, ["ref", "other"], OPTS)
    assert r.report["releases"] == []
    assert match_entry(r, "other", 3)["method"] == "probabilistic"


def test_one_to_one_per_source_pair_and_a_second_listing_under_the_same_name_joins():
    ref = town("ref", 6)
    new = [(11, "Nordby - 1", at(6000 + 30, 0), {}), (12, "Nordby - 1", at(6000 + 90, 40), {})]
    new += [(100 + i, f"Nordby - {i}", at(i * 6000 + 25, 0), {}) for i in range(2, 7)]
    r = reconcile({"ref": records("ref", *ref), "new": records("new", *new)}, ["ref", "new"], OPTS)
    assert site_of(r, "new", 11) == "ref-1"          # the likelier of the two takes the one-to-one link
    assert site_of(r, "new", 12) == "ref-1"          # the other is a second listing of the same name
    assert match_entry(r, "new", 12)["second_listing_of"] == ["11"]
    assert match_entry(r, "new", 11)["method"] == "probabilistic"
    assert r.report["rules"]["new"]["duplicate"] == 1


def test_force_and_forbid_overrides_with_reasons_in_the_report():
    ref = town("ref", 6)
    new = [(100 + i, f"Nordby - {i}", at(i * 6000 + 20, 0), {}) for i in range(1, 7)]
    new.append((150, "Nordby - 50", at(40_000, 0), {}))
    opts = {**OPTS,
            "forbid": [{"records": ["ref:2", "new:102"], "reason": "imagery shows two compounds (test)"}],
            "force": [{"records": ["new:150", "ref:6"], "reason": "the publisher's erratum (test)"}]}
    r = reconcile({"ref": records("ref", *ref), "new": records("new", *new)}, ["ref", "new"], opts)
    assert site_of(r, "new", 102) == "new-102"
    assert site_of(r, "new", 150) == "ref-6"
    assert match_entry(r, "new", 150)["method"] == "forced"
    assert match_entry(r, "new", 150)["reason"] == "the publisher's erratum (test)"
    overrides = {o["override"]: o for o in r.report["overrides"]}
    assert overrides["forbid"]["held"] is True and overrides["forbid"]["reason"].startswith("imagery")
    assert overrides["force"]["held"] is True and overrides["force"]["sites"] == ["ref-6", "ref-6"]
    with pytest.raises(ValueError, match="reason"):
        reconcile({"ref": records("ref", *ref)}, ["ref"], {**OPTS, "force": [{"records": ["ref:1", "x:2"]}]})


def test_weak_links_and_near_misses_go_to_review_with_both_records():
    ref = town("ref", 10)
    new = [(100 + i, f"Nordby - {i}", at(i * 6000 + 20, 0), {}) for i in range(1, 10)]
    new.append((110, "Sudby - 3", at(10 * 6000 + 700, 300), {}))  # far-ish and naming another county
    r = reconcile({"ref": records("ref", *ref), "new": records("new", *new)}, ["ref", "new"],
                  {**OPTS, "review_from": 0.0})
    review = {x["record_id"]: x for x in r.report["to_review"]}
    assert "110" in review
    x = review["110"]
    assert [s["source"] for s in x["records"]] == ["new", "ref"]
    assert x["records"][0]["name"] == "Sudby - 3" and x["records"][1]["record_id"] == "10"
    assert "different county" in x["evidence"]


def test_output_is_deterministic():
    ref = town("ref", 8)
    new = [(100 + i, f"Northton - {i}", at(i * 6000 + 17 * i, 9), {}) for i in range(1, 9)]
    inputs = {"ref": records("ref", *ref), "new": records("new", *new)}
    a = reconcile(inputs, ["ref", "new"], OPTS)
    b = reconcile({k: g.iloc[::-1].reset_index(drop=True) for k, g in inputs.items()}, ["ref", "new"], OPTS)
    assert a.report == b.report
    assert a.sites.drop(columns="geometry").to_json() == b.sites.drop(columns="geometry").to_json()


# --- crosswalks ----------------------------------------------------------------------------------------------------

def test_crosswalk_is_measured_blind_then_used_as_evidence():
    ref = town("ref", 6)
    # "pub" cites ref ids in column "REF #": 1-4 right, 5 cites ref 6 (the matcher links 5 to ref 5), 6 cites
    # nothing; "#N/A" and an unknown id are kept aside.
    cites = {1: "1", 2: "2", 3: "3, 99", 4: "#N/A, 4", 5: "6", 6: ""}
    pub = [(i, f"Nordby - {i}", at(i * 6000 + 20, 0), {"original": {"REF #": cites[i]}}) for i in range(1, 7)]
    pub = [(100 + i, *rest) for i, *rest in pub]  # its own numbering
    opts = {**OPTS, "crosswalks": {"pub": [{"column": "REF #", "source": "ref", "separator": ","},
                                           {"column": "OTHER", "source": "not-here"}]}}
    r = reconcile({"ref": records("ref", *ref), "pub": records("pub", *pub)}, ["ref", "pub"], opts)
    cw = {c["column"]: c for c in r.report["crosswalks"]}
    m = cw["REF #"]
    assert m["measured"] and m["publisher_pairs"] == 5 and m["matcher_pairs"] == 6 and m["agreed"] == 4
    assert m["precision"] == pytest.approx(4 / 6, abs=1e-4) and m["recall"] == pytest.approx(4 / 5, abs=1e-4)
    assert m["precision_where_cited"] == pytest.approx(4 / 5, abs=1e-4)
    assert m["cited_ids_not_found"] == [{"record_id": "103", "cited": "99"}]
    kinds = sorted((d["kind"], d["records"][0]["record_id"], d["records"][1]["record_id"])
                   for d in m["disagreements"])
    assert kinds == [("matcher links, publisher does not", "105", "5"),
                     ("matcher links, publisher does not", "106", "6"), ("publisher links, matcher does not", "105", "6")]
    assert all(d["distance_m"] is not None for d in m["disagreements"])
    assert cw["OTHER"]["measured"] is False and "not a source of this map" in cw["OTHER"]["note"]
    # then the publisher's link is used, and says the matcher disagreed
    assert site_of(r, "pub", 105) == "ref-6"
    e = match_entry(r, "pub", 105)
    assert e["method"] == "crosswalk" and e["matcher_agrees"] is False and e["cited"] == "pub REF #"
    assert match_entry(r, "pub", 101)["matcher_agrees"] is True
    assert r.report["crosswalk_links"]["matcher_disagrees"] == [
        {"site_id": "ref-6", "source": "pub", "record_id": "105", "cited": "pub REF #"}]


# --- disagreements after normalisation -------------------------------------------------------------------------------

def test_no_disagreement_for_values_equal_after_normalisation_and_raw_values_kept():
    a = records("a", (1, "Vale Facility #1", at(0, 0), {"county": "Vale", "prefecture": "Ürümqi",
                                                         "status": "Satellite – strong"}))
    b = records("b", (1, "Vale Facility #1", at(2, 0), {"county": "Valea County", "prefecture": "URUMQI",
                                                         "status": "satellite -  strong"}))
    c = records("c", (1, "Vale Facility #1", at(3, 0), {"status": "Satellite – weak"}))
    r = reconcile({"a": a, "b": b, "c": c}, ["a", "b", "c"],
                  {**OPTS, "site_fields": ["name", "county", "prefecture", "status"]})
    site = r.sites[r.sites.site_id == "a-1"].iloc[0]
    assert [s["source"] for s in site["records"]] == ["a", "b", "c"]
    fields = {d["field"]: d for d in site["disagreements"]}
    assert set(fields) == {"status"}  # county, prefecture and the dash variant agree; "weak" is a real one
    assert [v["value"] for v in site["attributes"]["status"]] == ["Satellite – strong", "satellite -  strong",
                                                                  "Satellite – weak"]
    assert site["status"] == "Satellite – strong"


# --- the real shipped sources: a newer release added blind ---------------------------------------------------------

def test_a_newer_release_added_blind_matches_its_publishers_cross_reference():
    """BuzzFeed's 2021 release, with no matching settings, against its own `ASPI 2020 #` column (issue 9's
    held-out check); its records 0 m from their 2020 release join them."""
    from pathlib import Path

    from facilitymap import readers, registry
    from facilitymap.builder import match_options
    from facilitymap.spec import load_map_spec

    root = Path(__file__).resolve().parents[1]
    spec = load_map_spec(root / "maps", "xinjiang")
    slugs = ["aspi-xjdp-markers", "aspi-camp-dataset-v1", "buzzfeed-2020", "buzzfeed-2021"]
    by_slug = {s.slug: s for s in registry.load_sources(root / "sources")}
    inputs = {s: readers.read_source(by_slug[s]).records for s in slugs}
    opts = match_options(spec, [by_slug[s] for s in slugs])
    assert "buzzfeed-2021" not in opts.get("sources", {})
    r = reconcile(inputs, slugs, opts)
    (cw,) = [c for c in r.report["crosswalks"] if c["measured"]]
    assert cw["publisher_pairs"] == 369
    assert cw["precision_where_cited"] >= 0.99 and cw["recall_records"] >= 0.97 and cw["recall"] >= 0.97
    assert {(c["source"], c["column"]) for c in r.report["crosswalks"] if not c["measured"]} == {
        ("buzzfeed-2021", "ETNAM"), ("buzzfeed-2021", "Shawn Zhang #"), ("aspi-camp-dataset-v1", "# Shawn"),
        ("aspi-camp-dataset-v1", "# ETNAM")}
    assert r.report["rules"]["buzzfeed-2021"]["same-id"] >= 100
    # same record id, a few metres apart: same site, always
    pos = {}
    for s, rid, sid, g in zip(r.records["source"], r.records["record_id"], r.records["site_id"], r.records.geometry):
        pos[(s, rid)] = (sid, g)
    for (s, rid), (sid, g) in pos.items():
        if s == "buzzfeed-2021" and ("buzzfeed-2020", rid) in pos:
            sid0, g0 = pos[("buzzfeed-2020", rid)]
            if g0.distance(g) < 1e-4:  # about 10 m
                assert sid == sid0, rid
