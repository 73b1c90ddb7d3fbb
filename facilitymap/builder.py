"""The build: a function from source folders and a map spec to the files of ``maps/<map>/``.

``build`` loads the spec (`spec`), checks the sources it names, runs the pipeline (`pipeline`: read, reconcile,
enrich) and writes the outputs (`outputs`) into a temporary folder beside the map's folder, then swaps it in at
the end, so a failed build leaves the previous outputs exactly as they were. It reads only local files (fetching
is a separate verb).
"""
from __future__ import annotations

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
          basemap: str | None = None, scheduler: str | None = None) -> BuildResult:
    """Build ``maps/<map_name>/`` from ``sources/``; on any error the previous outputs stay intact.

    `scheduler`: a Dask scheduler address ("tcp://host:8786") for the scene coverage join; None joins in memory.
    """
    from .registry import load_sources, source_warnings, validate_sources

    t0 = time.perf_counter()
    sources_dir, maps_dir = Path(sources_dir), Path(maps_dir)
    try:
        spec = load_map_spec(maps_dir, map_name)
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
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        report = outputs.write_outputs(data, tmp, basemap or spec.get("basemap", "default"))
        files = sorted(p.name for p in tmp.iterdir())
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


def _swap(new: Path, out: Path) -> None:
    """Put ``new`` in the place of ``out`` with two renames, so readers never see a half-written map."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(new, out)
    if old.exists():
        shutil.rmtree(old)
