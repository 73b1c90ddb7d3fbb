"""Citations as CSL-JSON (citations.json), so reference managers (Zotero, citeproc) can read them.

Cited works become CSL items with id "<annotation-source-slug>:<work key>"; datasets (the map's sources) become
items of type "dataset" with id "<source-slug>". Only what is known is written: no `issued` for "n.d.", no `URL`
when none is known.
"""

from __future__ import annotations

from typing import Any, Iterable

from .model import ClaimSet, WORK_KEYS, parse_date


def work_id(slug: str, key: str) -> str:
    """CSL id of a cited work: '<annotation-source-slug>:<work key>'."""
    return f"{slug}:{key}"


def inline_key(claim_id: str, n: int) -> str:
    """Work key of an inline (unregistered) citation: '<claim id>-<n>'."""
    return f"{claim_id}-{n}"


def claim_works(cs: ClaimSet, claim: dict) -> list[tuple[dict, str, dict]]:
    """(citation, work key, work) for each citation of a checked claim, in order."""
    out = []
    for n, cit in enumerate(claim.get("citations") or [], start=1):
        if "work" in cit:
            key = str(cit["work"])
            out.append((cit, key, cs.works[key]))
        else:
            out.append((cit, inline_key(claim["id"], n), {k: v for k, v in cit.items() if k in WORK_KEYS}))
    return out


def _names(author: Any) -> list[str]:
    if author is None:
        return []
    return [str(a) for a in (author if isinstance(author, list) else [author])]


def csl_name(name: str) -> dict:
    """'Zenz, Adrian' -> {'family': 'Zenz', 'given': 'Adrian'}; a name without a comma stays whole (literal)."""
    if "," in name:
        family, given = (p.strip() for p in name.split(",", 1))
        return {"family": family, "given": given}
    return {"literal": name.strip()}


def display_name(name: str) -> str:
    """'Zenz, Adrian' -> 'Adrian Zenz'."""
    if "," in name:
        family, given = (p.strip() for p in name.split(",", 1))
        return f"{given} {family}"
    return name.strip()


def reference_text(work: dict) -> str:
    """A short plain-text reference for a site panel or annotations.geojson (the page shows it as text)."""
    who = ", ".join(display_name(n) for n in _names(work.get("author"))) or str(work.get("publisher", ""))
    parts = [who, f"\u201c{work['title']}\u201d"]
    if work.get("type") == "interview":
        parts[1] += " (interview)"
    if work.get("container_title"):
        parts.append(str(work["container_title"]))
    if work.get("volume") not in (None, ""):
        parts.append(f"vol. {work['volume']}")
    if work.get("issue") not in (None, ""):
        parts.append(f"no. {work['issue']}")
    if work.get("pages") not in (None, ""):
        parts.append(f"pp. {work['pages']}")
    if work.get("author") is not None and work.get("publisher"):
        parts.append(str(work["publisher"]))
    parts.append(str(work.get("published", "n.d.")))
    if work.get("doi"):
        parts.append(f"doi:{work['doi']}")
    return ", ".join(p for p in parts if p)


def work_fields(work: dict) -> dict:
    """The work as flat display fields for the page: title, author (display names), publisher, published, ...

    Keys follow the claims file except `container-title` (CSL's name); absent fields stay absent.
    """
    out: dict[str, Any] = {"title": str(work["title"]), "published": str(work.get("published", "n.d."))}
    if work.get("author") is not None:
        out["author"] = ", ".join(display_name(n) for n in _names(work["author"]))
    for ours, theirs in (("publisher", "publisher"), ("container_title", "container-title"), ("volume", "volume"),
                         ("issue", "issue"), ("pages", "pages"), ("doi", "doi"), ("url", "url"),
                         ("archived_url", "archived_url"), ("type", "type")):
        if work.get(ours) not in (None, ""):
            out[theirs] = str(work[ours])
    return out


def work_to_csl(item_id: str, work: dict) -> dict:
    """One cited work as a CSL-JSON item."""
    item: dict[str, Any] = {"id": item_id, "type": work["type"], "title": str(work["title"])}
    if work.get("author") is not None:
        item["author"] = [csl_name(n) for n in _names(work["author"])]
    if work.get("publisher"):
        item["publisher"] = str(work["publisher"])
    parts = parse_date(work.get("published"))
    if parts is not None:
        item["issued"] = {"date-parts": [list(parts)]}
    for ours, theirs in (("container_title", "container-title"), ("volume", "volume"), ("issue", "issue"),
                         ("pages", "page"), ("doi", "DOI"), ("url", "URL")):
        if work.get(ours) not in (None, ""):
            item[theirs] = str(work[ours])
    notes = []
    if work.get("note"):
        notes.append(str(work["note"]))
    if work.get("archived_url"):
        notes.append(f"Archived copy: {work['archived_url']}")
    if notes:
        item["note"] = " ".join(notes)
    return item


# ---------------------------------------------------------------- datasets


def _first(d: dict, *keys):
    for k in keys:
        v = d.get(k)
        if v not in (None, "", [], {}):
            return v
    return None


def source_info(source: Any) -> dict:
    """slug, title, publisher, url, retrieved, layer of a registry Source, a descriptor dict or a sources.json entry."""
    if isinstance(source, dict) and "resources" not in source:  # a sources.json entry
        lic = source.get("licence") or source.get("license")
        return {
            "slug": _first(source, "slug", "name"),
            "title": _first(source, "title", "slug", "name"),
            "publisher": _first(source, "publisher"),
            "url": _first(source, "citation_url", "url", "path", "upstream"),
            "retrieved": _first(source, "retrieved"),
            "layer": _first(source, "layer"),
            "citation": _first(source, "citation", "cite_as"),
            "licence": lic if isinstance(lic, str) else None,
        }
    desc = source if isinstance(source, dict) else (getattr(source, "descriptor", None) or {})
    fm = desc.get("facilitymap") or {}
    publisher = fm.get("publisher")
    if not publisher:
        for c in desc.get("contributors") or []:
            if c.get("role") == "publisher" and c.get("title"):
                publisher = c["title"]
                break
    url = None
    for s in desc.get("sources") or []:
        if isinstance(s.get("path"), str) and s["path"].lower().startswith(("http://", "https://")):
            url = s["path"]
            break
    return {
        "slug": getattr(source, "slug", None) or desc.get("name"),
        "title": desc.get("title") or desc.get("name"),
        "publisher": publisher,
        "url": url or fm.get("upstream"),
        "retrieved": fm.get("retrieved"),
        "layer": getattr(source, "layer", None) or fm.get("layer"),
        "citation": fm.get("citation"),
        "licence": ((desc.get("licenses") or [{}])[0]).get("name"),
    }


def source_to_csl(source: Any) -> dict:
    """A dataset source as a CSL-JSON item of type 'dataset' (accessed = retrieval date; no invented issued date)."""
    info = source_info(source)
    item: dict[str, Any] = {"id": info["slug"], "type": "dataset", "title": info["title"]}
    if info["publisher"]:
        item["publisher"] = info["publisher"]
    if info["url"] and str(info["url"]).lower().startswith(("http://", "https://")):
        item["URL"] = info["url"]
    parts = parse_date(info["retrieved"])
    if parts is not None:
        item["accessed"] = {"date-parts": [list(parts)]}
    if info["citation"]:
        item["note"] = f"Preferred citation: {info['citation']}"
    return item


def citations_csl(claim_sets: Iterable[ClaimSet], sources: Iterable[Any] = ()) -> list[dict]:
    """citations.json: every work cited by the claim sets, plus one 'dataset' item per non-claims source; by id."""
    items: dict[str, dict] = {}
    for cs in claim_sets:
        for key, work in cs.works.items():
            items[work_id(cs.slug, key)] = work_to_csl(work_id(cs.slug, key), work)
        for claim in cs.claims:
            for _, key, work in claim_works(cs, claim):
                items.setdefault(work_id(cs.slug, key), work_to_csl(work_id(cs.slug, key), work))
    for src in sources:
        info = source_info(src)
        if info["layer"] == "claims" or not info["slug"]:
            continue
        items[info["slug"]] = source_to_csl(src)
    return [items[k] for k in sorted(items)]
