"""Place names across scripts and spellings: one key per place, from an alias table that is data of the map.

A map spec may declare `places:` — a CSV with one row per place (a `key` column, one column per naming scheme, and
a `basis` column saying what each alias rests on) and the naming schemes as column priority lists. `canonical`
maps any spelling onto the place key, so that reconciliation can use place agreement as evidence and annotations
can match an area claim to sites. A spelling that two schemes use for different places is settled by the scheme a
source declares (its own column first). Cells may hold several spellings separated by ";".
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path


def normalise(name) -> str | None:
    """Lower case, accents folded, punctuation and runs of space collapsed; None for an empty name."""
    if name is None:
        return None
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[\s\-‐‑‒–—―_.,'’‘()]+", " ", text).strip()
    return text or None


def head_of_label(label) -> str | None:
    """The place part of a label that ends in a number: "Shufu - I", "Korla 1", "Yining City – 8" -> the head."""
    if label is None or not str(label).strip():
        return None
    head = re.split(r"\s*[-–—]\s*|\s+(?=\d)|\s+(?=[IVX]+$)", str(label).strip(), maxsplit=1)[0].strip()
    return head or None


@dataclass
class PlaceTable:
    """An alias table: rows (dicts with `key`), naming schemes (column priority lists; the first scheme is the
    default), suffixes tried away when looking a spelling up (" county", "县" ...), and suffixes also indexed
    away in the table's own spellings ("疏附县" -> "疏附"; not " county", or "Hotan City" would become "Hotan")."""

    rows: list[dict]
    schemes: dict[str, list[str]]
    suffixes: list[str] = field(default_factory=list)
    table_suffixes: list[str] = field(default_factory=list)
    label_columns: list[str] = field(default_factory=list)
    path: str | None = None

    def __post_init__(self):
        if not self.schemes:
            columns = [c for c in (self.rows[0] if self.rows else {}) if c not in ("key", "basis")]
            self.schemes = {"default": columns}
        self._by_key = {row["key"]: row for row in self.rows}
        self._indexes: dict[str, dict[str, str]] = {}
        self._suffixes = _suffix_forms(self.suffixes)
        self._table_suffixes = _suffix_forms(self.table_suffixes)

    @classmethod
    def load(cls, path: Path, schemes: dict | None = None, suffixes: list | None = None,
             table_suffixes: list | None = None, label: list | None = None) -> "PlaceTable":
        with Path(path).open(encoding="utf-8", newline="") as fh:
            rows = [dict(r) for r in csv.DictReader(fh)]
        if rows and "key" not in rows[0]:
            raise ValueError(f"{path}: a place table needs a `key` column")
        return cls(rows, {k: list(v) for k, v in (schemes or {}).items()}, list(suffixes or []),
                   list(table_suffixes or []), list(label or []), str(path))

    @property
    def default_scheme(self) -> str:
        return next(iter(self.schemes))

    def _forms(self, value: str) -> list[str]:
        norm = normalise(value)
        if not norm:
            return []
        forms = [norm]
        for suffix in self._table_suffixes:
            if norm.endswith(suffix) and len(norm) > len(suffix) + 1:
                forms.append(norm[: -len(suffix)].strip())
                break
        return forms

    def _index(self, scheme: str) -> dict[str, str]:
        if scheme not in self._indexes:
            index = {normalise(row["key"]): row["key"] for row in self.rows}  # keys resolve to themselves
            for column in reversed(self.schemes[scheme]):
                for row in self.rows:
                    for value in (row.get(column) or "").split(";"):
                        for form in self._forms(value):
                            index[form] = row["key"]
            self._indexes[scheme] = index
        return self._indexes[scheme]

    def lookup(self, name, scheme: str | None = None) -> str | None:
        """The place key of a known spelling, else None. "A (B) County": the name outside the brackets, else
        the one inside."""
        scheme = scheme if scheme in self.schemes else self.default_scheme
        if name is not None and "(" in str(name):
            outside = re.sub(r"\(.*?\)", " ", str(name))
            for part in [outside] + re.findall(r"\((.*?)\)", str(name)):
                key = self.lookup(part, scheme)
                if key:
                    return key
        norm = normalise(name)
        if not norm:
            return None
        index = self._index(scheme)
        if norm in index:
            return index[norm]
        for suffix in self._suffixes:
            if norm.endswith(suffix) and norm[: -len(suffix)].strip() in index:
                return index[norm[: -len(suffix)].strip()]
        return None

    def canonical(self, name, scheme: str | None = None) -> str | None:
        """Place key for any spelling: the table's key when known, else the normalised name itself (two unknown
        spellings compare equal only when they are the same). None for an empty name."""
        return self.lookup(name, scheme) or normalise(name)

    def entry(self, key: str) -> dict | None:
        return self._by_key.get(key)

    def label(self, name: str) -> str:
        """A reader's name for a place: "Konasheher (Shufu) County" from the label columns and `level`."""
        row = self.entry(self.canonical(name) or "")
        if not row or not self.label_columns:
            return name
        names = [row.get(c) for c in self.label_columns if row.get(c)]
        main = names[0] if names else name
        other = next((n for n in names[1:] if n.casefold() != main.casefold()), None)
        text = f"{main} ({other})" if other else main
        level = (row.get("level") or "").casefold()
        return text + (" County" if level == "county" else " City" if level.endswith("city") else "")


def plain_canonical(name, scheme: str | None = None) -> str | None:
    """Without an alias table: the normalised name."""
    return normalise(name)


def from_spec(spec: dict, maps_dir: Path) -> PlaceTable | None:
    """The spec's `places:` table (path relative to the maps folder), or None."""
    conf = spec.get("places")
    if not conf:
        return None
    if isinstance(conf, str):
        conf = {"table": conf}
    known = {"table", "schemes", "suffixes", "table_suffixes", "label"}
    unknown = sorted(set(conf) - known)
    if unknown:
        raise ValueError(f"places: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return PlaceTable.load(Path(maps_dir) / conf["table"], conf.get("schemes"), conf.get("suffixes"),
                           conf.get("table_suffixes"), conf.get("label"))


def _suffix_forms(suffixes) -> list[str]:
    """Normalised suffixes, longest first; a leading space is kept ("hotan county" ends in " county")."""
    out = set()
    for s in suffixes or []:
        norm = normalise(s)
        if norm:
            out.add((" " if s[:1].isspace() else "") + norm)
    return sorted(out, key=lambda x: (-len(x), x))
