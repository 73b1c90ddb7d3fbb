"""The map's time rules: sites placed in years, counts per source and year, dated claims as events."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from facilitymap import timeline
from facilitymap.spec import load_map_spec

REPO = Path(__file__).resolve().parent.parent
V1 = "aspi-camp-dataset-v1"

# The Xinjiang map's time block, as maps/xinjiang.yaml declares it (the v1 building counts as one series field).
XINJIANG_TIME = load_map_spec(REPO / "maps", "xinjiang")["time"]


@pytest.fixture(scope="module")
def built():
    from facilitymap import builder
    from facilitymap.registry import load_sources

    spec = builder.load_map_spec(REPO / "maps", "xinjiang")
    selected = builder.select_sources(load_sources(REPO / "sources"), spec, "xinjiang")
    data = builder.assemble(spec, selected)
    rec = data.reconciled
    payload = timeline.time_payload(XINJIANG_TIME, rec.sites, rec.records, data.annotations["claims"])
    return data, json.loads(json.dumps(payload))  # what the page gets: plain JSON


def v1_counts_by_hand() -> dict[str, int]:
    """Facilities with at least one building per year, counted from the shipped CSV with the csv module alone."""
    path = REPO / "sources" / V1 / "CampDataset_v1.csv"
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 380
    out = {}
    for year in range(2017, 2021):
        n = 0
        for r in rows:
            cell = r[f"Number of Buildings in {year}"].strip()
            if cell.isdigit() and int(cell) >= 1:
                n += 1
        out[str(year)] = n
    return out


def test_counts_per_year_equal_an_independent_count_of_the_v1_csv(built):
    _, payload = built
    by_hand = v1_counts_by_hand()
    assert payload["counts"][V1] == by_hand
    assert by_hand == {"2017": 181, "2018": 258, "2019": 328, "2020": 231}


def test_every_subject_site_is_placed_or_marked_unknown(built):
    data, payload = built
    detention = set(data.sites.loc[data.sites["kind"] == "detention", "site_id"])
    assert set(payload["sites"]) == detention  # no detention site dropped; cultural sites are not subject
    assert payload["years"] == [2017, 2018, 2019, 2020]
    for i, y in enumerate(payload["years"]):
        t = payload["totals"][str(y)]
        assert t["yes"] + t["no"] + t["unknown"] == len(detention)
        assert t["yes"] == sum(1 for s in payload["sites"].values() if s["exists"][i] is True)
    # a site v1 lists with 0 buildings in 2017 and 15 in 2018 and 2019 (Tiemenguan #1: v1 row 1)
    tiemenguan = data.reconciled.records.query("source == @V1 and record_id == '1'").site_id.iloc[0]
    s = payload["sites"][tiemenguan]
    assert s["exists"][:3] == [False, True, True] and s["basis"][:3] == [0, 0, 0]
    assert s["first"] == 2018


def test_dated_claims_are_events_at_their_dates(built):
    _, payload = built
    by_claim = {e["claim"]: e for e in payload["events"]}
    tekes = by_claim["tekes-tiger-chair-drill"]
    assert (tekes["date"], tekes["text"], tekes["level"]) == ("2018-09", "September 2018", "area")
    assert tekes["start"] == "2018-09-01" and tekes["end"] == "2018-09-30" and tekes["site_ids"]
    kona = by_claim["konasheher-internment-indicators"]
    assert (kona["date"], kona["text"]) == ("2017/2018", "2017\u20132018")
    assert "ohchr-crimes-against-humanity" in payload["undated_claims"]  # undated, listed, not dropped


def test_panel_rows_of_a_site(built):
    data, payload = built
    rec = data.reconciled.records
    sid = rec.query("source == @V1 and record_id == '1'").site_id.iloc[0]
    claims = [c for c in data.annotations["claims"] if sid in c["site_ids"]]
    rows = timeline.site_rows(XINJIANG_TIME, rec[rec.site_id == sid], claims, {V1: "ASPI v1"})
    v1 = next(r for r in rows if r["source"] == V1)
    assert v1["title"] == "ASPI v1"
    assert v1["series"][0]["values"] == {"2017": 0, "2018": 15, "2019": 15, "2020": None}
    assert [(e["label"], e["date"], e["text"]) for e in v1["events"]] == [
        ("security features changed", "2018-Q3", "Q3 2018"), ("latest imagery", "2019-06", "June 2019")]


# --- rules on small cases made here ------------------------------------------------------------------------------

def _sites(*ids, kind="detention"):
    return [{"site_id": s, "kind": kind} for s in ids]


def _rec(site, source, rid, **attrs):
    return {"site_id": site, "source": source, "record_id": rid, "attrs": attrs}


def test_first_rule_that_speaks_decides_and_silence_is_unknown():
    spec = {"rules": [{"source": "a", "series": "n"}, {"source": "b", "known_from": "2019-05"}]}
    recs = [_rec("s1", "a", "1", n={"2017": 0, "2018": 3, "2019": None}),
            _rec("s1", "b", "x"),
            _rec("s2", "b", "y"),
            _rec("s3", "c", "z")]
    p = timeline.time_payload(spec, _sites("s1", "s2", "s3"), recs)
    assert p["years"] == [2017, 2018, 2019]
    assert p["sites"]["s1"] == {"exists": [False, True, True], "basis": [0, 0, 1], "unknown": False, "first": 2018,
                                "last": 2019}
    assert p["sites"]["s2"]["exists"] == [None, None, True]
    assert p["sites"]["s3"] == {"exists": [None, None, None], "basis": [None, None, None], "unknown": True,
                                "first": None, "last": None}
    assert p["counts"] == {"a": {"2017": 0, "2018": 1, "2019": 0}, "b": {"2017": 0, "2018": 0, "2019": 2}}
    assert p["totals"]["2017"] == {"yes": 0, "no": 1, "unknown": 2}


def test_two_records_of_one_source_in_a_site_count_twice_and_exist_once():
    spec = {"rules": [{"source": "a", "series": "n"}]}
    recs = [_rec("s1", "a", "1", n={"2018": 0}), _rec("s1", "a", "2", n={"2018": 4})]
    p = timeline.time_payload(spec, _sites("s1"), recs)
    assert p["counts"]["a"] == {"2018": 1} and p["sites"]["s1"]["exists"] == [True]


def test_from_until_and_where_and_years():
    spec = {"years": [2015, 2021], "where": {"kind": "prison"},
            "rules": [{"source": "a", "from": "opened", "until": "closed"}]}
    recs = [_rec("p", "a", "1", opened="2016-03", closed="2019-H1"), _rec("q", "a", "2", opened="2018"),
            _rec("m", "a", "3", opened="2016")]
    sites = _sites("p", "q", kind="prison") + _sites("m", kind="museum")
    p = timeline.time_payload(spec, sites, recs)
    assert set(p["sites"]) == {"p", "q"}
    assert p["sites"]["p"]["exists"] == [False, True, True, True, True, False, False]
    assert p["sites"]["q"]["exists"] == [False, False, False, True, True, True, True]


def test_series_of_text_fields_reads_numbers_and_skips_the_rest():
    spec = {"rules": [{"source": "a", "series": {"2018": "n18", "2019": "n19"}}]}
    p = timeline.time_payload(spec, _sites("s"), [_rec("s", "a", "1", n18="0", n19="?")])
    assert p["sites"]["s"]["exists"] == [False, None]


def test_boolean_series_and_seen_dates():
    spec = {"rules": [{"source": "a", "series": {"2019": "c19", "2020": "c20"}},
                      {"source": "b", "seen": "img"}]}
    recs = [_rec("s", "a", "1", c19=True, c20=False), _rec("t", "b", "2", img="2019-H2/2020-Q1")]
    p = timeline.time_payload(spec, _sites("s", "t"), recs)
    assert p["sites"]["s"]["exists"] == [True, False]
    assert p["sites"]["t"]["exists"] == [True, True]


@pytest.mark.parametrize("bad, problem", [
    ({"rules": []}, "time.rules: needs a list"),
    ({"rules": [{"source": "zz", "seen": "d"}]}, "time.rules[0].source: 'zz' is not a source"),
    ({"rules": [{"source": "a", "seen": "d", "series": "n"}]}, "needs exactly one of"),
    ({"rules": [{"source": "a", "seen": "d", "colour": 1}]}, "time.rules[0].colour: unknown key"),
    ({"rules": [{"source": "a", "known_from": "someday"}]}, "time.rules[0].known_from"),
    ({"rules": [{"source": "a", "seen": "d"}], "years": [2020, 2017]}, "time.years"),
    ({"rules": [{"source": "a", "seen": "d"}], "when": 1}, "time.when: unknown key"),
    ({"rules": [{"source": "a", "seen": "d"}, {"source": "a", "seen": "e"}]}, "more than one rule"),
])
def test_spec_problems_name_the_key(bad, problem):
    problems = timeline.spec_problems(bad, ["a", "b"])
    assert any(problem in p for p in problems), problems


def test_output_is_deterministic_whatever_the_input_order():
    spec = {"rules": [{"source": "a", "series": "n"}]}
    recs = [_rec(f"s{i}", "a", str(i), n={"2018": i % 3, "2019": 1}) for i in range(30)]
    one = timeline.time_payload(spec, _sites(*[f"s{i}" for i in range(30)]), recs)
    two = timeline.time_payload(spec, list(reversed(_sites(*[f"s{i}" for i in range(30)]))), list(reversed(recs)))
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
