"""The `facilitymap` command: a click group with a few verbs.

Each verb is a thin shell over a plain function of the package, so that what the CLI does can also be done from
Python and tested without a shell.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__

DEFAULT_SOURCES = Path("sources")
DEFAULT_MAPS = Path("maps")


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(1)


class Interrupted(KeyboardInterrupt):
    """SIGTERM, raised as an exception so that every ``finally`` and ``except BaseException`` that removes a
    temporary folder runs, as it does for Ctrl-C (SIGINT is already KeyboardInterrupt)."""


def _on_sigterm(signum, frame) -> None:
    raise Interrupted(f"signal {signum}")


def install_signal_handlers() -> None:
    """SIGTERM behaves like SIGINT: the verb stops, its temp folders are removed, previous outputs stay."""
    import signal

    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (e.g. a test runner calling the CLI from a worker): leave it
        pass


@click.group()
@click.version_option(__version__, prog_name="facilitymap")
def main() -> None:
    """Sourced, embeddable maps of facilities from open datasets."""
    install_signal_handlers()


@main.command()
@click.argument("map_name", default="xinjiang", metavar="[MAP]")
@click.option("--sources", "sources_dir", type=click.Path(path_type=Path), default=DEFAULT_SOURCES,
              show_default=True, help="Folder of source folders.")
@click.option("--maps", "maps_dir", type=click.Path(path_type=Path), default=DEFAULT_MAPS, show_default=True,
              help="Folder holding MAP.yaml specs; outputs go to MAPS/MAP/.")
@click.option("--basemap", type=click.Choice(["default", "none", "osm", "satellite"]), default=None,
              help="Basemap tiles; 'none' makes a page with no network request at all.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Join scene footprints on this Dask scheduler (e.g. tcp://scheduler.example.org:8786) instead of in memory.")
@click.option("--csv-raw", is_flag=True, default=None,
              help="Write sites.csv/records.csv text as the sources give it, without neutralising cells that a "
                   "spreadsheet would run as formulas (for pipelines, not for opening in Excel).")
@click.option("--limit", "limit_pairs", multiple=True, metavar="NAME=N",
              help="Raise (or lower) one limit, e.g. --limit rows=5000000 (names and defaults: README, Limits).")
def build(map_name: str, sources_dir: Path, maps_dir: Path, basemap: str | None, scheduler: str | None,
          csv_raw: bool | None, limit_pairs: tuple[str, ...]) -> None:
    """Build MAP (default: xinjiang) from the snapshots in sources/ into maps/MAP/."""
    from .builder import BuildError, build as run_build
    from .errors import SourceError
    from .limits import parse_cli

    try:
        result = run_build(map_name, sources_dir=sources_dir, maps_dir=maps_dir, basemap=basemap,
                           scheduler=scheduler, csv_raw=csv_raw, limits=parse_cli(limit_pairs))
    except (SourceError, BuildError, ValueError) as exc:
        _fail(exc)
    for w in result.warnings:
        click.echo(w, err=True)
    click.echo(result.summary())


@main.command()
@click.option("--sources", "sources_dir", type=click.Path(path_type=Path), default=DEFAULT_SOURCES,
              show_default=True)
@click.option("--maps", "maps_dir", type=click.Path(path_type=Path), default=DEFAULT_MAPS, show_default=True)
@click.option("--map", "map_name", default=None, help="Also check the annotations of this map's sources.")
def validate(sources_dir: Path, maps_dir: Path, map_name: str | None) -> None:
    """Check descriptors, hashes, licences, field mappings and annotations."""
    from .builder import validate_all, validate_warnings

    for w in validate_warnings(sources_dir):  # printed, never a failure
        click.echo(w)
    problems = validate_all(sources_dir, maps_dir, map_name)
    for p in problems:
        click.echo(p)
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo("all sources valid")


@main.command()
@click.option("--sources", "sources_dir", type=click.Path(path_type=Path), default=DEFAULT_SOURCES,
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def sources(sources_dir: Path, as_json: bool) -> None:
    """List the sources with their record counts and licences."""
    from .builder import sources_table

    rows = sources_table(sources_dir)
    if as_json:
        import json

        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    headers = ["slug", "layer", "records", "rejected", "licence", "retrieved"]
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) if rows else len(h) for h in headers]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for r in rows:
        click.echo("  ".join(str(r[h]).ljust(w) for h, w in zip(headers, widths)))


@main.command()
@click.argument("map_name", default="xinjiang", metavar="MAP")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="PNG file to write.")
@click.option("--site", "site_id", default=None, help="Zoom to this site and open its panel.")
@click.option("--maps", "maps_dir", type=click.Path(path_type=Path), default=DEFAULT_MAPS, show_default=True)
@click.option("--width", default=1200, show_default=True)
@click.option("--height", default=800, show_default=True)
@click.option("--tiles/--no-tiles", default=False, show_default=True,
              help="Let the page load basemap tiles (needs the network).")
def snapshot(map_name: str, out: Path, site_id: str | None, maps_dir: Path, width: int, height: int,
             tiles: bool) -> None:
    """Write a static PNG of a built MAP (or of one site) through headless Chromium."""
    from .snapshot import snapshot as take

    map_dir = maps_dir / map_name
    if not (map_dir / "index.html").exists():
        _fail(FileNotFoundError(f"{map_dir}/index.html does not exist: run `facilitymap build {map_name}` first"))
    try:
        path = take(map_dir, out, site_id=site_id, width=width, height=height, basemap_allowed=tiles)
    except Exception as exc:  # a browser failure is reported, not dumped
        _fail(exc)
    click.echo(f"wrote {path}")


@main.group()
def footprints() -> None:
    """Satellite footprints: harvest STAC scenes, read local rasters."""


from .footprints_cli import fetch, raster  # noqa: E402  (verbs live beside the group they extend)

footprints.add_command(fetch)
footprints.add_command(raster)


if __name__ == "__main__":  # pragma: no cover
    main()
