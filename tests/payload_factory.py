"""Synthetic page payloads for render and browser tests (DESIGN.md "The page payload").

Clearly synthetic: invented sites around real-looking coordinates in Xinjiang, built in code here and never
written into sources/. The hostile site carries attack strings in every field a reader can see.
"""

from __future__ import annotations

import copy

from facilitymap.footprints.coverage import imagery_links

HOSTILE = {
    "img": '<img src=x onerror="window.__pwned=1">',
    "script": '</script><script>window.__pwned=2</script><!--',
    "template": "${window.__pwned=3}${alert(1)}",
    "js_url": "javascript:window.__pwned=4",
    "quotes": "\"double\" 'single' `back` &amp; & <b>bold</b>",
    "rtl": "\u202eevil\u202c \u200fRTL\u200f",
    "jinja": "{{ 7*7 }}{% if true %}JINJA{% endif %}{{ range.__name__ }}",
}
HOSTILE_NAME = HOSTILE["img"] + " " + HOSTILE["template"] + " " + HOSTILE["jinja"]

SOURCES = [
    {
        "slug": "aspi-xjdp-markers",
        "title": "ASPI Xinjiang Data Project map markers",
        "publisher": "Australian Strategic Policy Institute (ASPI)",
        "licence": {"name": "no-licence-stated", "title": "No licence stated (ASPI copyright)", "path": None},
        "citation": "ASPI Xinjiang Data Project, Xinjiang detention facilities map (test fixture)",
        "citation_url": "https://xjdp.aspi.org.au/map/",
        "retrieved": "2024-01-15",
        "files": ["markers.geo.json"],
    },
    {
        "slug": "aspi-camp-dataset-v1",
        "title": "ASPI camp dataset v1",
        "publisher": "Australian Strategic Policy Institute (ASPI)",
        "licence": {"name": "no-licence-stated", "title": "No licence stated (ASPI copyright)", "path": None},
        "citation": "ASPI, Xinjiang camp dataset v1 (test fixture)",
        "citation_url": "https://xjdp.aspi.org.au/",
        "retrieved": "2024-01-15",
        "files": ["CampDataset_v1.csv"],
    },
    {
        "slug": "buzzfeed-2020",
        "title": "BuzzFeed News Xinjiang camps database",
        "publisher": "BuzzFeed News",
        "licence": {"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0",
                    "path": "https://creativecommons.org/licenses/by/4.0/"},
        "citation": "Killing, Rajagopalan, Buschek, BuzzFeed News (test fixture)",
        "citation_url": "https://github.com/BuzzFeedNews/2020-08-xinjiang-camps",
        "retrieved": "2024-01-16",
        "files": ["Xinjiang_camps_database_BuzzFeed.csv"],
    },
    {
        "slug": "osm-reeducation-camps",
        "title": "OpenStreetMap re-education camp outlines",
        "publisher": "OpenStreetMap contributors",
        "licence": {"name": "ODbL-1.0", "title": "Open Database License 1.0",
                    "path": "https://opendatacommons.org/licenses/odbl/1-0/"},
        "citation": "\u00a9 OpenStreetMap contributors (test fixture)",
        "citation_url": "https://www.openstreetmap.org/copyright",
        "retrieved": "2024-01-17",
        "files": ["reedcamps.osm"],
    },
]

FIELDS = {
    "tier": {"label": "Tier"},
    "status": {"label": "Status"},
    "county": {"label": "County"},
    "prefecture": {"label": "Prefecture"},
    "latest_imagery": {"label": "Latest imagery"},
    "damage_index": {"label": "Damage index"},
    "watchtowers": {"label": "Watchtowers"},
}

COUNTIES = [("Hotan", "和田县", "خوتەن ناھىيىسى", "Hotan"), ("Konasheher", "疏附县", "كوناشەھەر ناھىيىسى", "Kashgar"),
            ("Tekes", "特克斯县", "تېكەس ناھىيىسى", "Ili"), ("Aksu", "阿克苏市", "ئاقسۇ شەھىرى", "Aksu")]
BUZZ_STATUS = ["corroborated", "probably closed", "closed"]


def _square(lon: float, lat: float, d: float = 0.002) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d],
                                                [lon - d, lat + d], [lon - d, lat - d]]]}


def _feature(props: dict, geometry: dict | None = None) -> dict:
    base = {"name_en": None, "name_zh": None, "name_ug": None, "county": None, "prefecture": None, "tier": None,
            "status": None, "latest_imagery": None, "records": [], "attributes": {}, "disagreements": [],
            "match": []}
    base.update(props)
    geometry = geometry or {"type": "Point", "coordinates": [base["lon"], base["lat"]]}
    return {"type": "Feature", "geometry": geometry, "properties": base}


def make_payload(n_detention: int = 16, n_buzzfeed: int = 6, n_cultural: int = 8, hostile: bool = True) -> dict:
    """A payload with every kind of site: ASPI tiers 1-4 (some with OSM outlines and a disagreement),
    BuzzFeed-only sites by status, an OSM-only outline, cultural sites, claims and scenes."""
    features = []
    for i in range(n_detention):
        county, zh, ug, pref = COUNTIES[i % len(COUNTIES)]
        lon, lat = round(75.5 + (i % 8) * 0.9, 6), round(37.0 + (i // 8) * 1.1 + (i % 3) * 0.2, 6)
        tier = str(1 + i % 4)
        aid = str(1000 + i)
        attrs = {
            "tier": [{"value": tier, "source": "aspi-xjdp-markers", "record_id": aid}],
            "county": [{"value": county, "source": "aspi-xjdp-markers", "record_id": aid}],
            "prefecture": [{"value": pref, "source": "aspi-xjdp-markers", "record_id": aid}],
            "latest_imagery": [{"value": "2020-0%d" % (1 + i % 9), "source": "aspi-xjdp-markers", "record_id": aid}],
            "watchtowers": [{"value": i % 5, "source": "aspi-camp-dataset-v1", "record_id": str(i + 1)}],
        }
        records = [{"source": "aspi-xjdp-markers", "record_id": aid},
                   {"source": "aspi-camp-dataset-v1", "record_id": str(i + 1)}]
        disagreements = []
        if i % 4 == 0:
            records.append({"source": "buzzfeed-2020", "record_id": str(200 + i)})
            attrs["status"] = [{"value": "corroborated", "source": "buzzfeed-2020", "record_id": str(200 + i)}]
            attrs["county"].append({"value": "Shufu" if county == "Konasheher" else county,
                                    "source": "buzzfeed-2020", "record_id": str(200 + i)})
            disagreements.append({"field": "location", "values": [
                {"value": [lon, lat], "source": "aspi-xjdp-markers", "record_id": aid},
                {"value": [lon + 0.003, lat], "source": "buzzfeed-2020", "record_id": str(200 + i)}],
                "note": "points 266 m apart"})
        geometry = None
        if i % 3 == 0:
            records.append({"source": "osm-reeducation-camps", "record_id": "way/%d" % (5000 + i)})
            geometry = _square(lon, lat)
        features.append(_feature({
            "site_id": "aspi-" + aid, "name": f"{county} County Facility #{i + 1}",
            "name_en": f"{county} County Facility #{i + 1}", "name_zh": f"{zh}第{i + 1}设施",
            "name_ug": f"{ug} {i + 1}-ئەسلىھە", "kind": "detention", "county": county, "prefecture": pref,
            "lon": lon, "lat": lat, "tier": tier, "status": "corroborated" if i % 4 == 0 else None,
            "latest_imagery": attrs["latest_imagery"][0]["value"], "records": records, "attributes": attrs,
            "disagreements": disagreements,
            "imagery": {"s2_tiles": ["44SKE"], "reference_month": attrs["latest_imagery"][0]["value"],
                        "reference_source": "aspi-xjdp-markers",
                        # the build's "search imagery here" links on every other site (the rest: the page's own)
                        **({"links": imagery_links(lon, lat, attrs["latest_imagery"][0]["value"])} if i % 2 == 0
                           else {})},
            "claims": ["claim-tekes-drill"] if county == "Tekes" else [],
        }, geometry))
    for j in range(n_buzzfeed):
        lon, lat = round(80.0 + j * 0.7, 6), round(41.0 + (j % 2) * 0.5, 6)
        st = BUZZ_STATUS[j % 3]
        bid = str(300 + j)
        features.append(_feature({
            "site_id": "bf-" + bid, "name": f"Aksu - {j + 1}", "kind": "detention", "county": "Aksu",
            "lon": lon, "lat": lat, "status": st, "records": [{"source": "buzzfeed-2020", "record_id": bid}],
            "attributes": {"status": [{"value": st, "source": "buzzfeed-2020", "record_id": bid}]},
            "imagery": {"s2_tiles": [], "reference_month": None, "reference_source": None,
                        "links": imagery_links(lon, lat)},
        }))
    features.append(_feature({
        "site_id": "osm-way-9001", "name": "Compound (OSM only)", "kind": "detention", "lon": 87.6, "lat": 43.8,
        "records": [{"source": "osm-reeducation-camps", "record_id": "way/9001"}],
    }, _square(87.6, 43.8, 0.003)))
    for k in range(n_cultural):
        lon, lat = round(76.0 + k * 0.5, 6), round(39.5 + (k % 2) * 0.3, 6)
        cid = str(2000 + k)
        features.append(_feature({
            "site_id": "aspi-" + cid, "name": f"Mosque {k + 1}", "name_en": f"Mosque {k + 1}",
            "name_zh": f"清真寺{k + 1}", "name_ug": f"مەسچىت {k + 1}", "kind": "cultural", "lon": lon, "lat": lat,
            "damage_index": k % 5, "records": [{"source": "aspi-xjdp-markers", "record_id": cid}],
            "attributes": {"damage_index": [{"value": k % 5, "source": "aspi-xjdp-markers", "record_id": cid}]},
        }))
    if hostile:
        h = HOSTILE
        features.append(_feature({
            "site_id": "aspi-666", "name": HOSTILE_NAME, "name_en": HOSTILE_NAME, "name_zh": h["script"],
            "name_ug": h["rtl"], "kind": "detention", "county": h["quotes"], "prefecture": h["js_url"],
            "lon": 83.0, "lat": 40.0, "tier": "2", "status": h["template"],
            "records": [{"source": "aspi-xjdp-markers", "record_id": h["script"]}],
            "attributes": {
                "tier": [{"value": "2", "source": "aspi-xjdp-markers", "record_id": "666"}],
                "notes": [{"value": h["img"] + h["script"], "source": "aspi-xjdp-markers", "record_id": "666"}],
                "link": [{"value": h["js_url"], "source": "aspi-xjdp-markers", "record_id": "666"}],
            },
            "disagreements": [{"field": h["img"], "values": [{"value": h["template"], "source": "aspi-xjdp-markers",
                                                               "record_id": "666"}], "note": h["script"]}],
            "claims": ["claim-hostile"],
            "imagery": {"links": [{"label": h["img"], "url": h["js_url"]},
                                  {"label": h["template"], "url": "https://example.org/?q=" + h["script"]}]},
        }))
    sources = copy.deepcopy(SOURCES)
    if hostile:
        sources.append({
            "slug": "hostile-source", "title": h["img"], "publisher": h["script"],
            "licence": {"name": "x", "title": h["template"], "path": h["js_url"]},
            "citation": h["quotes"] + h["rtl"], "citation_url": h["js_url"], "retrieved": h["template"],
            "files": [],
        })
    claims = [
        {"id": "claim-tekes-drill", "target": {"type": "area", "county": "Tekes", "name": "Tekes County"},
         "level": "area", "area": "Tekes County", "generated": False,
         "site_ids": [f["properties"]["site_id"] for f in features if f["properties"]["county"] == "Tekes"],
         "text": "Photographs show a drill at an internment facility in Tekes County (test fixture).",
         "status": "reported", "date": "2018-09", "category": "security",
         "citations": [{"title": "The Xinjiang Police Files", "publisher": "Victims of Communism Memorial Foundation",
                        "published": "2022-05-24", "url": "https://www.thexinjiangpolicefiles.org/"}]},
        {"id": "claim-map-1", "target": "map", "level": "map", "site_ids": [], "text": "A map-level finding (test fixture).", "status": "reported",
         "citations": [{"title": "OHCHR Assessment (test fixture)", "publisher": "OHCHR", "published": "2022-08-31",
                        "url": "https://www.ohchr.org/"}]},
    ]
    if hostile:
        claims.append({"id": "claim-hostile", "target": {"type": "site", "site_id": "aspi-666"}, "level": "site",
                       "site_ids": ["aspi-666"], "generated": True,
                       "text": h["img"] + h["script"], "status": h["template"],
                       "citations": [{"title": h["img"], "author": h["quotes"], "published": "n.d.",
                                      "url": h["js_url"], "archived_url": "javascript:alert(1)",
                                      "quote": h["script"]}]})
    return {
        "map": {"name": "test", "title": "Test map of facilities (synthetic)",
                "description": "Synthetic sites for tests.", "cite_as": "facilitymap test map (synthetic)."},
        "sources": sources,
        "fields": FIELDS,
        "sites": {"type": "FeatureCollection", "features": features},
        "claims": claims,
        "citations": [],
        "tiles": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"tile": "44SKE"}, "geometry": _square(78.0, 38.0, 0.5)}]},
        "scenes": {"aspi-1000": [
            {"id": "S2A_1", "datetime": "2019-05-03T05:00:00Z", "cloud_cover": 3.5, "collection": "sentinel-2-c1-l2a",
             "geometry": _square(75.5, 37.0, 0.4),
             "stac_url": "https://earth-search.aws.element84.com/v1/collections/sentinel-2-c1-l2a/items/S2A_1"},
            {"id": "S2A_2", "datetime": "2019-07-13T05:00:00Z", "cloud_cover": 40.0, "collection": "sentinel-2-c1-l2a",
             "stac_url": "javascript:alert(1)"},
            {"id": "S2B_3", "datetime": "2020-02-11T05:00:00Z", "cloud_cover": 0.5, "collection": "sentinel-2-c1-l2a"},
        ]},
    }
