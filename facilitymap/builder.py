"""The build: a function from source folders and a map spec to the files of ``maps/<map>/``.

``build`` loads the spec (`spec`), checks the sources it names, runs the pipeline (`pipeline`: read, reconcile,
enrich) and writes the outputs (`outputs`) into a temporary folder beside the map's folder, then swaps it in at
the end, so a failed build leaves the previous outputs exactly as they were. It reads only local files (fetching
is a separate verb).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import outputs
from .errors import BuildError
from .pipeline import MapData, assemble, match_options, place_canonical, place_label  # noqa: F401 (re-exported)
from .spec import SpecError, load_map_spec, select_sources, source_field_problems, spec_path

__all__ = ["BuildResult", "BuildError", "MapData", "assemble", "build", "page_payload", "load_map_spec",
           "select_sources", "match_options", "place_canonical", "place_label"]

PAGE_WARN_MB = 25  # a page larger than this is built, with a warning (inlined rasters and scenes grow it)


@dataclass
class BuildResult:
    map_name: str
    out_dir: Path
    report: dict
    seconds: float
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a placeholder licence: printed, not fatal

    def summary(self) -> str:
        r = self.report
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(r["sites_by_kind"].items()))
        rejected = sum(len(s["rejected"]) for s in r["sources"].values())
        return (f"built {self.out_dir}: {r['sites']} sites ({kinds}); {r['sites_multi_source']} with records from "
                f"two or more sources; {rejected} rows rejected (see build-report.json); {self.seconds:.1f} s")


# --- the build ---------------------------------------------------------------------------------------------------

def page_payload(data: MapData) -> dict:
    """The page payload of an assembled map (what `build` renders): `outputs.page_payload`."""
    return outputs.page_payload(data)


def build(map_name: str, sources_dir: Path = Path("sources"), maps_dir: Path = Path("maps"),
          basemap: str | None = None, scheduler: str | None = None, csv_raw: bool | None = None,
          limits: dict | None = None) -> BuildResult:
    """Build ``maps/<map_name>/`` from ``sources/``; on any error the previous outputs stay intact.

    `scheduler`: a Dask scheduler address ("tcp://host:8786") for the scene coverage join; None joins in memory.
    `csv_raw`: CSV text cells as the sources give them (default: the spec's `csv_raw`, else neutralised).
    `limits`: {name: value} over the spec's `limits:` over the defaults of `facilitymap.limits.Limits`.
    """
    from . import limits as limmod

    sources_dir, maps_dir = Path(sources_dir), Path(maps_dir)
    try:
        spec = load_map_spec(maps_dir, map_name)
    except SpecError as exc:
        raise BuildError(str(exc)) from None
    path = spec_path(maps_dir, map_name)
    # a wrong limit is a LimitError (a FacilitymapError) naming the spec or --limit
    lim = limmod.DEFAULTS.with_overrides(spec.get("limits"), str(path)).with_overrides(limits, "--limit")
    if csv_raw is None:
        csv_raw = spec.get("csv_raw", False)
        if not isinstance(csv_raw, bool):
            raise BuildError(f"{path}: csv_raw must be true or false")
    with limmod.applied(lim):
        return _build(map_name, spec, sources_dir, maps_dir, basemap, scheduler, csv_raw)


def _build(map_name: str, spec: dict, sources_dir: Path, maps_dir: Path, basemap: str | None,
           scheduler: str | None, csv_raw: bool) -> BuildResult:
    from .registry import load_sources, source_warnings, validate_sources

    t0 = time.perf_counter()
    try:
        # only the map's own folders are read: a broken folder the map does not use is `validate`'s to report
        selected = select_sources(load_sources(sources_dir, spec["sources"]), spec, str(spec_path(maps_dir, map_name)))
    except SpecError as exc:
        raise BuildError(str(exc)) from None
    problems = validate_sources(selected) + source_field_problems(spec, selected, spec_path(maps_dir, map_name))
    if problems:
        raise BuildError("sources failed validation:\n  " + "\n  ".join(problems))
    warnings = source_warnings(selected)
    data = assemble(spec, selected, scheduler=scheduler)

    out = maps_dir / map_name
    tmp = maps_dir / f".{map_name}.tmp-{os.getpid()}"
    try:  # from the mkdir on: an error, Ctrl-C or SIGTERM (cli.py raises it) removes the temp folder
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        report = outputs.write_outputs(data, tmp, basemap or spec.get("basemap", "default"), csv_raw=csv_raw)
        files = sorted(p.name for p in tmp.iterdir())
        with _signals_deferred():
            _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    page_mb = (out / "index.html").stat().st_size / 1e6
    if page_mb > PAGE_WARN_MB:
        warnings.append(f"{out / 'index.html'} is {page_mb:.0f} MB (over {PAGE_WARN_MB} MB): readers on phones and "
                        "slow links will wait; consider fewer local rasters, smaller web images (max_size) or a "
                        "shorter scene period")
    return BuildResult(map_name, out, report, time.perf_counter() - t0, files, warnings)


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT/SIGTERM during the two renames of the swap (an interruption between them would leave no map);
    a signal that arrived meanwhile is delivered when the block ends."""
    import signal

    sigs = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask on this platform
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _swap(new: Path, out: Path) -> None:
    """Put ``new`` in the place of ``out`` with two renames, so readers never see a half-written map."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(new, out)
    if old.exists():
        shutil.rmtree(old)
