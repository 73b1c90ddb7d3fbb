"""Place-name aliases: the Xinjiang map's table, where ASPI's Uyghur names, BuzzFeed's pinyin and hanzi meet on
one key, and a table made in the test (the module knows no place)."""

import csv
from pathlib import Path

import pytest

from facilitymap import places
from facilitymap.builder import load_map_spec

MAPS = Path(__file__).resolve().parent.parent / "maps"


class _Xinjiang:
    """The Xinjiang map's place table, with the old module's call shapes (scheme by name)."""

    def __init__(self):
        self.table = load_map_spec(MAPS, "xinjiang")["places_table"]

    def canonical(self, name, scheme=None):
        return self.table.canonical(name, scheme)

    def lookup(self, name, scheme=None):
        return self.table.lookup(name, scheme)

    def entry(self, key):
        return self.table.entry(key)

    from_label = staticmethod(places.head_of_label)


counties = _Xinjiang()


@pytest.mark.parametrize("names", [
    ("Konasheher", "Shufu", "疏附", "疏附县", "Shufu County", "konasheher", "Konasheher (Shufu) County"),
    ("Tekes", "Tekesi", "特克斯", "特克斯县"),
    ("Kashgar", "Kashi", "喀什", "喀什市"),
    ("Yarkant", "Shache", "莎车", "莎车县", "Yarkand"),
    ("Karakash", "Moyu", "墨玉", "墨玉县"),
    ("Ghulja", "Yining", "Yining County", "伊宁县"),
    ("Ghulja City", "Yining City", "伊宁市"),
    ("Yengisheher", "Shule", "疏勒县"),
])
def test_spellings_of_one_county_share_a_key(names):
    keys = {counties.canonical(n) for n in names}
    assert len(keys) == 1, keys
    assert None not in keys


def test_city_and_county_of_one_name_stay_apart():
    assert counties.canonical("Hotan City") != counties.canonical("Hotan County")
    assert counties.canonical("Ghulja") != counties.canonical("Ghulja City")


def test_scheme_settles_a_spelling_two_schemes_use_differently():
    # ASPI "Korgas" is Huocheng County; BuzzFeed's pinyin "Korgas" is Khorgas city (ASPI: "Korgas City").
    assert counties.canonical("Korgas") == counties.canonical("Huocheng")
    assert counties.canonical("Korgas", "pinyin") == counties.canonical("Korgas City")
    assert counties.canonical("Korgas", "pinyin") != counties.canonical("Korgas")


def test_unknown_names_compare_only_with_themselves():
    assert counties.lookup("Atlantis") is None
    assert counties.canonical("  Atlantis ") == counties.canonical("atlantis")
    assert counties.canonical("Atlantis") != counties.canonical("Shufu")
    assert counties.canonical(None) is None and counties.canonical(" ") is None


@pytest.mark.parametrize("label, county", [
    ("Shufu - I", "Shufu"), ("Korla 1", "Korla"), ("Yining City – 8", "Yining City"), ("Emin -2 ", "Emin"),
    ("Hotan County - 1", "Hotan County"), ("Toutunhe - 4 ", "Toutunhe"), ("", None), (None, None),
])
def test_county_from_a_buzzfeed_label(label, county):
    assert counties.from_label(label) == county


def test_alias_table_is_well_formed():
    with open(counties.table.path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {"key", "aspi", "pinyin", "hanzi", "other", "prefecture", "level", "basis"}
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys))
    assert all(r["basis"].strip() for r in rows), "every alias says what it rests on"
    # no spelling in the aspi column names two counties
    aspi = [r["aspi"] for r in rows if r["aspi"]]
    assert len(aspi) == len(set(aspi))
    assert counties.entry("konasheher")["hanzi"] == "疏附县"


def test_a_table_made_here_with_two_schemes_and_suffixes(tmp_path):
    path = tmp_path / "places.csv"
    path.write_text("key,local,latin,basis\nnorth,Nordby;Nordbyn,North Town,test\nsouth,Sudby,Nordby,test\n",
                    encoding="utf-8")
    t = places.PlaceTable.load(path, {"local": ["local", "latin"], "latin": ["latin", "local"]},
                               suffixes=[" town", " kommune"])
    assert t.canonical("NORDBYN") == t.canonical("Nordby") == t.canonical("North Town") == "north"
    assert t.canonical("Nordby", "latin") == "south"          # the scheme settles a shared spelling
    assert t.canonical("Sudby Kommune") == "south"            # suffix tried away
    assert t.canonical("Elsewhere") == "elsewhere" and t.lookup("Elsewhere") is None
    assert t.canonical("Nordby (Sudby)") == "north"           # outside the brackets first


def test_label_from_the_label_columns():
    assert counties.table.label("Shufu") == "Konasheher (Shufu) County"
    assert counties.table.label("Atlantis") == "Atlantis"


def test_no_place_table_compares_normalised_names():
    assert places.plain_canonical("Ürümqi ") == places.plain_canonical("urumqi")
