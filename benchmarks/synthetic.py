"""SYNTHETIC sites for the page benchmark: invented, seeded, never real data and never written to sources/.

Builds a page payload (the DESIGN.md contract) with ``n`` made-up sites shaped like the reconciled sites of the
default map: three scripts of names, ASPI-style tiers and descriptions, records from one to three invented
datasets, per-source attributes, some disagreements and some compound outlines. Every name, title and source says
"SYNTHETIC" so a page built from it cannot be mistaken for the real map. The same seed gives the same payload.
"""
from __future__ import annotations

import math
import random

SYNTHETIC = "SYNTHETIC"

# Invented datasets, in priority order. Titles say plainly that they are not real.
SOURCES = [
    {"slug": "synthetic-markers", "title": "SYNTHETIC marker dataset (benchmark only, not real data)",
     "publisher": "facilitymap benchmark (synthetic)", "layer": "sites"},
    {"slug": "synthetic-survey", "title": "SYNTHETIC survey dataset (benchmark only, not real data)",
     "publisher": "facilitymap benchmark (synthetic)", "layer": "sites"},
    {"slug": "synthetic-news", "title": "SYNTHETIC news dataset (benchmark only, not real data)",
     "publisher": "facilitymap benchmark (synthetic)", "layer": "sites"},
]

_ZH_DIGITS = "零一二三四五六七八九"
_UG_SYLLABLES = ["قا", "را", "تا", "غ", "شى", "نى", "بۇ", "لاق", "ئۇ", "يې", "مە", "سۇ"]
_EN_SYLLABLES = ["Kar", "a", "tal", "qu", "shi", "ni", "bu", "lak", "ye", "me", "su", "yar", "tog", "ko"]
_STATUSES = ["corroborated", "likely", "possible", "uncertain"]
_FEATURES = ["watchtowers", "interior fencing", "an external wall", "an internal wall", "a perimeter fence"]


def _place_name(rng: random.Random) -> tuple[str, str]:
    k = rng.randint(2, 3)
    idx = [rng.randrange(len(_EN_SYLLABLES)) for _ in range(k)]
    en = "".join(_EN_SYLLABLES[i] for i in idx).capitalize()
    ug = "".join(_UG_SYLLABLES[i % len(_UG_SYLLABLES)] for i in idx)
    return en, ug


def _zh_number(n: int) -> str:
    return "".join(_ZH_DIGITS[int(d)] for d in str(n))


def _places(rng: random.Random, n_prefectures: int = 14, counties_per: int = 7) -> list[dict]:
    """Invented prefectures and counties with a centre inside the Xinjiang bounding box."""
    places = []
    for p in range(n_prefectures):
        pref_en, _ = _place_name(rng)
        plon, plat = rng.uniform(75.5, 93.5), rng.uniform(36.5, 47.5)
        for c in range(counties_per):
            county_en, county_ug = _place_name(rng)
            places.append({
                "prefecture": f"{pref_en} (synthetic)",
                "county": f"{county_en} (synthetic)",
                "county_ug": county_ug,
                "county_zh": f"合成县{_zh_number(p * counties_per + c + 1)}",
                "lon": min(95.5, max(73.5, plon + rng.gauss(0, 1.2))),
                "lat": min(48.8, max(35.5, plat + rng.gauss(0, 0.8))),
            })
    return places


def _value(v, source: str, record_id: str) -> dict:
    return {"value": v, "source": source, "record_id": record_id}


def _site(i: int, rng: random.Random, places: list[dict]) -> dict:
    place = places[rng.randrange(len(places))]
    lon = round(min(96.0, max(73.0, place["lon"] + rng.gauss(0, 0.35))), 6)
    lat = round(min(49.0, max(35.0, place["lat"] + rng.gauss(0, 0.25))), 6)
    kind = "cultural" if rng.random() < 0.6 else "detention"  # the real map: 966 of 1487
    n_src = rng.choices([1, 2, 3], weights=[45, 35, 20])[0]
    srcs = [s["slug"] for s in SOURCES[:n_src]] if rng.random() < 0.8 else [SOURCES[2]["slug"]]
    if kind == "cultural":
        srcs = [SOURCES[0]["slug"]]
    records = [{"source": s, "record_id": f"{s.split('-')[1][:3]}-{i + 1}"} for s in srcs]
    primary = records[0]
    site_id = f"synthetic-{i + 1:06d}"
    number = rng.randint(1, 12)
    name = f"{SYNTHETIC} {place['county'].split(' ')[0]} {'Facility' if kind == 'detention' else 'Mosque'} #{number}"
    name_zh = f"{place['county_zh']}{'设施' if kind == 'detention' else '清真寺'}{_zh_number(number)}号（合成）"
    name_ug = f"{place['county_ug']} {number}-{'ئەسلىھە' if kind == 'detention' else 'مەسچىت'} (سىنتېتىك)"
    tier = rng.choice([1, 2, 3, 4]) if kind == "detention" and primary["source"] != "synthetic-news" else None
    status = rng.choice(_STATUSES) if any(r["source"] == "synthetic-news" for r in records) else None
    latest = f"20{rng.randint(17, 20)}-{rng.randint(1, 12):02d}" if primary["source"] == "synthetic-markers" else None
    feats = rng.sample(_FEATURES, rng.randint(1, 3))
    description = (f"{SYNTHETIC} text. A tier {tier or '?'} site in {place['county']}, {place['prefecture']} with "
                   f"{', '.join(feats)}. Invented for the benchmark; it describes nothing real.")

    attributes: dict[str, list[dict]] = {}

    def give(field, value, rec):
        if value is not None:
            attributes.setdefault(field, []).append(_value(value, rec["source"], rec["record_id"]))

    disagreements = []
    for j, rec in enumerate(records):
        give("name", name if j == 0 else f"{name} ({rec['source'].split('-')[1]})", rec)
        give("county", place["county"], rec)
        give("prefecture", place["prefecture"], rec)
        if rec["source"] == "synthetic-markers":
            give("tier", tier, rec)
            give("latest_imagery", latest, rec)
            give("description", description, rec)
            if kind == "cultural":
                give("damage", rng.choice(["destroyed", "significantly damaged", "slightly damaged", "undamaged"]), rec)
        elif rec["source"] == "synthetic-survey":
            other_tier = tier if tier is None or rng.random() < 0.8 else max(1, min(4, tier + rng.choice([-1, 1])))
            give("tier", other_tier, rec)
            # The survey fields ASPI's 2020 dataset gives per facility (values invented).
            for year in (2017, 2018, 2019, 2020):
                give(f"buildings_{year}", rng.randint(0, 60), rec)
            for flag in ("construction_2019", "construction_2020", "decommissioning", "desecuritisation",
                         "external_wall", "interior_fencing", "watchtowers", "recreation_changed"):
                give(flag, rng.random() < 0.5, rec)
            for dist in ("distance_county_centre_km", "distance_industrial_park_km", "distance_residential_km"):
                give(dist, round(rng.uniform(0.1, 60), 2), rec)
            give("factories_within", rng.randint(0, 4), rec)
            give("factories_adjacent", rng.randint(0, 4), rec)
            give("etnam_code", f"S_{rng.randrange(100):02d}{rng.randrange(100):02d}", rec)
            give("remark", f"{SYNTHETIC} remark: invented for the benchmark.", rec)
            give("description", description.replace("text.", "survey text."), rec)
            if other_tier != tier:
                disagreements.append({"field": "tier", "values": [_value(tier, primary["source"], primary["record_id"]),
                                                                 _value(other_tier, rec["source"], rec["record_id"])],
                                      "note": f"{SYNTHETIC}: the datasets give different tiers"})
        else:
            give("status", status, rec)
    if len(records) > 1 and rng.random() < 0.1:
        d = rng.randint(600, 4000)
        disagreements.append({"field": "location", "values": [_value([lon, lat], r["source"], r["record_id"])
                                                              for r in records[:2]],
                              "note": f"{SYNTHETIC}: coordinates {d} m apart", "distance_m": d})
    match = [{"source": r["source"], "record_id": r["record_id"], "method": rng.choice(["name", "distance"]),
              "distance_m": rng.randint(0, 900)} for r in records[1:]]

    if rng.random() < 0.03:  # a compound outline, as OSM gives for some real sites
        w, h = rng.uniform(0.002, 0.006), rng.uniform(0.002, 0.005)
        a = rng.uniform(0, math.pi)
        corners = [(-w, -h), (w, -h), (w, h), (-w, h), (-w, -h)]
        ring = [[round(lon + x * math.cos(a) - y * math.sin(a), 7), round(lat + x * math.sin(a) + y * math.cos(a), 7)]
                for x, y in corners]
        geometry = {"type": "Polygon", "coordinates": [ring]}
    else:
        geometry = {"type": "Point", "coordinates": [lon, lat]}

    utm = int((lon + 180) // 6) + 1
    props = {
        "site_id": site_id, "name": name, "name_en": name, "name_zh": name_zh, "name_ug": name_ug, "kind": kind,
        "county": place["county"], "prefecture": place["prefecture"], "lon": lon, "lat": lat,
        "tier": tier, "status": status, "latest_imagery": latest,
        "records": records, "attributes": attributes, "disagreements": disagreements, "match": match,
        "imagery": {"s2_tiles": [f"{utm}T{'ABCDEFGHJK'[rng.randrange(10)]}{'ABCDEFGHJK'[rng.randrange(10)]}"],
                    "reference_month": latest, "links": _imagery_links(lon, lat, latest)},
    }
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _imagery_links(lon: float, lat: float, latest: str | None) -> list[dict]:
    """The "search imagery here" links the real build gives every site (same function, so same weight)."""
    try:
        from facilitymap.footprints.coverage import imagery_links
    except ImportError:
        return []
    return imagery_links(lon, lat, latest)


def sites(n: int, seed: int = 20260101) -> dict:
    """A FeatureCollection of ``n`` SYNTHETIC sites (same seed, same sites)."""
    rng = random.Random(seed)
    places = _places(rng)
    return {"type": "FeatureCollection", "features": [_site(i, rng, places) for i in range(n)]}


def source_entries() -> list[dict]:
    """sources.json-like entries for the invented datasets."""
    return [{**s, "citation": f"{s['title']}. Generated by benchmarks/synthetic.py.",
             "licence": {"name": "synthetic", "title": "Synthetic benchmark data, no licence needed"},
             "retrieved": None, "upstream": None, "url": None} for s in SOURCES]


def payload(n: int, seed: int = 20260101, fields: dict | None = None) -> dict:
    """A page payload (DESIGN.md "The page payload") with ``n`` SYNTHETIC sites."""
    return {
        "map": {"name": f"synthetic-{n}", "title": f"{SYNTHETIC} benchmark map: {n:,} invented sites",
                "description": f"{SYNTHETIC} data generated by benchmarks/synthetic.py (seed {seed}) to measure the "
                               "page. None of these sites is real.",
                "cite_as": None},
        "sources": source_entries(),
        "fields": fields or {},
        "sites": sites(n, seed),
        "claims": [],
        "citations": [],
        "tiles": {"type": "FeatureCollection", "features": []},
    }
