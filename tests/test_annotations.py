"""Annotations: every validation rule names the file, line and claim; targets resolve (site, record, area, alias,
geometry, map); generated disagreement claims; CSL-JSON read back and rendered; the shipped claims as issue 5 says."""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

import facilitymap.annotations as ann
from facilitymap.annotations.generate import generate_disagreement_claims, rule_problems
from facilitymap.errors import SourceError

ROOT = Path(__file__).resolve().parents[1]
# Area claims go through the Xinjiang map's place table (maps/xinjiang.yaml `places:`).
from facilitymap.spec import load_map_spec  # noqa: E402

XJ_PLACES = load_map_spec(ROOT / "maps", "xinjiang")["places_table"]
XJ_KW = {"canonical": XJ_PLACES.canonical, "place_label": XJ_PLACES.label}


def _xinjiang_rules():
    """The generated-annotation rules of the shipped map spec (the package itself has none)."""
    return load_map_spec(ROOT / "maps", "xinjiang")["rules"]
SHIPPED = ROOT / "sources" / "annotations-xinjiang-police-files"

ASPI = "aspi-xjdp-markers"
BF = "buzzfeed-2020"


# ---------------------------------------------------------------- fixtures built in code


def _sites() -> gpd.GeoDataFrame:
    """Four synthetic sites: two in Tekes, one in Konasheher (ASPI's name), one in Shufu (BuzzFeed's name)."""
    rows = [
        dict(site_id="aspi-1", name="Konasheher Facility #1", county="Konasheher", lon=75.86, lat=39.36,
             records=[{"source": ASPI, "record_id": "1"}, {"source": BF, "record_id": "106"}],
             attributes={"tier": [{"value": 4, "source": ASPI, "record_id": "1"}],
                         "status": [{"value": "probably closed", "source": BF, "record_id": "106"}]},
             disagreements=[{"field": "location", "distance_m": 640.4, "note": "",
                             "values": [{"value": [75.86, 39.36], "source": ASPI, "record_id": "1"},
                                        {"value": [75.8674, 39.3625], "source": BF, "record_id": "106"}]}]),
        dict(site_id="aspi-2", name="Tekes Facility #1", county="Tekes", lon=81.84, lat=43.22,
             records=[{"source": ASPI, "record_id": "2"}, {"source": BF, "record_id": "200"}],
             attributes={"tier": [{"value": 3, "source": ASPI, "record_id": "2"}],
                         "status": [{"value": "closed", "source": BF, "record_id": "200"}],
                         "desecuritisation": [{"value": True, "source": "aspi-camp-dataset-v1",
                                               "record_id": "9"}]},
             disagreements=[]),
        dict(site_id="aspi-3", name="Tekes Facility #2", county="Tekes", lon=81.90, lat=43.20,
             records=[{"source": ASPI, "record_id": "3"}, {"source": BF, "record_id": "201"}],
             attributes={"tier": [{"value": 1, "source": ASPI, "record_id": "3"}],
                         "status": [{"value": "closed", "source": BF, "record_id": "201"}]},
             disagreements=[]),
        dict(site_id="bf-300", name="Shufu - II", county="Shufu", lon=75.80, lat=39.40,
             records=[{"source": BF, "record_id": "300"}],
             attributes={"status": [{"value": "Pre-2016 programme", "source": BF, "record_id": "300"}]},
             disagreements=[]),
    ]
    return gpd.GeoDataFrame(rows, geometry=[Point(r["lon"], r["lat"]) for r in rows], crs="EPSG:4326")


def _records() -> gpd.GeoDataFrame:
    rows = [(ASPI, "1", "aspi-1", 75.86, 39.36), (BF, "106", "aspi-1", 75.8674, 39.3625),
            (ASPI, "2", "aspi-2", 81.84, 43.22), (BF, "200", "aspi-2", 81.84, 43.22),
            (ASPI, "3", "aspi-3", 81.90, 43.20), (BF, "201", "aspi-3", 81.90, 43.20),
            (BF, "300", "bf-300", 75.80, 39.40)]
    return gpd.GeoDataFrame({"source": [r[0] for r in rows], "record_id": [r[1] for r in rows],
                             "site_id": [r[2] for r in rows]},
                            geometry=[Point(r[3], r[4]) for r in rows], crs="EPSG:4326")


SOURCES = [
    {"slug": ASPI, "title": "ASPI markers", "publisher": "ASPI", "citation_url": "https://xjdp.aspi.org.au/",
     "retrieved": "2022-09-10", "layer": "sites"},
    {"slug": BF, "title": "BuzzFeed camps database", "publisher": "BuzzFeed News",
     "citation_url": "https://github.com/critocrito/xinjiang-camps-data", "retrieved": "2020-09-16",
     "layer": "sites"},
    {"slug": "aspi-camp-dataset-v1", "title": "ASPI v1", "publisher": "ASPI", "citation_url": None,
     "retrieved": None, "layer": "sites"},
    {"slug": "notes", "title": "our notes", "layer": "claims"},
]

GOOD = """\
works:
  A:
    type: interview
    title: An interview
    author: Zenz, Adrian
    container_title: The Magazine
    published: n.d.
  B:
    type: webpage
    title: A web page
    publisher: A Foundation
    published: "2022-05-24"
    url: https://example.org/page
claims:
  - id: good-claim
    target: {sites: [aspi-1]}
    text: Something a report says.
    date: "2018-09"
    category: leaked-documents
    status: reported
    citations:
      - {work: A, locator: image caption}
      - {work: B}
"""


def _write(tmp_path: Path, text: str, name: str = "claims.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def _problems(tmp_path: Path, text: str, name: str = "claims.yaml") -> list[str]:
    cs = ann.load_claims_file(_write(tmp_path, text, name), "notes")
    return [str(e) for e in ann.claim_problems(cs, _sites(), _records(), canonical=XJ_PLACES.canonical)]


def _one_problem(tmp_path: Path, text: str, claim_id: str, line: int, *needles: str) -> str:
    """Exactly one problem, and its message names the file, the line and the claim id (and the needles)."""
    probs = _problems(tmp_path, text)
    assert len(probs) == 1, probs
    msg = probs[0]
    assert msg.startswith(f"{tmp_path / 'claims.yaml'}:{line}: "), msg
    assert f"claim '{claim_id}'" in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


def _replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


# ---------------------------------------------------------------- validation: one test per rule


def test_the_good_file_has_no_problem(tmp_path):
    assert _problems(tmp_path, GOOD) == []


def test_claim_without_citations(tmp_path):
    text = GOOD.split("    citations:")[0]
    _one_problem(tmp_path, text, "good-claim", 15, "needs at least one citation")


def test_claim_with_empty_citation_list(tmp_path):
    text = GOOD.split("    citations:")[0] + "    citations: []\n"
    _one_problem(tmp_path, text, "good-claim", 21, "needs at least one citation")


def test_unknown_site_id(tmp_path):
    _one_problem(tmp_path, _replace("[aspi-1]", "[aspi-999]"), "good-claim", 16, "'aspi-999'", "not a site id")


def test_unknown_record_and_unknown_source(tmp_path):
    msg = _one_problem(tmp_path, _replace("[aspi-1]", f"['{BF}:999']"), "good-claim", 16,
                       f"source '{BF}' has no record '999'")
    assert "999" in msg
    _one_problem(tmp_path, _replace("[aspi-1]", "['nosuch:1']"), "good-claim", 16, "no source 'nosuch'")


def test_county_that_matches_no_site(tmp_path):
    _one_problem(tmp_path, _replace("{sites: [aspi-1]}", "{area: {county: Atlantis}}"), "good-claim", 16,
                 "county 'Atlantis' matches no site")


def test_county_with_its_own_geometry_needs_no_site(tmp_path):
    geom = '{type: Polygon, coordinates: [[[10, 10], [11, 10], [11, 11], [10, 10]]]}'
    text = _replace("{sites: [aspi-1]}", "{area: {county: Atlantis, geometry: " + geom + "}}")
    assert _problems(tmp_path, text) == []


def test_duplicate_claim_ids(tmp_path):
    second = GOOD.split("claims:\n")[1]
    probs = _problems(tmp_path, GOOD + second)
    assert len(probs) == 1, probs
    assert probs[0].startswith(f"{tmp_path / 'claims.yaml'}:24: claim 'good-claim': id is not unique"), probs
    assert "line 15" in probs[0]


def test_links_must_be_http(tmp_path):
    # a work's bad URL names the work (works are shared by claims)
    probs = _problems(tmp_path, _replace("url: https://example.org/page", "url: javascript:alert(1)"))
    assert probs == [f"{tmp_path / 'claims.yaml'}:13: work 'B': url 'javascript:alert(1)' is not an http:// "
                     "or https:// link"]
    # an inline citation's archived_url names the claim
    text = _replace("      - {work: B}", "      - {type: webpage, title: T, publisher: P, published: n.d.,\n"
                                        "         url: 'https://example.org/', archived_url: 'ftp://x.org/a'}")
    _one_problem(tmp_path, text, "good-claim", 24, "archived_url 'ftp://x.org/a' is not an http")


def test_quote_longer_than_50_words(tmp_path):
    ok = " ".join(["word"] * 50)
    assert _problems(tmp_path, _replace("{work: B}", "{work: B, quote: '" + ok + "'}")) == []
    long = " ".join(["word"] * 51)
    _one_problem(tmp_path, _replace("{work: B}", "{work: B, quote: '" + long + "'}"), "good-claim", 23,
                 "quote has 51 words; at most 50")


def test_quote_length_counts_chinese_characters_as_words():
    assert ann.model.word_count("a quote,  of five words") == 5
    assert ann.model.word_count("\u4e0d\u60dc\u4e00\u5207\u4ee3\u4ef7 at any cost") == 9


@pytest.mark.parametrize("old,new,line,needle", [
    ("    status: reported\n", "    status: reported\n    sttaus: x\n", 21, "unknown key 'sttaus' in a claim "
                                                                           "(did you mean 'status'?)"),
    ("{sites: [aspi-1]}", "{sites: [aspi-1], site: [x]}", 16, "unknown key 'site' in a target"),
    ("{work: B}", "{work: B, locater: p. 3}", 23, "unknown key 'locater'"),
    ("{work: B}", "{work: B, title: Other}", 23, "unknown key 'title' in a citation that refers to a work"),
    ("{sites: [aspi-1]}", "{area: {county: Tekes, prefecture: Ili}}", 16, "unknown key 'prefecture' in an area"),
])
def test_unknown_keys_at_every_level_of_a_claim(tmp_path, old, new, line, needle):
    _one_problem(tmp_path, _replace(old, new), "good-claim", line, needle)


def test_unknown_key_in_a_work_and_at_top_level(tmp_path):
    probs = _problems(tmp_path, _replace("    published: n.d.\n", "    published: n.d.\n    jornal: X\n"))
    assert probs == [f"{tmp_path / 'claims.yaml'}:8: work 'A': unknown key 'jornal' in a work; allowed: "
                     + ", ".join(ann.model.WORK_KEYS)]
    with pytest.raises(SourceError) as exc:
        ann.load_claims_file(_write(tmp_path, "claim: []\nclaims: []\n"), "notes")
    assert str(exc.value).startswith(f"{tmp_path / 'claims.yaml'}:1: unknown key 'claim' in top level")


def test_status_must_be_in_the_allowed_set(tmp_path):
    _one_problem(tmp_path, _replace("status: reported", "status: confirmed"), "good-claim", 20,
                 "status 'confirmed' is not one of reported, corroborated, disputed")
    _one_problem(tmp_path, _replace("    status: reported\n", ""), "good-claim", 15, "needs a 'status'")


@pytest.mark.parametrize("old,new,line,needle", [
    ('date: "2018-09"', 'date: "2018-13"', 18, "date '2018-13' is not"),
    ('date: "2018-09"', "date: Sep 2018", 18, "date 'Sep 2018' is not"),
    ('date: "2018-09"', "period: 2019/2017", 18, "period '2019/2017' is not START/END"),
    ('date: "2018-09"', "period: 2017", 18, "period '2017' is not START/END"),
])
def test_claim_dates_are_well_formed(tmp_path, old, new, line, needle):
    _one_problem(tmp_path, _replace(old, new), "good-claim", line, needle)


def test_published_dates_are_well_formed(tmp_path):
    probs = _problems(tmp_path, _replace('published: "2022-05-24"', "published: 24 May 2022"))
    assert probs == [f"{tmp_path / 'claims.yaml'}:12: work 'B': published '24 May 2022' is not YYYY, YYYY-MM, "
                     'YYYY-MM-DD or "n.d."']
    assert _problems(tmp_path, _replace('date: "2018-09"', "period: 2017-11/2018")) == []


def test_citation_of_an_undefined_work(tmp_path):
    _one_problem(tmp_path, _replace("{work: B}", "{work: E}"), "good-claim", 23, "cites work 'E'",
                 "known: A, B")


def test_work_without_author_or_publisher_or_url_or_print_details(tmp_path):
    probs = _problems(tmp_path, _replace("    publisher: A Foundation\n", "").replace(
        "    url: https://example.org/page\n", ""))
    assert [p.split(": ", 1)[1] for p in probs] == [
        "work 'B': needs an 'author' or a 'publisher'",
        "work 'B': needs a 'url' or, for a printed work, its details (container_title, volume, issue, pages, doi)"]


def test_broken_yaml_and_duplicate_keys_name_the_line(tmp_path):
    with pytest.raises(SourceError) as exc:
        ann.load_claims_file(_write(tmp_path, GOOD + "  - id: [unclosed\n"), "notes")
    assert str(exc.value).startswith(f"{tmp_path / 'claims.yaml'}:") and "not valid YAML" in str(exc.value)
    assert exc.value.line >= 24
    with pytest.raises(SourceError) as exc:
        ann.load_claims_file(_write(tmp_path, _replace("text: Something", "text: !!python/object:os.system x")),
                             "notes")
    assert str(exc.value).startswith(f"{tmp_path / 'claims.yaml'}:17: not valid YAML")
    with pytest.raises(SourceError) as exc:
        ann.load_claims_file(_write(tmp_path, _replace("    status: reported\n",
                                                       "    status: reported\n    status: disputed\n")), "notes")
    assert str(exc.value) == f"{tmp_path / 'claims.yaml'}:21: key 'status' appears twice in the same mapping"


def test_validate_claims_raises_the_first_problem_and_counts_the_rest(tmp_path):
    cs = ann.load_claims_file(_write(tmp_path, _replace("status: reported", "status: x").replace(
        "[aspi-1]", "[nope]")), "notes")
    with pytest.raises(SourceError) as exc:
        ann.validate_claims(cs, _sites(), _records(), canonical=XJ_PLACES.canonical)
    assert exc.value.path == str(tmp_path / "claims.yaml")
    assert "claim 'good-claim'" in str(exc.value) and "(and 1 more problem" in str(exc.value)


def test_geojson_claims_file(tmp_path):
    fc = {"type": "FeatureCollection",
          "works": {"B": {"type": "webpage", "title": "A web page", "publisher": "P", "published": "2022",
                          "url": "https://example.org/"}},
          "features": [
              {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
                  [[75.0, 39.0], [76.0, 39.0], [76.0, 40.0], [75.0, 40.0], [75.0, 39.0]]]},
               "properties": {"id": "drawn", "text": "A drawn area.", "status": "reported",
                              "citations": [{"work": "B"}]}},
              {"type": "Feature", "geometry": None,
               "properties": {"id": "typo", "target": "map", "text": "x", "status": "reported",
                              "citations": [{"work": "B", "locatr": "p. 1"}]}}]}
    path = tmp_path / "claims.geojson"
    path.write_text(json.dumps(fc, indent=1), encoding="utf-8")
    cs = ann.load_claims_file(path, "notes")
    probs = [str(e) for e in ann.claim_problems(cs, _sites(), _records(), canonical=XJ_PLACES.canonical)]
    assert len(probs) == 1 and "claim 'typo'" in probs[0] and "unknown key 'locatr'" in probs[0]
    line = int(probs[0].split(":")[1])
    assert '"locatr"' in path.read_text().splitlines()[line - 1]
    cs.claims = cs.claims[:1]
    (drawn,) = ann.resolve_claims(cs, _sites(), _records(), **XJ_KW)
    assert drawn["target_kind"] == "geometry" and drawn["site_ids"] == ["aspi-1", "bf-300"]


# ---------------------------------------------------------------- resolution


RESOLVE = """\
works:
  B: {type: webpage, title: A web page, publisher: A Foundation, published: "2022", url: "https://example.org/"}
claims:
  - {id: by-site, target: {sites: [aspi-2]}, text: t, status: reported, citations: [{work: B}]}
  - {id: by-record, target: {sites: ["buzzfeed-2020:106", "aspi-xjdp-markers:1"]}, text: t, status: disputed,
     citations: [{work: B, locator: p. 4, quote: a few words}]}
  - {id: by-area, target: {area: {county: Tekes}}, text: t, status: reported, period: 2017/2018,
     citations: [{work: B}]}
  - {id: by-alias-pinyin, target: {area: {county: Shufu}}, text: t, status: reported, citations: [{work: B}]}
  - {id: by-alias-uyghur, target: {area: {county: Konasheher County}}, text: t, status: reported,
     citations: [{work: B}]}
  - {id: whole-map, target: map, text: t, status: corroborated, citations: [{work: B}, {type: report,
     title: Inline report, author: ["Doe, Jane"], published: "2020-02", container_title: Reports}]}
"""


@pytest.fixture
def resolved(tmp_path):
    cs = ann.load_claims_file(_write(tmp_path, RESOLVE), "notes")
    return {c["id"]: c for c in ann.resolve_claims(cs, _sites(), _records(), **XJ_KW)}


def test_site_and_record_targets(resolved):
    assert resolved["by-site"]["target_kind"] == "site" and resolved["by-site"]["site_ids"] == ["aspi-2"]
    assert resolved["by-site"]["geometry"] == {"type": "Point", "coordinates": [81.84, 43.22]}
    rec = resolved["by-record"]
    assert rec["site_ids"] == ["aspi-1"]  # two records of one site
    assert rec["status"] == "disputed"
    assert rec["citations"] == [{"n": 1, "id": "notes:B", "reference": "A Foundation, \u201cA web page\u201d, 2022",
                                 "type": "webpage", "title": "A web page", "publisher": "A Foundation",
                                 "published": "2022", "url": "https://example.org/", "locator": "p. 4",
                                 "quote": "a few words"}]
    assert rec["target"] == {"type": "site", "site_ids": ["aspi-1"]}


def test_area_target_is_drawn_at_its_sites_and_marked_area_level(resolved):
    area = resolved["by-area"]
    assert (area["target_kind"], area["level"], area["drawn_at"], area["area"]) == ("area", "area", "sites", "Tekes")
    assert area["site_ids"] == ["aspi-2", "aspi-3"]
    assert area["geometry"] == {"type": "MultiPoint", "coordinates": [[81.84, 43.22], [81.9, 43.2]]}
    assert area["period"] == "2017/2018"
    assert area["target"] == {"type": "area", "county": "Tekes", "name": "Tekes County"}


def test_county_alias_konasheher_is_shufu(resolved):
    # ASPI writes Konasheher, BuzzFeed Shufu: either name finds the sites under both.
    assert resolved["by-alias-pinyin"]["site_ids"] == ["aspi-1", "bf-300"]
    assert resolved["by-alias-uyghur"]["site_ids"] == ["aspi-1", "bf-300"]
    # the reader sees both spellings, whichever the claim used
    assert resolved["by-alias-pinyin"]["target"]["name"] == "Konasheher (Shufu) County"
    assert resolved["by-alias-uyghur"]["target"]["name"] == "Konasheher (Shufu) County"


@pytest.mark.parametrize("name", ["Shufu", "Konasheher", "Konasheher County", "shufu county", "\u758f\u9644\u53bf"])
def test_county_names_in_any_script_find_the_same_sites(name):
    assert ann.SiteIndex(_sites(), _records(), XJ_PLACES.canonical).county_sites(name) == ["aspi-1", "bf-300"]


def test_map_level_claim_and_inline_citation(resolved):
    m = resolved["whole-map"]
    assert (m["target"], m["target_kind"], m["site_ids"], m["geometry"], m["drawn_at"]) == ("map", "map", [], None,
                                                                                          None)
    assert [c["id"] for c in m["citations"]] == ["notes:B", "notes:whole-map-2"]
    assert m["citations"][1]["reference"] == "Jane Doe, \u201cInline report\u201d, Reports, 2020-02"


def test_claims_for_site_and_geojson(resolved):
    claims = list(resolved.values())
    assert ann.claims_for_site(claims) == {
        "aspi-1": ["by-alias-pinyin", "by-alias-uyghur", "by-record"],
        "aspi-2": ["by-area", "by-site"],
        "aspi-3": ["by-area"],
        "bf-300": ["by-alias-pinyin", "by-alias-uyghur"],
    }
    fc = json.loads(json.dumps(ann.annotations_geojson(claims)))
    assert fc["type"] == "FeatureCollection"
    assert [f["id"] for f in fc["features"]] == sorted(resolved)
    by_id = {f["id"]: f for f in fc["features"]}
    assert by_id["whole-map"]["geometry"] is None
    assert by_id["by-area"]["properties"]["level"] == "area"
    assert "geometry" not in by_id["by-area"]["properties"]


def test_claim_ids_unique_across_sources(tmp_path):
    a = ann.load_claims_file(_write(tmp_path, GOOD, "a.yaml"), "one")
    b = ann.load_claims_file(_write(tmp_path, GOOD, "b.yaml"), "two")
    with pytest.raises(SourceError) as exc:
        ann.resolve_claims([a, b], _sites(), _records(), **XJ_KW)
    assert str(exc.value).startswith(f"{tmp_path / 'b.yaml'}:15: claim 'good-claim': id is also used in")


# ---------------------------------------------------------------- generated claims


def test_generated_disagreement_claims():
    rules = _xinjiang_rules()
    claims = {c["id"]: c for c in generate_disagreement_claims(_sites(), _records(), SOURCES, distance_m=500,
                                                               rules=rules)}
    # aspi-2: closed vs tier 3 but desecuritised; aspi-3: closed vs tier 1 fits; bf-300: no tier
    assert sorted(claims) == ["generated-location-aspi-1", "generated-tier-status-aspi-1"]
    loc = claims["generated-location-aspi-1"]
    assert loc["text"] == (
        "The datasets place this site's points up to 640 m apart (more than 500 m): ASPI markers (record 1) gives "
        "latitude 39.360000, longitude 75.860000; BuzzFeed camps database (record 106) gives latitude 39.362500, "
        "longitude 75.867400, 640 m away.")
    ts = claims["generated-tier-status-aspi-1"]
    assert ts["text"] == (
        "The datasets do not fit: BuzzFeed camps database (record 106) gives the status \u201cprobably closed\u201d; "
        "ASPI markers (record 1) gives tier 4 on ASPI's scale from 1 (lowest security) to 4 (prisons). "
        "No dataset records desecuritisation or decommissioning of this site.")
    for c in claims.values():
        assert (c["generated"], c["status"], c["category"], c["site_ids"]) == (True, "reported",
                                                                              "dataset-disagreement", ["aspi-1"])
        assert [(x["id"], x["locator"]) for x in c["citations"]] == [(ASPI, "record 1"), (BF, "record 106")]
        assert c["citations"][0]["url"] == "https://xjdp.aspi.org.au/"
        assert [(x["source"], x["title"], x.get("publisher")) for x in c["citations"]] == [
            (ASPI, "ASPI markers", "ASPI"), (BF, "BuzzFeed camps database", "BuzzFeed News")]
        assert c["target"] == {"type": "site", "site_ids": ["aspi-1"]}
    assert generate_disagreement_claims(_sites(), _records(), SOURCES, distance_m=1000, rules=rules) == [
        claims["generated-tier-status-aspi-1"]]
    # without the map's rules only the location claim is generated: the package knows no such table
    assert [c["id"] for c in generate_disagreement_claims(_sites(), _records(), SOURCES, distance_m=500)] == [
        "generated-location-aspi-1"]


def test_a_rule_is_data_fields_values_and_wording_from_the_spec():
    rule = {"id": "odd-pair", "when": [
        {"field": "status", "in": ["Probably \u2013  CLOSED", "probably closed"], "says": "says it is {value}"},
        {"field": "tier", "in": [4.0]}],  # compared as text: 4.0 matches 4; no `says`: the default wording
        "text": "Odd: {values}."}
    claims = generate_disagreement_claims(_sites(), _records(), SOURCES, distance_m=10_000, rules=[rule])
    assert [c["id"] for c in claims] == ["generated-odd-pair-aspi-1"]
    assert claims[0]["text"] == ("Odd: BuzzFeed camps database (record 106) says it is probably closed; "
                                 "ASPI markers (record 1) gives \u201c4\u201d.")
    assert [x["id"] for x in claims[0]["citations"]] == [ASPI, BF]
    # a condition that finds no value: no claim
    rule["when"][1]["in"] = [1, 2]
    assert generate_disagreement_claims(_sites(), _records(), SOURCES, distance_m=10_000, rules=[rule]) == []


def test_rule_problems_name_the_rule_and_the_key():
    known = {"status", "tier", "decommissioning"}
    ok = {"id": "a", "when": [{"field": "tier", "in": [3]}], "text": "{values}."}
    assert rule_problems([ok], known) == []
    assert rule_problems(None, known) == []
    assert rule_problems({"a": 1}, known) == ["rules: is not a list of rules ({id, when, unless, text})"]
    variants = [
        {"id": "Bad Id"},
        {"when": []},
        {"when": [{"field": "colour", "in": [1]}]},
        {"when": [{"field": "tier", "in": []}]},
        {"when": [{"field": "tier", "in": [3], "says": "is {valu}"}]},
        {"unless": ["colour"]},
        {"text": "no placeholder"},
        {"colour": "red"},
        {"id": "a"},
        {"id": "location"},
    ]
    bad = [{**ok, "id": f"r{i}", **v} for i, v in enumerate(variants)]
    assert rule_problems(bad, known) == [
        "rules[0]: id 'Bad Id' is not lower-case letters, digits and dashes",
        "rules[1]: when: needs a list of conditions ({field, in, says})",
        "rules[2]: when[0]: field 'colour' is not a field of this map",
        "rules[3]: when[0]: in: needs a non-empty list of values",
        "rules[4]: when[0]: says: needs text whose only placeholder is {value}",
        "rules[5]: unless: field 'colour' is not a field of this map",
        "rules[6]: text: needs text with the placeholder {values} (and no other)",
        "rules[7]: unknown key(s) colour (known: id, when, unless, text)",
        "rules[9]: id 'location' is already taken",
    ]
    assert rule_problems([ok, ok], known) == ["rules[1]: id 'a' is already taken"]


def test_build_annotations_is_plain_reproducible_data(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    data = textwrap.dedent(RESOLVE).encode()
    (folder / "claims.yaml").write_bytes(data)
    import hashlib

    (folder / "datapackage.json").write_text(json.dumps({
        "name": "notes", "resources": [{"name": "claims", "path": "claims.yaml", "format": "yaml", "bytes": len(data),
                                        "hash": "sha256:" + hashlib.sha256(data).hexdigest()}],
        "facilitymap": {"layer": "claims", "reader": "claims", "resource": "claims"}}))
    rules = _xinjiang_rules()
    out1 = ann.build_annotations([folder], _sites(), _records(), SOURCES, rules=rules, **XJ_KW)
    out2 = ann.build_annotations([folder], _sites(), _records(), SOURCES, rules=rules, **XJ_KW)
    dump = json.dumps(out1, sort_keys=True, ensure_ascii=False)
    assert dump == json.dumps(out2, sort_keys=True, ensure_ascii=False)
    assert out1["source_stats"] == {"notes": {"rows": 6, "records": 6, "rejected": []}}
    assert out1["report"]["generated_by_kind"] == {"location": 1, "tier-status": 1}
    assert out1["report"]["rules"] == rules  # the report says which rules were applied
    assert out1["claims_for_site"]["aspi-1"] == ["by-alias-pinyin", "by-alias-uyghur", "by-record",
                                                 "generated-location-aspi-1", "generated-tier-status-aspi-1"]
    assert [i["id"] for i in out1["csl"]] == ["aspi-camp-dataset-v1", ASPI, BF, "notes:B", "notes:whole-map-2"]
    # a changed file no longer matches its descriptor's hash: the build stops naming the file
    (folder / "claims.yaml").write_bytes(data.replace(b"text: t", b"text: T", 1))
    with pytest.raises(SourceError) as exc:
        ann.build_annotations([folder], _sites(), _records(), SOURCES, **XJ_KW)
    assert "claims.yaml" in str(exc.value) and "sha256" in str(exc.value)


# ---------------------------------------------------------------- CSL-JSON


CSL_TYPES = {"article-journal", "interview", "webpage", "report", "dataset"}


def _check_csl_item(item: dict) -> None:
    assert isinstance(item["id"], str) and item["id"]
    assert item["type"] in CSL_TYPES
    assert isinstance(item["title"], str) and item["title"]
    assert "author" in item or "publisher" in item
    for name in item.get("author", []):
        assert set(name) in ({"family", "given"}, {"literal"})
    for k in ("issued", "accessed"):
        if k in item:
            (parts,) = item[k]["date-parts"]
            assert 1 <= len(parts) <= 3 and all(isinstance(p, int) for p in parts)
    if "URL" in item:
        assert item["URL"].startswith(("https://", "http://"))
    allowed = {"id", "type", "title", "author", "publisher", "issued", "accessed", "URL", "DOI",
               "container-title", "volume", "issue", "page", "note"}
    assert set(item) <= allowed, set(item) - allowed


def test_csl_export_reads_back_and_renders(tmp_path):
    from facilitymap.registry import load_sources

    sources = load_sources(ROOT / "sources")
    cs = ann.load_claims(SHIPPED)
    path = tmp_path / "citations.json"
    path.write_text(json.dumps(ann.citations_csl([cs], sources), indent=2, sort_keys=True), encoding="utf-8")
    items = json.loads(path.read_text(encoding="utf-8"))
    for item in items:
        _check_csl_item(item)
    by_id = {i["id"]: i for i in items}
    a = by_id["annotations-xinjiang-police-files:A"]
    assert "issued" not in a and "URL" not in a  # n.d., no URL known
    assert by_id["annotations-xinjiang-police-files:C"]["issued"] == {"date-parts": [[2022]]}
    assert by_id["annotations-xinjiang-police-files:D"]["issued"] == {"date-parts": [[2022, 8, 31]]}
    datasets = {i["id"] for i in items if i["type"] == "dataset"}
    assert datasets == {s.slug for s in sources if s.layer != "claims"}

    from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
    from citeproc.source.json import CiteProcJSON

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # citeproc warns about fields it cannot read
        bib = CitationStylesBibliography(CitationStylesStyle("harvard-cite-them-right", validate=False),
                                         CiteProcJSON(items), formatter.plain)
        for item in items:
            bib.register(Citation([CitationItem(item["id"])]))
        rendered = [str(b) for b in bib.bibliography()]
    assert len(rendered) == len(items)
    assert any(r.startswith("Zenz, A. (no date) \u201cXi Jinping Makes Direct Order to Repress the Uyghurs\u201d, "
                            "The Liberty. IRH Press Co. Ltd.") for r in rendered), rendered
    assert any("Journal of the European Association for Chinese Studies, 3" in r for r in rendered), rendered


# ---------------------------------------------------------------- the shipped claims (issue 5's table)


ISSUE_TABLE = [
    ("tekes-tiger-chair-drill", {"area": {"county": "Tekes"}},
     "Photographs from the Xinjiang Police Files show a drill at an internment facility in Tekes County in "
     "September 2018, in which a detainee is restrained and interrogated in a so-called tiger chair.",
     [("A", "image caption"), ("B", None)]),
    ("konasheher-internment-indicators", {"area": {"county": "Konasheher"}},
     "From spreadsheets in the files, at least 12% of adults in the county had at least two indicators of "
     "internment in 2017\u20132018 (the interviewer puts it at more than 23,000 adult Uyghurs).",
     [("A", None), ("C", None)]),
    ("drill-photo-metadata", "map",
     "In one drill photographed in the files, camera metadata shows about seven or eight photos taken over four "
     "minutes, from police arriving to a hooded, handcuffed detainee strapped into a tiger chair.",
     [("A", None)]),
    ("ijop-detention-recommendations", "map",
     "Over 10,000 people were recommended for detention or closer examination by the Integrated Joint Operations "
     "Platform (IJOP), a police database that pushes lists of people to be taken in.",
     [("A", None), ("C", None)]),
    ("chen-quanguo-speeches", "map",
     "Speeches by the former regional Party Secretary Chen Quanguo order that the internment camps be guarded at "
     "any cost and that fire be opened on those who try to attack them.",
     [("A", None), ("B", None)]),
    ("camp-security-instructions", "map",
     "Security instructions for two camps specify machine guns and sniper rifles in the watchtowers, armed strike "
     "teams, and a warning shot before shooting at an escaping detainee.",
     [("A", None), ("B", None)]),
    ("ohchr-crimes-against-humanity", "map",
     "The OHCHR found that the extent of arbitrary and discriminatory detention of Uyghurs and other predominantly "
     "Muslim groups may constitute international crimes, in particular crimes against humanity.",
     [("D", None), ("A", None)]),
]


def test_shipped_claims_are_exactly_issue_5s_table():
    cs = ann.load_claims(SHIPPED)
    assert ann.structure_problems(cs) == []
    got = [(c["id"], c["target"], c["text"], [(x["work"], x.get("locator")) for x in c["citations"]])
           for c in cs.claims]
    assert got == ISSUE_TABLE
    assert {c["id"]: c.get("date") or c.get("period") for c in cs.claims if "date" in c or "period" in c} == {
        "tekes-tiger-chair-drill": "2018-09", "konasheher-internment-indicators": "2017/2018"}
    assert {c["status"] for c in cs.claims} == {"reported"}
    assert {k: (w["title"], w.get("author"), w.get("publisher"), w["published"], w.get("url"))
            for k, w in cs.works.items()} == {
        "A": ("Xi Jinping Makes Direct Order to Repress the Uyghurs", "Zenz, Adrian", "IRH Press Co. Ltd.", "n.d.",
              None),
        "B": ("The Xinjiang Police Files", None, "Victims of Communism Memorial Foundation", "2022-05-24",
              "https://www.thexinjiangpolicefiles.org/"),
        "C": ("The Xinjiang Police Files: Re-Education Camp Security and Political Paranoia in the Uyghur Region",
              "Zenz, Adrian", None, "2022", None),
        "D": ("OHCHR Assessment of human rights concerns in the Xinjiang Uyghur Autonomous Region, People's "
              "Republic of China", None, "OHCHR", "2022-08-31",
              "https://www.ohchr.org/en/documents/country-reports/ohchr-assessment-human-rights-concerns-xinjiang-"
              "uyghur-autonomous-region"),
    }
    assert cs.works["A"]["type"] == "interview" and cs.works["A"]["container_title"] == "The Liberty"
    assert "31 August 2022" in cs.works["A"]["note"]
    assert (cs.works["C"]["container_title"], cs.works["C"]["volume"]) == (
        "Journal of the European Association for Chinese Studies", "3")


def test_shipped_descriptor_passes_the_registry():
    from facilitymap.registry import load_sources, validate_sources

    (src,) = [s for s in load_sources(ROOT / "sources") if s.slug == SHIPPED.name]
    assert (src.layer, src.reader) == ("claims", "claims")
    assert validate_sources([src]) == []
    assert src.licence["name"] == "CC-BY-4.0"
    assert ann.count_claims(src) == 7


def test_shipped_claims_resolve_against_the_real_sites():
    """End to end on the shipped sources: Tekes and Konasheher (Shufu) resolve to real sites."""

    from facilitymap.fields import vocabulary
    from facilitymap.readers import read_source
    from facilitymap.reconcile import reconcile
    from facilitymap.registry import load_sources

    from facilitymap.builder import load_map_spec, match_options, place_canonical, place_label

    spec = load_map_spec(ROOT / "maps", "xinjiang")
    by_slug = {s.slug: s for s in load_sources(ROOT / "sources")}
    site_slugs = [s for s in spec["sources"] if by_slug[s].layer in ("sites", "outlines")]
    vocab = vocabulary(spec)
    rec = reconcile({s: read_source(by_slug[s], vocab).records for s in site_slugs}, site_slugs,
                    match_options(spec))
    claim_srcs = [by_slug[s] for s in spec["sources"] if by_slug[s].layer == "claims"]
    assert [s.slug for s in claim_srcs] == [SHIPPED.name]
    assert ann.check_annotation_sources(claim_srcs, rec.sites, rec.records, canonical=place_canonical(spec)) == []
    out = ann.build_annotations(claim_srcs, rec.sites, rec.records, list(by_slug.values()),
                                distance_m=spec.get("disagreement_distance_m", 500),
                                canonical=place_canonical(spec), place_label=place_label(spec))
    by_id = {c["id"]: c for c in out["claims"]}
    counties = dict(zip(rec.sites["site_id"], rec.sites["county"]))
    tekes = by_id["tekes-tiger-chair-drill"]["site_ids"]
    kona = by_id["konasheher-internment-indicators"]["site_ids"]
    assert len(tekes) >= 2 and {counties[s] for s in tekes} <= {"Tekes"}
    assert len(kona) >= 7 and {counties[s] for s in kona} <= {"Konasheher", "Shufu"}
    assert by_id["tekes-tiger-chair-drill"]["target"]["name"] == "Tekes County"
    assert by_id["konasheher-internment-indicators"]["target"]["name"] == "Konasheher (Shufu) County"
    assert all(by_id[c]["level"] == "map" for c in ISSUE_TABLE_MAP_IDS)
    urls = [x.get("url") for x in by_id["tekes-tiger-chair-drill"]["citations"]]
    assert urls == [None, "https://www.thexinjiangpolicefiles.org/"]  # A has no known URL
    for c in out["claims"]:
        if c["generated"]:
            assert len(c["citations"]) >= 2 and c["category"] == "dataset-disagreement"


ISSUE_TABLE_MAP_IDS = [row[0] for row in ISSUE_TABLE if row[1] == "map"]
