"""Interrupting a verb (SIGINT = Ctrl-C, SIGTERM = kill) mid-work removes its temporary folders and leaves the
previous outputs as they were. Each test starts the real CLI in a subprocess, waits until the verb's temp folder
exists (so the signal lands mid-work, not before or after), sends the signal and looks at the folder."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tiny_map import csv_bytes, write_source, write_spec
from stac_server import Fault, StacServer, make_items

REPO = Path(__file__).resolve().parent.parent
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}


def cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "facilitymap", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def interrupt_when(proc: subprocess.Popen, ready, sig: int) -> str:
    """Send `sig` as soon as `ready()` is true; the process must still be working then. Returns stderr."""
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the verb ended (code {proc.returncode}) before it was mid-work:\n{out}\n{err}")
        time.sleep(0.002)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0, out  # stopped, not finished
    return err


def tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("sig", list(SIGNALS))
def test_interrupted_build_removes_its_temp_folder_and_keeps_the_previous_map(tmp_path, sig):
    sources, maps = tmp_path / "sources", tmp_path / "maps"
    rows = [[i, f"Site {i}", 36 + (i % 1000) / 100, 75 + (i // 1000) / 10] for i in range(10_000)]
    write_source(sources, "pts", csv_bytes(["id", "name", "lat", "lon"], rows))
    write_spec(maps, "m", ["pts"])
    args = ["build", "m", "--sources", str(sources), "--maps", str(maps), "--basemap", "none"]
    first = cli(*args)
    assert first.wait(timeout=300) == 0, first.communicate()
    before = tree(maps / "m")
    err = interrupt_when(cli(*args), lambda: any(maps.glob(".m.tmp-*")), SIGNALS[sig])
    assert "Traceback" not in err, err
    assert sorted(p.name for p in maps.iterdir()) == ["m", "m.yaml"]  # no .m.tmp-PID, no .m.old-PID
    assert tree(maps / "m") == before


def _raster(path: Path, k: int) -> None:
    n = 1500
    data = (np.indices((3, n, n)).sum(axis=0) % 250 + 1).astype("uint8")
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=3, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(80 + k * 0.02, 42, 1e-5, 1e-5), nodata=0) as dst:
        dst.write(data)


@pytest.mark.parametrize("sig", list(SIGNALS))
def test_interrupted_footprints_raster_leaves_no_temp_folder(tmp_path, sig):
    raw = tmp_path / "raw"
    raw.mkdir()
    for k in range(12):
        _raster(raw / f"scene_{k:02d}.tif", k)
    out = tmp_path / "sources"
    write_source(out, "keep", csv_bytes(["id", "name", "lat", "lon"], [[1, "A", 41, 80]]))
    before = tree(out)
    proc = cli("footprints", "raster", *map(str, sorted(raw.glob("*.tif"))), "--out", str(out), "--slug", "r")
    # mid-work: the temp folder holds the first web image, more rasters are still to come
    err = interrupt_when(proc, lambda: any(out.glob(".r.*/images/*.png")), SIGNALS[sig])
    assert "Traceback" not in err, err
    assert sorted(p.name for p in out.iterdir()) == ["keep"]
    assert tree(out) == before


@pytest.mark.parametrize("sig", list(SIGNALS))
def test_interrupted_fetch_keeps_only_its_checkpoint_and_resumes(tmp_path, sig):
    items = make_items(["2020-01", "2020-02"], per_month=25)
    out = tmp_path / "sources"
    write_source(out, "keep", csv_bytes(["id", "name", "lat", "lon"], [[1, "A", 41, 80]]))
    before = tree(out)
    args = ["footprints", "fetch", "--bbox", "70,30,100,50", "--start", "2020-01-01", "--end", "2020-02-29",
            "--collections", "sentinel-2-c1-l2a,landsat-c2-l2", "--out", str(out), "--slug", "scenes",
            "--page-size", "10", "--no-progress"]
    with StacServer(items, faults=[Fault("sleep:60", page=2, window="2020-02", times={1})]) as srv:
        proc = cli(*args, "--api", srv.url)
        err = interrupt_when(proc, lambda: bool(srv.search_hits(window="2020-02", page=2)), SIGNALS[sig])
        assert "Traceback" not in err, err
        names = sorted(p.name for p in out.iterdir())
        assert names == [".scenes.partial", "keep"]  # the checkpoint stays on purpose; no temp output folder
        assert tree(out / "keep") == {k.removeprefix("keep/"): v for k, v in before.items()}
        srv.faults = []
        again = cli(*args, "--api", srv.url)
        stdout, stderr = again.communicate(timeout=120)
        assert again.returncode == 0, stderr
        assert [h.page for h in srv.search_hits(window="2020-01")] == [1, 2, 3]  # January was not asked again
    assert sorted(p.name for p in out.iterdir()) == ["keep", "scenes"]
