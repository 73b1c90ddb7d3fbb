"""Publishers' crosswalks: a column in which one list cites the ids of another list's records.

A descriptor declares them in its `facilitymap` block: `"crosswalks": [{"column": "List B #", "source":
"<slug>", "separator": ","}]`. The build runs the matcher blind, measures it against every crosswalk whose cited
source is in the map (`measure`), then uses the cited pairs as evidence (reconcile, method `crosswalk`). A
crosswalk whose cited source is not in the map is listed as not measured; its ids stay in the records.
"""

from __future__ import annotations

import math
import re
from typing import Any

KEYS = {"column", "source", "separator"}


def check(slug: str, entries: Any) -> list[dict]:
    """The declared crosswalks of one source, checked (ValueError naming the source and the entry)."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValueError(f"{slug}: facilitymap.crosswalks must be a list of {{column, source, separator}}")
    out = []
    for n, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("column"), str) or not isinstance(e.get("source"), str):
            raise ValueError(f"{slug}: facilitymap.crosswalks[{n}] needs `column` and `source` (a slug)")
        bad = sorted(set(e) - KEYS)
        if bad:
            raise ValueError(f"{slug}: facilitymap.crosswalks[{n}]: unknown key(s) {', '.join(bad)}")
        out.append({"column": e["column"], "source": e["source"], "separator": e.get("separator") or None})
    return out


def cited_ids(value: Any, separator: str | None) -> list[str]:
    """The ids one cell cites: split on the separator, stripped, empties and spreadsheet errors dropped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    parts = str(value).split(separator) if separator else [str(value)]
    out = []
    for p in parts:
        p = p.strip()
        if p and not re.fullmatch(r"#?n/?a|#ref!|#value!|-|none|null", p, flags=re.I):
            out.append(re.sub(r"\.0$", "", p))  # "12.0" from a spreadsheet is id 12
    return out


def cited_pairs(records_by_source: dict, crosswalks: dict[str, list[dict]]) -> list[dict]:
    """One entry per declared crosswalk: {source, column, cites, measured, pairs: [(ref, ref)], unknown: [...],
    citing_records}. Refs are "<slug>:<id>"; pairs only when the cited source is in the map."""
    out = []
    for slug in sorted(crosswalks):
        if slug not in records_by_source:
            continue
        recs = records_by_source[slug]
        for cw in crosswalks[slug]:
            target = cw["source"]
            known = set(map(str, records_by_source[target]["record_id"])) if target in records_by_source else None
            pairs, unknown, citing = [], [], 0
            for rid, original in zip(recs["record_id"], recs["original"]):
                ids = cited_ids((original or {}).get(cw["column"]), cw["separator"])
                if ids:
                    citing += 1
                for cid in ids:
                    if known is None:
                        continue
                    if cid in known:
                        pairs.append((f"{slug}:{rid}", f"{target}:{cid}"))
                    else:
                        unknown.append({"record_id": str(rid), "cited": cid})
            out.append({"source": slug, "column": cw["column"], "cites": target, "measured": known is not None,
                        "citing_records": citing, "pairs": sorted(set(pairs)), "unknown": unknown})
    return out


def measure(cw: dict, site_of: dict[str, str], record_info: dict[str, dict], distance) -> dict:
    """Precision and recall of the matcher's links against one crosswalk.

    Matcher pairs: every (citing record, record of the cited source) that share a site. Publisher pairs: the
    crosswalk's. precision = agreed / matcher pairs; recall = agreed / publisher pairs;
    recall_records = citing records linked to at least one cited id / citing records. `precision_where_cited`
    counts only matcher pairs of records that cite at least one id (a record that cites nothing may simply not
    have been cross-referenced). Every disagreement lists both records and their distance."""
    src, target = cw["source"], cw["cites"]
    publisher = set(cw["pairs"])
    citing = {a for a, _ in publisher}
    members: dict[str, list[str]] = {}
    for ref, sid in site_of.items():
        members.setdefault(sid, []).append(ref)
    matcher = set()
    for ref, sid in site_of.items():
        if ref.startswith(src + ":"):
            for other in members[sid]:
                if other.startswith(target + ":") and other != ref:
                    matcher.add((ref, other))
    agreed = publisher & matcher
    cited_matcher = {p for p in matcher if p[0] in citing}

    def side(ref):
        info = dict(record_info.get(ref, {}))
        info["site_id"] = site_of.get(ref)
        return info

    disagreements = []
    for pair, who in [(p, "publisher links, matcher does not") for p in sorted(publisher - matcher)] + \
                     [(p, "matcher links, publisher does not") for p in sorted(matcher - publisher)]:
        a, b = pair
        disagreements.append({"kind": who, "records": [side(a), side(b)], "distance_m": distance(a, b)})
    return {
        "source": src, "column": cw["column"], "cites": target, "citing_records": cw["citing_records"],
        "publisher_pairs": len(publisher), "matcher_pairs": len(matcher), "agreed": len(agreed),
        "precision": _ratio(len(agreed), len(matcher)), "precision_where_cited": _ratio(len(agreed & cited_matcher),
                                                                                         len(cited_matcher)),
        "recall": _ratio(len(agreed), len(publisher)),
        # per citing record: linked to at least one of the ids it cites (a record citing two neighbouring
        # facilities can join only one of them under the one-to-one rule)
        "recall_records": _ratio(len({a for a, _ in agreed}), len(citing)),
        "cited_ids_not_found": cw["unknown"],
        "disagreements": disagreements,
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None
