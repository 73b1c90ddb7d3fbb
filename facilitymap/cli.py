"""The `facilitymap` command: a click group with a few verbs.

Each verb is a thin shell over a plain function of the package, so that what the CLI does can also be done from
Python and tested without a shell.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import FacilitymapError

DEFAULT_SOURCES = Path("sources")
DEFAULT_MAPS = Path("maps")


BAD_INPUT_EXIT = 2  # exit status for bad input (a FacilitymapError); a bug exits 1 with its traceback
BUG_REPORT = ("This is a bug in facilitymap, not a problem with your files: please report it with the traceback "
              "above and the command you ran.")


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



class Group(click.Group):
    """A click group that is the one place where errors meet the user.

    Bad input (any ``FacilitymapError``) prints ``error: <message>`` and exits 2, never a traceback; any other
    exception is a bug: its traceback is printed with a line asking for a report, and the exit status is 1.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FacilitymapError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(BAD_INPUT_EXIT)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit,
                KeyboardInterrupt):
            raise
        except Exception:
            click.echo(traceback.format_exc().rstrip(), err=True)
            click.echo(BUG_REPORT, err=True)
            ctx.exit(1)


@click.group(cls=Group)
@click.version_option(__version__, prog_name="facilitymap")
def main() -> None:
    """Sourced, embeddable maps of facilities from open datasets."""
    install_signal_handlers()


@main.command()
@click.argument("map_name", required=False, metavar="[MAP]")
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
def build(map_name: str | None, sources_dir: Path, maps_dir: Path, basemap: str | None, scheduler: str | None,
          csv_raw: bool | None, limit_pairs: tuple[str, ...]) -> None:
    """Build MAP (default: the only spec in MAPS) from the snapshots in sources/ into maps/MAP/."""
    from .builder import build as run_build
    from .limits import parse_cli
    from .spec import default_map

    # bad input raises a FacilitymapError: the group prints it and exits 2
    result = run_build(map_name or default_map(maps_dir), sources_dir=sources_dir, maps_dir=maps_dir,
                       basemap=basemap, scheduler=scheduler, csv_raw=csv_raw, limits=parse_cli(limit_pairs))
    for w in result.warnings:
        click.echo(w, err=True)
    click.echo(result.summary())
    click.echo(review_line(result.report))


def review_line(report: dict) -> str:
    """One line counting the links under the review threshold (build report `matching.to_review`)."""
    review = (report.get("matching") or {}).get("to_review") or []
    linked = sum(1 for x in review if x.get("linked"))
    return (f"{len(review)} links to review: {linked} taken and {len(review) - linked} near misses not taken, "
            "under the review threshold (build-report.json, matching.to_review)")


@main.command()
@click.option("--sources", "sources_dir", type=click.Path(path_type=Path), default=DEFAULT_SOURCES,
              show_default=True)
@click.option("--maps", "maps_dir", type=click.Path(path_type=Path), default=DEFAULT_MAPS, show_default=True)
@click.option("--map", "map_name", default=None,
              help="Also check the sources' fields against this map's vocabulary, and its annotations.")
def validate(sources_dir: Path, maps_dir: Path, map_name: str | None) -> None:
    """Check descriptors, hashes, licences, field mappings and annotations."""
    from .validation import validate_all, validate_notes, validate_warnings

    for w in validate_warnings(sources_dir) + validate_notes(map_name):  # printed, never a failure
        click.echo(w)
    problems = validate_all(sources_dir, maps_dir, map_name)
    for p in problems:
        click.echo(p)
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo("all sources valid")


@main.command()
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--slug", default=None, help="Folder name of the new source (default: from the file name).")
@click.option("--sources", "sources_dir", type=click.Path(path_type=Path), default=DEFAULT_SOURCES,
              show_default=True)
@click.option("--map", "map_name", default=None,
              help="Also propose this map's declared fields; writes MAPS/MAP.yaml with this source if it is new.")
@click.option("--maps", "maps_dir", type=click.Path(path_type=Path), default=DEFAULT_MAPS, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing source folder of the same slug.")
def add(file: Path, slug: str | None, sources_dir: Path, map_name: str | None, maps_dir: Path, force: bool) -> None:
    """Copy FILE into sources/SLUG/ and write its descriptor and README, with what was detected and guessed."""
    import yaml

    from .onboard import AddError, add as run_add, write_spec

    spec = None
    spec_path = maps_dir / f"{map_name}.yaml" if map_name else None
    if spec_path is not None and spec_path.exists():
        try:
            spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            _fail(ValueError(f"{spec_path}: not valid YAML: {exc}"))
        if not isinstance(spec, dict):
            _fail(ValueError(f"{spec_path}: a map spec is a mapping of keys (name, title, sources, ...)"))
    try:
        ob = run_add(file, sources_dir=sources_dir, slug=slug, force=force, spec=spec)
    except AddError as exc:
        _fail(exc)
    click.echo(f"added {ob.folder}/")
    for line in ob.lines():
        click.echo(f"  {line}")
    for p in ob.problems:
        click.echo(f"error: {p}")
    click.echo(f"left to fill in ({len(ob.warnings)} placeholder warnings; `facilitymap validate` lists them):")
    for w in ob.warnings:
        click.echo(f"  {w}")
    if spec_path is not None and not spec_path.exists():
        click.echo(f"wrote {write_spec(maps_dir, map_name, ob.slug)}: a map with this one source")
        step = ""
    elif spec and ob.slug in (spec.get("sources") or []):
        step = ""
    else:
        step = f"add `{ob.slug}` to the sources of {spec_path or 'a map spec (maps/<map>.yaml)'}, "
    click.echo(f"next: fill in the placeholders (TODO:), check the mapping in {ob.folder}/datapackage.json, "
               f"{step}run `facilitymap validate --map {map_name or '<map>'}`, then "
               f"`facilitymap build {map_name or '<map>'}`")


@main.command()
@click.option("--sources", "sources_dir", type=click.Path(path_type=Path), default=DEFAULT_SOURCES,
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def sources(sources_dir: Path, as_json: bool) -> None:
    """List the sources with their record counts and licences."""
    from .validation import sources_table

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
@click.argument("map_name", required=False, metavar="[MAP]")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="PNG file to write.")
@click.option("--site", "site_id", default=None, help="Zoom to this site and open its panel.")
@click.option("--maps", "maps_dir", type=click.Path(path_type=Path), default=DEFAULT_MAPS, show_default=True)
@click.option("--width", default=1200, show_default=True)
@click.option("--height", default=800, show_default=True)
@click.option("--tiles/--no-tiles", default=False, show_default=True,
              help="Let the page load basemap tiles (needs the network).")
def snapshot(map_name: str, out: Path, site_id: str | None, maps_dir: Path, width: int, height: int,
             tiles: bool) -> None:
    """Write a static PNG of a built MAP (default: the only spec in MAPS) or of one site, via headless Chromium."""
    from .snapshot import snapshot as take
    from .spec import default_map

    map_name = map_name or default_map(maps_dir)  # a SpecError: the group prints it, exit 2

    map_dir = maps_dir / map_name
    if not (map_dir / "index.html").exists():
        _fail(FileNotFoundError(f"{map_dir}/index.html does not exist: run `facilitymap build {map_name}` first"))
    try:
        path = take(map_dir, out, site_id=site_id, width=width, height=height, basemap_allowed=tiles)
    except Exception as exc:  # a browser failure is reported, not dumped
        _fail(exc)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("map_name", metavar="MAP")
@click.option("--base-url", required=True, metavar="URL",
              help="Public URL of the folder the published files will be served from (https://...).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder to write (default: MAPS/MAP-published/); replaced as a whole.")
@click.option("--sources", "sources_dir", type=click.Path(path_type=Path), default=DEFAULT_SOURCES,
              show_default=True, help="Folder of source folders (used when MAP has to be built first).")
@click.option("--maps", "maps_dir", type=click.Path(path_type=Path), default=DEFAULT_MAPS, show_default=True)
def publish(map_name: str, base_url: str, out: Path | None, sources_dir: Path, maps_dir: Path) -> None:
    """Make a built MAP ready to upload: canonical URL, social card, embed snippet, print layout, data package."""
    from .builder import BuildError, build as run_build
    from .errors import SourceError
    from .publish import PublishError, page_url, publish as run_publish

    map_dir = maps_dir / map_name
    try:
        page_url(base_url)  # a bad URL is named before any build
        if not (map_dir / "index.html").exists():
            click.echo(f"{map_dir}/index.html does not exist: building {map_name} first", err=True)
            result = run_build(map_name, sources_dir=sources_dir, maps_dir=maps_dir)
            for w in result.warnings:
                click.echo(w, err=True)
        done = run_publish(map_dir, base_url, out or maps_dir / f"{map_name}-published")
    except (SourceError, BuildError, PublishError) as exc:
        _fail(exc)
    click.echo(done.summary())


@main.group()
def footprints() -> None:
    """Satellite footprints: harvest STAC scenes, read local rasters."""


from .footprints_cli import fetch, raster  # noqa: E402  (verbs live beside the group they extend)

footprints.add_command(fetch)
footprints.add_command(raster)


if __name__ == "__main__":  # pragma: no cover
    main()
