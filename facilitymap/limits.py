"""Caps on the work one input may cause: every limit of the package, with its default, in one place.

A source folder is untrusted input. Each limit turns "never finishes" or "exhausts memory" into a clean error that
names the file (or, for a polygon, a rejected row with the reason). Defaults are far above the shipped datasets;
a map spec raises them under ``limits:`` and the command line with ``--limit NAME=VALUE``.

The limits in force are a context variable: ``with limits.applied(lim): ...`` around a build; readers call
``limits.current()``. The README's "Limits" table lists the same names and defaults (a test checks it).
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterator, Mapping

from .errors import FacilitymapError


class LimitError(FacilitymapError, ValueError):
    """A limit named or valued wrongly (on the command line or in a map spec)."""


@dataclass(frozen=True)
class Limits:
    """Defaults of every cap; each name is also the key under a spec's ``limits:`` and for ``--limit``."""

    file_bytes: int = 1_000_000_000  # a source file (checked with stat, before a byte is read)
    header_columns: int = 10_000  # columns in a CSV header
    json_depth: int = 64  # nesting of arrays/objects in a GeoJSON file (a Polygon needs 4)
    rows: int = 2_000_000  # data rows (CSV rows, GeoJSON features, OSM elements, GeoParquet rows) in one file
    polygon_vertices: int = 50_000  # vertices of one polygon; a larger one is rejected before make_valid
    raster_pixels: int = 2_000_000_000  # width × height of one raster for `footprints raster`
    yaml_aliases: int = 100  # aliases in one YAML file (specs, claims): the safe loader's cap

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def with_overrides(self, overrides: Mapping[str, object] | None, where: str = "limits") -> "Limits":
        """A copy with some limits changed; an unknown name or a value that is not a positive integer is a
        ValueError naming ``where`` (e.g. the spec file)."""
        if not overrides:
            return self
        if not isinstance(overrides, Mapping):
            raise LimitError(f"{where}: limits must be a mapping of name: number, not {type(overrides).__name__}")
        changes = {}
        for name, value in overrides.items():
            if name not in self.names():
                raise LimitError(f"{where}: unknown limit {name!r} (known: {', '.join(self.names())})")
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                try:
                    value = int(str(value).replace("_", ""))
                except ValueError:
                    value = 0
                if value < 1:
                    raise LimitError(f"{where}: limit {name} must be a positive integer")
            changes[name] = value
        return replace(self, **changes)


DEFAULTS = Limits()
_current: contextvars.ContextVar[Limits] = contextvars.ContextVar("facilitymap_limits", default=DEFAULTS)


def current() -> Limits:
    """The limits in force (the defaults unless a caller is inside ``applied``)."""
    return _current.get()


@contextlib.contextmanager
def applied(lim: Limits) -> Iterator[Limits]:
    """Use ``lim`` for everything read inside the block."""
    token = _current.set(lim)
    try:
        yield lim
    finally:
        _current.reset(token)


def parse_cli(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``("rows=5000000", ...)`` from repeated ``--limit`` options into a dict (checked by ``with_overrides``)."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise LimitError(f"--limit {pair!r}: write NAME=VALUE (names: {', '.join(Limits.names())})")
        out[name.strip()] = value.strip()
    return out


def exceeded(name: str, value: int, lim: Limits | None = None) -> str | None:
    """The problem text when ``value`` is over the limit ``name``, else None."""
    lim = lim or current()
    cap = getattr(lim, name)
    if value > cap:
        return (f"{value:,} is over the limit {name} = {cap:,} (raise it with --limit {name}=N or the map spec's "
                f"limits: {name})")
    return None


def check_file_size(path: Path, lim: Limits | None = None) -> str | None:
    """The problem text when the file at ``path`` is larger than ``file_bytes`` (stat only, nothing read)."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        return None  # a missing file is reported by whoever opens it
    problem = exceeded("file_bytes", size, lim)
    return f"file size {problem}" if problem else None
