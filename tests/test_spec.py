"""The map spec: keys passed through or checked, every problem named with the file and the key, the vocabulary."""
from __future__ import annotations

from pathlib import Path

import pytest

from facilitymap import fields

from facilitymap.fields import ROLES, lookup, vocabulary
from facilitymap.spec import KNOWN_KEYS, SpecError, default_map, load_map_spec, site_fields

ROOT = Path(__file__).resolve().parent.parent


def _spec(tmp_path, text, name="m"):
    (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path / f"{name}.yaml"


def test_keys_owned_elsewhere_are_passed_through(tmp_path):
    _spec(tmp_path, "sources: [a]\nlayers: [{id: x, color_by: kind}]\nmatch: {duplicate_m: 5}\n"
                    "places: {table: c.csv}\n")
    (tmp_path / "c.csv").write_text("key,local,basis\nnorth,Nordby,test\n", encoding="utf-8")
    spec = load_map_spec(tmp_path, "m")
    assert spec["layers"] == [{"id": "x", "color_by": "kind"}] and spec["match"] == {"duplicate_m": 5}
    assert spec["places"] == {"table": "c.csv"}
    assert spec["places_table"].canonical("NORDBY") == "north"  # the table, loaded from beside the spec
    assert (spec["name"], spec["title"], spec["fields"], spec["rules"]) == ("m", "m", {}, [])


def test_time_is_checked_against_the_sources_and_the_vocabulary(tmp_path):
    good = ("sources: [a]\nfields: {opened: {label: Opened, type: date}, n: {label: N, type: integer}}\n"
            "time: {rules: [{source: a, from: opened}]}\n")
    _spec(tmp_path, good)
    assert load_map_spec(tmp_path, "m")["time"] == {"rules": [{"source": "a", "from": "opened"}]}
    path = _spec(tmp_path, good.replace("from: opened", "from: n").replace("}]}", "}], colour: 1}"))
    with pytest.raises(SpecError) as err:
        load_map_spec(tmp_path, "m")
    assert f"{path}: time.colour: unknown key" in str(err.value)
    path = _spec(tmp_path, good.replace("from: opened}]", "from: n}, {source: b, seen: opened}]"))
    with pytest.raises(SpecError) as err:
        load_map_spec(tmp_path, "m")
    assert f"{path}: time.rules[1].source: 'b' is not a source of the map" in str(err.value)
    path = _spec(tmp_path, good.replace("from: opened}]}", "from: n}], events: [{source: a, field: nope}]}"))
    with pytest.raises(SpecError) as err:
        load_map_spec(tmp_path, "m")
    assert str(err.value).splitlines() == [
        f"{path}: time.rules[0].from: 'n' is of type integer; `from` needs a date field (date, daterange, day, "
        "halfyear, quarter, year, yearmonth)",
        f"{path}: time.events[0].field: 'nope' is not a field of this map (declare it under `fields:`)"]


def test_every_problem_is_named_at_once_with_file_and_key(tmp_path):
    path = _spec(tmp_path, "sources: [a]\nfields:\n  beds: {label: Beds, type: integr}\n"
                           "  Bad: {label: x}\n")
    with pytest.raises(SpecError) as err:
        load_map_spec(tmp_path, "m")
    assert str(err.value).splitlines() == [
        f"{path}: fields: beds: type 'integr' is not one of {', '.join(fields.TYPES)}",
        f"{path}: fields: Bad: is not a field name (lower case letters, digits and _, starting with a letter)"]


def test_rules_and_imagery_field_are_checked_against_the_vocabulary(tmp_path):
    path = _spec(tmp_path, "sources: [a]\nfields: {seen: {label: Seen, type: yearmonth}, n: {label: N, "
                           "type: integer}}\nimagery_reference_field: n\n"
                           "rules: [{id: r, when: [{field: colour, in: [red]}], text: '{values}'}]\n")
    with pytest.raises(SpecError) as err:
        load_map_spec(tmp_path, "m")
    assert str(err.value).splitlines() == [
        f"{path}: rules[0]: when[0]: field 'colour' is not a field of this map",
        f"{path}: imagery_reference_field: 'n' is not a field of type yearmonth of this map"]
    _spec(tmp_path, "sources: [a]\nfields: {seen: {label: Seen, type: yearmonth}}\nimagery_reference_field: seen\n"
                    "rules: [{id: r, when: [{field: name_fr, in: [x]}, {field: seen, in: [2020-01]}], "
                    "text: '{values}'}]\n")
    assert load_map_spec(tmp_path, "m")["rules"][0]["id"] == "r"  # a name_<tag> role is known to every map


def test_unknown_key_lists_the_known_ones(tmp_path):
    _spec(tmp_path, "sources: [a]\ncolours: {}\n")
    with pytest.raises(SpecError, match="unknown key.*colours.*known: .*fields"):
        load_map_spec(tmp_path, "m")
    assert "fields" in KNOWN_KEYS and "rules" in KNOWN_KEYS


def test_default_map_is_the_only_one(tmp_path):
    with pytest.raises(SpecError, match="no map specs"):
        default_map(tmp_path)
    _spec(tmp_path, "sources: [a]\n", "one")
    assert default_map(tmp_path) == "one"
    _spec(tmp_path, "sources: [a]\n", "two")
    with pytest.raises(SpecError, match="known maps: one, two"):
        default_map(tmp_path)


def test_vocabulary_roles_relabels_and_aliases():
    spec = {"fields": {"prefecture": {"label": "State"}, "beds": {"label": "Beds", "type": "integer", "min": 0}}}
    vocab = vocabulary(spec)
    assert set(vocab) == set(ROLES) | {"beds"}
    assert (vocab["prefecture"].label, vocab["prefecture"].type) == ("State", "string")
    assert (vocab["beds"].type, vocab["beds"].min, vocab["beds"].max) == ("integer", 0, None)
    assert lookup(vocab, "region") is vocab["prefecture"]
    assert lookup(vocab, "name_zh_hant").label == "Name (zh-hant)"
    assert lookup(vocab, "tier") is None  # not declared by this map
    assert lookup(None, "tier").type == "string"  # no map in view: read as text
    assert site_fields(spec) == ["name", "county", "prefecture", "description", "beds"]


def test_the_shipped_map_declares_every_field_its_sources_map():
    from facilitymap.registry import load_sources
    from facilitymap.spec import select_sources, source_field_problems

    spec = load_map_spec(ROOT / "maps", "xinjiang")
    selected = select_sources(load_sources(ROOT / "sources"), spec, "maps/xinjiang.yaml")
    assert source_field_problems(spec, selected, "maps/xinjiang.yaml") == []
    assert vocabulary(spec)["tier"].label == "ASPI tier (1 lowest security, 4 prison)"
