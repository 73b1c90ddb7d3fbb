"""Time on a map: which sites exist in which year, by which source's evidence, and the dated findings.

The map spec's ``time:`` block names the rules (documented in DESIGN.md, "Time"); ``time_payload`` evaluates them
into a plain dict for the page payload key ``time``; ``site_rows`` gives one site's panel timeline (one row per
source: dated events and series, then the claims about the site or its area at their dates).

A rule says, for one source, what its values mean for a year: ``series`` (a yearly series field: the site exists
in Y when its value for Y is at least ``min``), ``seen`` (a date field: the site existed at that date),
``known_from`` (a date for every record of the source: the source lists the site as existing then) or ``from`` /
``until`` (date fields: the site exists from the first to the last). For each year the first rule, in the spec's
order, that says anything about a site decides; a year no rule speaks of is unknown, never "absent". Nothing here
knows a source: the spec names them.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from . import dates

RULE_KINDS = ("series", "seen", "known_from", "from")
RULE_KEYS = {"source", "label", "series", "min", "seen", "known_from", "from", "until"}
EVENT_KEYS = {"source", "field", "label"}
TIME_KEYS = {"years", "where", "rules", "events", "label"}
WHERE_KEYS = {"kind", "source"}


class TimeSpecError(ValueError):
    """A ``time:`` block that cannot be evaluated (the message names the key)."""


def spec_problems(time_spec: dict, sources: Iterable[str]) -> list[str]:
    """Every problem of a ``time:`` block, as ``time.<path>: problem`` texts (empty when it is usable)."""
    out: list[str] = []
    if not isinstance(time_spec, dict):
        return ["time: must be a mapping with `rules`"]
    sources = list(sources)
    out += [f"time.{k}: unknown key (known: {', '.join(sorted(TIME_KEYS))})" for k in sorted(set(time_spec) - TIME_KEYS)]
    yrs = time_spec.get("years")
    if yrs is not None and not (isinstance(yrs, list) and len(yrs) == 2 and all(isinstance(y, int) for y in yrs)
                                and yrs[0] <= yrs[1]):
        out.append("time.years: must be [first, last] (two years, first <= last)")
    where = time_spec.get("where") or {}
    out += [f"time.where.{k}: unknown key (known: kind, source)" for k in sorted(set(where) - WHERE_KEYS)]
    rules = time_spec.get("rules")
    if not isinstance(rules, list) or not rules:
        out.append("time.rules: needs a list of at least one rule")
        rules = []
    for i, r in enumerate(rules):
        at = f"time.rules[{i}]"
        if not isinstance(r, dict):
            out.append(f"{at}: a rule is a mapping with `source` and one of {', '.join(RULE_KINDS)}")
            continue
        out += [f"{at}.{k}: unknown key (known: {', '.join(sorted(RULE_KEYS))})" for k in sorted(set(r) - RULE_KEYS)]
        if r.get("source") not in sources:
            out.append(f"{at}.source: {r.get('source')!r} is not a source of the map")
        kinds = [k for k in RULE_KINDS if k in r]
        if len(kinds) != 1:
            out.append(f"{at}: needs exactly one of {', '.join(RULE_KINDS)}")
        if "until" in r and "from" not in r:
            out.append(f"{at}.until: only with `from`")
        if "known_from" in r:
            try:
                if dates.parse(str(r["known_from"])) is None:
                    out.append(f"{at}.known_from: needs a date")
            except dates.DateError as e:
                out.append(f"{at}.known_from: {e}")
    seen_sources = [r.get("source") for r in rules if isinstance(r, dict)]
    for s in sorted({s for s in seen_sources if seen_sources.count(s) > 1}, key=str):
        out.append(f"time.rules: source {s!r} has more than one rule (counts are per source)")
    for i, e in enumerate(time_spec.get("events") or []):
        at = f"time.events[{i}]"
        if not isinstance(e, dict) or "field" not in e or "source" not in e:
            out.append(f"{at}: an event is {{source, field, label}}")
            continue
        out += [f"{at}.{k}: unknown key (known: field, label, source)" for k in sorted(set(e) - EVENT_KEYS)]
        if e["source"] not in sources:
            out.append(f"{at}.source: {e['source']!r} is not a source of the map")
    return out


# --- reading sites and records ---------------------------------------------------------------------------------

def _rows(table) -> list[dict]:
    """A DataFrame or a list of dicts as a list of dicts."""
    if table is None:
        return []
    if hasattr(table, "to_dict"):
        return table.drop(columns=[c for c in ("geometry",) if c in table.columns]).to_dict("records")
    return [dict(r) for r in table]


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _series_of(attrs: dict, rule: dict) -> dict[str, Any] | None:
    """The record's yearly series for a rule: a series field, or ``{"2017": field, ...}`` of per-year fields."""
    s = rule["series"]
    if isinstance(s, dict):
        vals = {str(y): attrs.get(f) for y, f in s.items()}
        return vals if any(not _missing(v) for v in vals.values()) else None
    v = attrs.get(s)
    return v if isinstance(v, dict) else None


def _record_states(rule: dict, attrs: dict, years: list[int]) -> list[bool | None]:
    """What one record says, under one rule, about each year: True, False or None (it does not say)."""
    kind = next(k for k in RULE_KINDS if k in rule)
    if kind == "series":
        series = _series_of(attrs, rule) or {}
        lo = rule.get("min", 1)
        out = []
        for y in years:
            v = series.get(str(y))
            if isinstance(v, str):  # per-year fields of a text type: a number or nothing
                try:
                    v = float(v)
                except ValueError:
                    v = None
            if _missing(v):
                out.append(None)
            else:
                out.append(v if isinstance(v, bool) else v >= lo)  # a yes/no series: yes = exists
        return out
    if kind in ("seen", "known_from"):
        value = attrs.get(rule["seen"]) if kind == "seen" else str(rule["known_from"])
        v = _date(value)
        return [True if v is not None and dates.overlaps_year(v, y) else None for y in years]
    start, end = _date(attrs.get(rule["from"])), _date(attrs.get(rule["until"])) if "until" in rule else None
    if start is None:
        return [None] * len(years)
    out = []
    for y in years:
        if y < start.start.year or end is not None and y > end.end.year:
            out.append(False)
        else:
            out.append(True)
    return out


def _date(value):
    if _missing(value):
        return None
    try:
        return dates.parse(value)
    except dates.DateError:
        return None


def _combine(states: list[list[bool | None]], n: int) -> list[bool | None]:
    """Several records of one source in one site: True if any says True, else False if any says False."""
    out: list[bool | None] = [None] * n
    for st in states:
        for i, s in enumerate(st):
            if s is True:
                out[i] = True
            elif s is False and out[i] is None:
                out[i] = False
    return out


def _span_of(time_spec: dict, records: list[dict]) -> list[int]:
    if time_spec.get("years"):
        a, b = time_spec["years"]
        return list(range(a, b + 1))
    found: set[int] = set()
    for rule in time_spec["rules"]:
        kind = next(k for k in RULE_KINDS if k in rule)
        if kind == "known_from":
            found.update(dates.years(_date(str(rule["known_from"]))))
            continue
        for rec in records:
            if rec.get("source") != rule["source"]:
                continue
            attrs = rec.get("attrs") or {}
            if kind == "series":
                found.update(int(y) for y, v in (_series_of(attrs, rule) or {}).items() if not _missing(v))
            else:
                for f in (rule.get("seen"), rule.get("from"), rule.get("until")):
                    if f:
                        found.update(dates.years(_date(attrs.get(f))))
    return list(range(min(found), max(found) + 1)) if found else []


def _subject(site: dict, where: dict, site_sources: set[str]) -> bool:
    if "kind" in where:
        kinds = where["kind"] if isinstance(where["kind"], list) else [where["kind"]]
        if site.get("kind") not in kinds:
            return False
    if "source" in where:
        wanted = where["source"] if isinstance(where["source"], list) else [where["source"]]
        if not site_sources & set(wanted):
            return False
    return True


# --- the payload -------------------------------------------------------------------------------------------------

def time_payload(time_spec: dict, sites, records, claims: list[dict] | None = None) -> dict:
    """The page payload's ``time`` (shape in DESIGN.md, "Time"): years, rules, counts per source and year, totals
    per year, per-site existence and the dated claims as events.

    ``sites``: DataFrame or dicts with ``site_id`` and ``kind``; ``records``: with ``source``, ``record_id``,
    ``site_id`` and ``attrs``; ``claims``: resolved claims (``annotations.resolve_claims``).
    """
    problems = spec_problems(time_spec, sorted({r.get("source") for r in time_spec.get("rules") or []
                                                if isinstance(r, dict)} |
                                               {e.get("source") for e in time_spec.get("events") or []
                                                if isinstance(e, dict)}))
    if problems:
        raise TimeSpecError("; ".join(problems))
    site_rows = _rows(sites)
    recs = _rows(records)
    years = _span_of(time_spec, recs)
    n = len(years)
    rules = time_spec["rules"]
    by_site: dict[str, list[dict]] = {}
    for r in recs:
        by_site.setdefault(str(r["site_id"]), []).append(r)
    where = time_spec.get("where") or {}
    counts = {r["source"]: {str(y): 0 for y in years} for r in rules}
    totals = {str(y): {"yes": 0, "no": 0, "unknown": 0} for y in years}
    out_sites: dict[str, dict] = {}
    for site in sorted(site_rows, key=lambda s: str(s["site_id"])):
        sid = str(site["site_id"])
        members = by_site.get(sid, [])
        if not _subject(site, where, {m["source"] for m in members}):
            continue
        exists: list[bool | None] = [None] * n
        basis: list[int | None] = [None] * n
        for ri, rule in enumerate(rules):
            per_record = [_record_states(rule, m.get("attrs") or {}, years)
                          for m in members if m["source"] == rule["source"]]
            for st in per_record:  # counts: each record as its source lists it
                for i, s in enumerate(st):
                    if s is True:
                        counts[rule["source"]][str(years[i])] += 1
            for i, s in enumerate(_combine(per_record, n)):
                if exists[i] is None and s is not None:
                    exists[i], basis[i] = s, ri
        present = [years[i] for i, s in enumerate(exists) if s]
        out_sites[sid] = {"exists": exists, "basis": basis, "unknown": all(e is None for e in exists),
                          "first": present[0] if present else None, "last": present[-1] if present else None}
        for i, s in enumerate(exists):
            totals[str(years[i])]["yes" if s else "no" if s is False else "unknown"] += 1
    events, undated = claim_events(claims or [])
    return {
        "years": years,
        "label": time_spec.get("label"),
        "rules": [{"source": r["source"], "kind": next(k for k in RULE_KINDS if k in r),
                   "field": _rule_field(r), "label": r.get("label") or r["source"]} for r in rules],
        "counts": counts,
        "totals": totals,
        "sites": out_sites,
        "events": events,
        "undated_claims": undated,
    }


def _rule_field(rule: dict):
    for k in ("series", "seen", "from"):
        if k in rule:
            return rule[k] if not isinstance(rule[k], dict) else sorted(rule[k].values())
    return None


def event(value, **extra) -> dict:
    """A dated mark: canonical text, display text, first and last day, precision, plus ``extra``."""
    v = dates.parse(value) if not isinstance(value, (dates.Moment, dates.Span)) else value
    iv = dates.interval(v)
    return {"date": iv["text"], "text": v.text, "start": iv["start"], "end": iv["end"],
            "precision": iv["precision"], **extra}


def claim_events(claims: list[dict]) -> tuple[list[dict], list[str]]:
    """Dated claims as events (sorted by start, then id) and the ids of claims with no date."""
    events, undated = [], []
    for c in claims:
        when = c.get("date") or c.get("period")
        v = _date(when) if when else None
        if v is None:
            undated.append(c["id"])
            continue
        events.append(event(v, claim=c["id"], source=c.get("source"), level=c.get("level"),
                            area=c.get("area"), site_ids=list(c.get("site_ids") or []),
                            generated=bool(c.get("generated"))))
    events.sort(key=lambda e: (e["start"], e["end"], e["claim"]))
    return events, sorted(undated)


def site_rows(time_spec: dict, records, claims: list[dict] | None = None,
              source_titles: dict[str, str] | None = None) -> list[dict]:
    """One site's panel timeline: a row per source with its series and dated events, then a row of claims.

    ``records``: the site's records (``source``, ``record_id``, ``attrs``); ``claims``: resolved claims about the
    site or its area. Each row: ``{"source", "title", "series": [{"field", "label", "record_id", "values":
    {year: n}}], "events": [event + {"field", "label", "record_id"}]}``; the claims row has ``"source": null``,
    ``"claims": [event + {"claim", "level", "source", "title", ...}]``.
    """
    titles = source_titles or {}
    rows: dict[str, dict] = {}
    for rec in sorted(_rows(records), key=lambda r: (str(r["source"]), str(r["record_id"]))):
        src, attrs = rec["source"], rec.get("attrs") or {}
        row = rows.setdefault(src, {"source": src, "title": titles.get(src, src), "series": [], "events": []})
        for rule in time_spec.get("rules") or []:
            if rule.get("source") == src and "series" in rule:
                s = _series_of(attrs, rule)
                if s:
                    row["series"].append({"field": _rule_field(rule), "label": rule.get("label") or src,
                                          "record_id": str(rec["record_id"]),
                                          "values": {str(k): (None if _missing(v) else v) for k, v in sorted(s.items())}})
        for ev in time_spec.get("events") or []:
            if ev["source"] != src:
                continue
            raw = attrs.get(ev["field"])
            if isinstance(raw, dict):  # a series field (e.g. yes/no per year) is drawn as bars
                row["series"].append({"field": ev["field"], "label": ev.get("label") or ev["field"],
                                      "record_id": str(rec["record_id"]), "values": dict(sorted(raw.items()))})
                continue
            v = _date(raw)
            if v is not None:
                row["events"].append(event(v, field=ev["field"], label=ev.get("label") or ev["field"],
                                           record_id=str(rec["record_id"])))
        row["events"].sort(key=lambda e: (e["start"], e["end"], e["field"]))
    out = [r for r in rows.values() if r["series"] or r["events"]]
    evs, _ = claim_events(claims or [])
    for e in evs:
        e["title"] = titles.get(e["source"], e["source"])  # the claims source, as the panel names it
    if evs:
        out.append({"source": None, "title": "Claims", "series": [], "events": [], "claims": evs})
    return out
