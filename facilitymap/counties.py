"""County names across scripts and spellings: ASPI's Uyghur names, BuzzFeed's pinyin, hanzi.

ASPI writes "Konasheher" where BuzzFeed writes "Shufu" and Chinese sources write 疏附县. `canonical` maps any of
them onto one county key, so that reconciliation can use county agreement as evidence and annotations can match a
county claim to sites. The aliases live in `data/county_aliases.csv`, one row per county with the basis of each.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

ALIASES_CSV = Path(__file__).parent / "data" / "county_aliases.csv"

# Which column wins when one spelling means different counties in different naming schemes: ASPI's "Korgas" is
# Huocheng County, while BuzzFeed's pinyin "Korgas" is Khorgas city (ASPI: "Korgas City").
SCHEMES = {"aspi": ("aspi", "pinyin", "other", "hanzi"), "pinyin": ("pinyin", "other", "aspi", "hanzi")}

_SUFFIXES = (" county", " city", " xian", " shi", " qu", " district")
_HANZI_SUFFIXES = ("自治县", "县", "市", "区")


def normalise(name: str | None) -> str | None:
    """Lower case, accents folded, punctuation and runs of space collapsed; None for an empty name."""
    if name is None:
        return None
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[\s\-–—_.,'’()]+", " ", text).strip()
    return text or None


@lru_cache(maxsize=1)
def table() -> tuple[dict, ...]:
    """The alias table as read from the CSV (one dict per county, in file order)."""
    with ALIASES_CSV.open(encoding="utf-8", newline="") as fh:
        return tuple(dict(row) for row in csv.DictReader(fh))


@lru_cache(maxsize=None)
def _index(scheme: str) -> dict[str, str]:
    """Normalised spelling -> county key; earlier columns of the scheme win over later ones."""
    index: dict[str, str] = {normalise(row["key"]): row["key"] for row in table()}  # keys resolve to themselves
    for column in reversed(SCHEMES[scheme]):
        for row in table():
            values = row[column].split(";") if column == "other" else [row[column]]
            for value in values:
                for form in _forms(value):
                    index[form] = row["key"]
    return index


def _forms(value: str) -> list[str]:
    """The lookup forms of one spelling: itself, and hanzi without their administrative suffix."""
    norm = normalise(value)
    if not norm:
        return []
    forms = [norm]
    for suffix in _HANZI_SUFFIXES:
        if norm.endswith(suffix) and len(norm) > len(suffix) + 1:
            forms.append(norm[: -len(suffix)])
            break
    return forms


def lookup(name: str | None, scheme: str = "aspi") -> str | None:
    """The county key of a known spelling, else None. `scheme` ("aspi" or "pinyin") settles spellings that
    two naming schemes use for different counties."""
    if name is not None and "(" in str(name):
        # "Konasheher (Shufu) County": the name outside the brackets, else the one inside
        outside = re.sub(r"\(.*?\)", " ", str(name))
        for part in [outside] + re.findall(r"\((.*?)\)", str(name)):
            key = lookup(part, scheme)
            if key:
                return key
    norm = normalise(name)
    if not norm:
        return None
    index = _index(scheme)
    if norm in index:
        return index[norm]
    for suffix in _SUFFIXES + _HANZI_SUFFIXES:
        if norm.endswith(suffix) and norm[: -len(suffix)].strip() in index:
            return index[norm[: -len(suffix)].strip()]
    return None


def canonical(name: str | None, scheme: str = "aspi") -> str | None:
    """County key for any spelling: the alias table's key when known, else the normalised name itself (so two
    unknown spellings still compare equal only when they are the same). None for an empty name."""
    return lookup(name, scheme) or normalise(name)


def entry(key: str) -> dict | None:
    """The alias-table row of a county key."""
    for row in table():
        if row["key"] == key:
            return row
    return None


def from_label(label: str | None) -> str | None:
    """The county part of a label such as BuzzFeed's "Shufu - I", "Korla 1" or "Yining City – 8"."""
    if not label or not str(label).strip():
        return None
    head = re.split(r"\s*[-–—]\s*|\s+(?=\d)|\s+(?=[IVX]+$)", str(label).strip(), maxsplit=1)[0].strip()
    return head or None
