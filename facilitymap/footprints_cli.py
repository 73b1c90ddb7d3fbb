"""`facilitymap footprints fetch|raster`: the verbs that bring footprints in as new source folders.

Fetching is a separate step from building: a harvest writes a source folder (descriptor, GeoParquet, README) that a
later `build` reads offline like any other source.
"""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("bbox must be four numbers: west,south,east,north") from None
    if len(parts) != 4 or not (parts[0] < parts[2] and parts[1] < parts[3]):
        raise click.BadParameter("bbox must be west,south,east,north with west<east and south<north")
    return parts  # type: ignore[return-value]


def _slug(value: str | None) -> str | None:
    """A new source folder's name must be a slug (registry.SLUG), so it cannot name a path elsewhere."""
    from .registry import SLUG

    if value is not None and not SLUG.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not a slug: lower-case letters, digits and '-', at most 63")
    return value


@click.command()
@click.option("--bbox", default=None, help="west,south,east,north in degrees (default: the map's extent).")
@click.option("--map", "map_name", default=None,
              help="Take the bbox from this built map's sites when --bbox is not given (default: the only spec "
                   "in MAPS).")
@click.option("--maps", "maps_dir", type=click.Path(path_type=Path), default=Path("maps"), show_default=True)
@click.option("--api", default="earth-search", show_default=True,
              help="earth-search, planetary-computer, or a STAC API URL.")
@click.option("--collections", default=None, help="Comma-separated collection ids (default: the API's "
              "Sentinel-2 L2A and Landsat C2 L2).")
@click.option("--start", default="2016-01-01", show_default=True)
@click.option("--end", default=None, help="Default: today.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("sources"), show_default=True,
              help="Folder of source folders to write the new source into.")
@click.option("--slug", default=None, callback=lambda c, p, v: _slug(v), help="Name of the new source folder.")
@click.option("--page-size", default=100, show_default=True)
@click.option("--max-items", default=None, type=int)
@click.option("--no-progress", is_flag=True)
def fetch(bbox: str | None, map_name: str | None, maps_dir: Path, api: str, collections: str | None, start: str,
          end: str | None, out_dir: Path, slug: str | None, page_size: int, max_items: int | None,
          no_progress: bool) -> None:
    """Harvest scene footprints from a STAC API into a new source folder."""
    from .footprints import stac

    box = _bbox(bbox)
    if box is None:
        from .spec import SpecError, default_map

        try:
            map_name = map_name or default_map(maps_dir)
        except SpecError as exc:
            raise click.UsageError(f"{exc}, or give --bbox") from None
        box = _map_bbox(maps_dir / map_name)
    kwargs = dict(out_dir=out_dir, bbox=box, start=start, end=end or date.today().isoformat(), api=api,
                  limit=page_size, max_items=max_items, progress=not no_progress, slug=slug)
    if collections:
        kwargs["collections"] = [c.strip() for c in collections.split(",") if c.strip()]
    try:
        folder = stac.harvest(**kwargs)
    except Exception as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"wrote source {folder}")


def _map_bbox(map_dir: Path) -> tuple[float, float, float, float]:
    import json

    path = map_dir / "sites.geojson"
    if not path.exists():
        raise click.UsageError(f"no --bbox given and {path} does not exist: build the map first or pass --bbox")
    feats = json.loads(path.read_text(encoding="utf-8"))["features"]
    lons = [f["properties"]["lon"] for f in feats]
    lats = [f["properties"]["lat"] for f in feats]
    pad = 0.05
    return (min(lons) - pad, min(lats) - pad, max(lons) + pad, max(lats) + pad)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--date-pattern", default=None,
              help="strftime pattern (e.g. %Y%m%d) or regex with a (?P<date>...) group to read dates from names.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("sources"), show_default=True)
@click.option("--slug", default="local-rasters", show_default=True, callback=lambda c, p, v: _slug(v))
@click.option("--limit", "limit_pairs", multiple=True, metavar="NAME=N",
              help="Raise one limit, e.g. --limit raster_pixels=5000000000 (README, Limits).")
def raster(paths: tuple[Path, ...], date_pattern: str | None, out_dir: Path, slug: str,
           limit_pairs: tuple[str, ...]) -> None:
    """Compute valid-data footprints of local GeoTIFFs/COGs into a new source folder."""
    import warnings

    from . import limits
    from .footprints import raster as rmod

    try:
        lim = limits.DEFAULTS.with_overrides(limits.parse_cli(limit_pairs), "--limit")
        with limits.applied(lim), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", rmod.EmptyFootprintWarning)
            folder = rmod.write_raster_source(list(paths), out_dir, slug, date_pattern=date_pattern)
    except Exception as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for w in caught:
        if issubclass(w.category, rmod.EmptyFootprintWarning):
            click.echo(f"warning: {w.message}", err=True)
    click.echo(f"wrote source {folder}")
