"""Basemap modes in real headless Chromium: the context layer without tiles (against a stored screenshot), the
consent gate (no third-party request before the click) and a self-hosted PMTiles basemap (same origin only)."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import Recorder, chromium, serve
from facilitymap import render
from payload_factory import make_payload

pytestmark = pytest.mark.browser
BASELINE = Path(__file__).parent / "baselines" / "basemap-none.png"
VIEW = {"width": 1000, "height": 700}
CHANNEL_TOLERANCE = 8  # a pixel differs when one channel differs by more (anti-aliasing, font hinting)
MAX_DIFF_RATIO = 0.01  # of all pixels
LABELS = "document.querySelectorAll('.fm-ctx-label').length"


@pytest.fixture(scope="module")
def payload():
    return make_payload()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _write(folder: Path, payload: dict, basemap: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(render.render_map(payload, basemap=basemap), encoding="utf-8")
    return folder


def _diff_ratio(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a.convert("RGB"), dtype=np.int16), np.asarray(b.convert("RGB"), dtype=np.int16)
    assert x.shape == y.shape, (x.shape, y.shape)
    return float((np.abs(x - y).max(axis=2) > CHANNEL_TOLERANCE).mean())


def test_none_shows_borders_and_towns_like_the_baseline_and_makes_no_request(tmp_path, payload, browser):
    """--basemap none: land, borders and town labels drawn from the page itself, matching the stored picture."""
    folder = _write(tmp_path / "none", payload, "none")
    with serve(folder) as base:
        rec = Recorder(browser, base, **VIEW)
        page = rec.open()
        page.wait_for_load_state("networkidle")
        assert rec.requests == [base + "index.html"]
        assert not rec.page_errors and not rec.console_errors
        assert page.evaluate(LABELS) >= 5
        names = page.evaluate("Array.from(document.querySelectorAll('.fm-ctx-label')).map(e => e.textContent)")
        assert "Kashgar" in names or "Urumqi" in names, names
        # the sources panel lists the context layer's two sources with their licences
        page.click("#fm-btn-sources")
        panel = page.text_content("#fm-panel-body")
        assert "Natural Earth" in panel and "GeoNames" in panel and "CC BY 4.0" in panel.replace("Attribution 4.0", "CC BY 4.0")
        page.click("#fm-close")
        page.mouse.move(0, 0)
        shot = Image.open(io.BytesIO(page.screenshot()))
        page.evaluate("FacilityMap.context.remove()")  # the same page without the context layer, for contrast
        bare = Image.open(io.BytesIO(page.screenshot()))
        assert rec.requests == [base + "index.html"]
        rec.close()
    if os.environ.get("FM_UPDATE_BASELINE") == "1":  # after a deliberate change of the picture: review it, commit it
        BASELINE.parent.mkdir(exist_ok=True)
        shot.save(BASELINE)
    ratio = _diff_ratio(shot, Image.open(BASELINE))
    if ratio > MAX_DIFF_RATIO:
        shot.save(tmp_path / "basemap-none-actual.png")
    assert ratio <= MAX_DIFF_RATIO, f"{ratio:.2%} of pixels differ from {BASELINE} (see {tmp_path})"
    assert _diff_ratio(bare, Image.open(BASELINE)) > 20 * MAX_DIFF_RATIO  # the comparison can fail
